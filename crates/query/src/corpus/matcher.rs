//! Answers a query exactly over the words of consecutive captions of one document: the one
//! definition of a hit, used whether the captions were found through an index or by a scan.

use verbatim_model::words::{for_each_word, push_lowercase};

use super::{Expr, Term};

/// The words of consecutive captions of one document, lowercased, each with its caption.
#[derive(Debug, Default)]
pub struct Block {
    words: Vec<String>,
    /// For each word: its caption (index into the captions added) and its index in the caption.
    places: Vec<(u32, u32)>,
    /// For each word: its bytes in its caption's text.
    bytes: Vec<(u32, u32)>,
    /// Captions added (some may have no words).
    captions: u32,
}

/// An occurrence: the first and last word (indexes into the block's words, inclusive).
pub type Occurrence = (usize, usize);

impl Block {
    /// An empty block.
    pub fn new() -> Block {
        Block::default()
    }

    /// Adds the next caption's text.
    pub fn add_caption(&mut self, text: &str) {
        let caption = self.captions;
        let mut index = 0u32;
        for_each_word(text, |word| {
            let mut lowercased = String::with_capacity(word.len());
            push_lowercase(word, &mut lowercased);
            let start = (word.as_ptr() as usize - text.as_ptr() as usize) as u32;
            self.words.push(lowercased);
            self.places.push((caption, index));
            self.bytes.push((start, start + word.len() as u32));
            index += 1;
        });
        self.captions += 1;
    }

    /// Captions added.
    pub fn captions(&self) -> u32 {
        self.captions
    }

    /// The caption of word `word` and the word's index in it.
    pub fn place(&self, word: usize) -> (u32, u32) {
        self.places[word]
    }

    /// The bytes of word `word` in its caption's text.
    pub fn bytes(&self, word: usize) -> (usize, usize) {
        let (start, end) = self.bytes[word];
        (start as usize, end as usize)
    }

    /// The hits of `expr`, ascending by first word, then last word; once each.
    pub fn hits(&self, expr: &Expr) -> Vec<Occurrence> {
        match expr {
            Expr::Sequence(terms) => self.sequence(terms),
            Expr::Near { left, right, slop, ordered } => {
                let rights = self.hits(right);
                let slop = *slop as usize;
                let longest = right.length().1 as usize;
                self.hits(left)
                    .into_iter()
                    .filter(|&(first, last)| {
                        // Right sides starting after this one's last word, at most `slop` words on.
                        let from = rights.partition_point(|&(start, _)| start <= last);
                        let after = rights[from..].first().is_some_and(|&(start, _)| start - last - 1 <= slop);
                        // Right sides ending before this one's first word, at most `slop` words before.
                        let earliest = rights.partition_point(|&(start, _)| start + longest + slop < first);
                        let before = !*ordered
                            && rights[earliest..]
                                .iter()
                                .take_while(|&&(start, _)| start < first)
                                .any(|&(_, end)| end < first && first - end - 1 <= slop);
                        after || before
                    })
                    .collect()
            }
            Expr::And { left, right, window } => {
                let (lefts, rights) = (self.hits(left), self.hits(right));
                let mut kept: Vec<Occurrence> = self.within(&lefts, &rights, *window, true);
                kept.extend(self.within(&rights, &lefts, *window, true));
                sorted(kept)
            }
            Expr::Not { left, right, window } => {
                let (lefts, rights) = (self.hits(left), self.hits(right));
                self.within(&lefts, &rights, *window, false)
            }
            Expr::Or(left, right) => {
                let mut both = self.hits(left);
                both.extend(self.hits(right));
                sorted(both)
            }
        }
    }

    /// The occurrences of `sequence`.
    fn sequence(&self, terms: &[Term]) -> Vec<Occurrence> {
        let length = terms.len();
        if length == 0 || length > self.words.len() {
            return Vec::new();
        }
        (0..=self.words.len() - length)
            .filter(|&start| terms.iter().enumerate().all(|(offset, term)| term.matches(&self.words[start + offset])))
            .map(|start| (start, start + length - 1))
            .collect()
    }

    /// Those of `hits` that have (`wanted`) or do not have one of `others` starting within
    /// `window` captions of their first word's caption; an occurrence is not its own partner
    /// (`rust AND rust` takes a "rust" with another one near it).
    fn within(&self, hits: &[Occurrence], others: &[Occurrence], window: u32, wanted: bool) -> Vec<Occurrence> {
        let reach = window.saturating_sub(1);
        let mut other_captions: Vec<u32> = others.iter().map(|&(start, _)| self.places[start].0).collect();
        other_captions.sort_unstable();
        hits.iter()
            .copied()
            .filter(|&hit| {
                let caption = self.places[hit.0].0;
                let from = other_captions.partition_point(|&c| c < caption.saturating_sub(reach));
                let to = other_captions.partition_point(|&c| c <= caption.saturating_add(reach));
                let itself = usize::from(others.binary_search(&hit).is_ok());
                (to - from > itself) == wanted
            })
            .collect()
    }
}

fn sorted(mut occurrences: Vec<Occurrence>) -> Vec<Occurrence> {
    occurrences.sort_unstable();
    occurrences.dedup();
    occurrences
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::CorpusQuery;

    fn hits(captions: &[&str], query: &str) -> Vec<(u32, u32)> {
        let mut block = Block::new();
        for caption in captions {
            block.add_caption(caption);
        }
        let query = CorpusQuery::parse(query).expect("parses");
        block.hits(&query.expr).into_iter().map(|(first, _)| block.place(first)).collect()
    }

    #[test]
    fn phrases_run_across_captions_and_every_occurrence_counts() {
        let captions = ["technical debt is technical debt", "and more technical", "debt here"];
        assert_eq!(hits(&captions, "technical debt"), vec![(0, 0), (0, 3), (1, 2)]);
        assert_eq!(hits(&captions, "Debt, here"), vec![(2, 0)]);
    }

    #[test]
    fn wildcards_prefixes_and_patterns_match_one_word() {
        let captions = ["the state of the art", "the colour of memory safety", "the color theory"];
        assert_eq!(hits(&captions, "the * of"), vec![(0, 0), (1, 0)]);
        assert_eq!(hits(&captions, "memory safe*"), vec![(1, 3)]);
        assert_eq!(hits(&captions, "/colou?r/"), vec![(1, 1), (2, 1)]);
        assert_eq!(hits(&captions, "/COLOU?R/ theory"), vec![(2, 1)]);
    }

    #[test]
    fn final_sigma_and_curly_apostrophes_match_their_other_spellings() {
        let captions = ["ΟΔΟΣ και οδος", "don’t and don't", "you’re"];
        assert_eq!(hits(&captions, "οδος"), vec![(0, 0), (0, 2)]);
        assert_eq!(hits(&captions, "ΟΔΟΣ"), vec![(0, 0), (0, 2)]);
        assert_eq!(hits(&captions, "don't"), vec![(1, 0), (1, 2)]);
        assert_eq!(hits(&captions, "don’t"), vec![(1, 0), (1, 2)]);
        assert_eq!(hits(&captions, "you'*"), vec![(2, 0)]);
        assert_eq!(hits(&captions, "don'*"), vec![(1, 0), (1, 2)]);
    }

    #[test]
    fn near_counts_the_words_between() {
        // rust is 2 words after "open source" ends, and 1 word before "open" in the second.
        let captions = ["open source in rust", "rust x open source"];
        assert_eq!(hits(&captions, "\"open source\" NEAR/1 rust"), vec![(0, 0), (1, 2)]);
        assert_eq!(hits(&captions, "\"open source\" NEAR/0 rust"), Vec::<(u32, u32)>::new());
        assert_eq!(hits(&captions, "\"open source\" ORDERED/1 rust"), vec![(0, 0)]);
        assert_eq!(hits(&captions, "\"open source\" NEAR/5 rust"), vec![(0, 0), (1, 2)]);
        // Overlapping sides are not near each other.
        assert_eq!(hits(&["a b"], "\"a b\" NEAR/3 b"), Vec::<(u32, u32)>::new());
    }

    #[test]
    fn and_not_or_work_on_caption_windows() {
        let captions = ["python is fast", "rust too", "then python again", "x", "x", "rust"];
        assert_eq!(hits(&captions, "python AND rust"), Vec::<(u32, u32)>::new());
        assert_eq!(hits(&captions, "python AND/2 rust"), vec![(0, 0), (1, 0), (2, 1)]);
        assert_eq!(hits(&captions, "python NOT/2 rust"), Vec::<(u32, u32)>::new());
        assert_eq!(hits(&captions, "python NOT rust"), vec![(0, 0), (2, 1)]);
        assert_eq!(hits(&captions, "rust OR python"), vec![(0, 0), (1, 0), (2, 1), (5, 0)]);
        // An occurrence is not its own partner.
        assert_eq!(hits(&captions, "python AND python"), Vec::<(u32, u32)>::new());
        assert_eq!(hits(&captions, "python AND/3 python"), vec![(0, 0), (2, 1)]);
        assert_eq!(hits(&captions, "rust NOT/5 rust"), Vec::<(u32, u32)>::new());
        assert_eq!(hits(&captions, "rust NOT/4 rust"), vec![(1, 0), (5, 0)]);
    }
}
