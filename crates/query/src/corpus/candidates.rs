//! Where in a chunk the hits of a query may start, from its phrase index: a superset of where
//! they do, which the matcher then confirms on the text.

use std::collections::HashMap;

use verbatim_archive::ArchiveError;
use verbatim_archive::phrase_index::{ChunkIndex, aligned_starts};

use super::{Expr, Term, spellings};

/// The most words a prefix or pattern word expands to in one chunk before the chunk is scanned
/// instead.
const MAX_EXPANSION: usize = 20_000;

/// The positions of the chunk of `index` where a hit of `expr` may start, ascending; `None` when
/// the index cannot narrow them down (a sequence of `*`, of prefixes and patterns that the
/// index's vocabulary cannot expand, and of the commonest words, whose positions it does not
/// record).
pub async fn candidate_starts(expr: &Expr, index: &ChunkIndex) -> Result<Option<Vec<u64>>, ArchiveError> {
    let mut terms = Vec::new();
    terms_of(expr, &mut terms);
    // Words stand for their spellings; prefix and pattern words expand to the chunk's words they
    // take.
    let mut expansions: HashMap<String, Option<Vec<String>>> = HashMap::new();
    for term in &terms {
        let expanded = match term {
            Term::Word(word) => Some(spellings(word)),
            // A prefix without letters that fold (σ, ') is a prefix of the words' own bytes.
            Term::Prefix(prefix) if !prefix.contains(['σ', '\'']) => index.words_where(prefix, |_| true).await?,
            Term::Prefix(_) | Term::Pattern(..) => index.words_where("", |word| term.matches(word)).await?,
            Term::Any => continue,
        };
        expansions.insert(key_of(term), expanded.filter(|words| words.len() <= MAX_EXPANSION));
    }
    let mut words: Vec<String> = expansions.values().flatten().flatten().cloned().collect();
    words.sort_unstable();
    words.dedup();
    let lists = index.candidates(&words).await?;
    // `None`: a word the index does not record the positions of (one of the chunk's commonest).
    let postings: HashMap<&str, Option<&[u64]>> =
        words.iter().map(String::as_str).zip(lists.iter().map(Option::as_deref)).collect();
    let expanded: HashMap<&str, Vec<u64>> = expansions
        .iter()
        .filter_map(|(key, words)| {
            let words = words.as_ref()?;
            let mut union: Vec<u64> = Vec::new();
            for word in words {
                match postings.get(word.as_str()) {
                    Some(Some(list)) => union.extend(*list),
                    // A term with an unrecorded spelling may be anywhere, like `*`.
                    Some(None) => return None,
                    None => {}
                }
            }
            union.sort_unstable();
            union.dedup();
            Some((key.as_str(), union))
        })
        .collect();
    Ok(starts_of(expr, &|term: &Term| match term {
        Term::Any => None,
        _ => expanded.get(key_of(term).as_str()).map(Vec::as_slice),
    }))
}

/// The terms of `expr`'s sequences.
fn terms_of<'e>(expr: &'e Expr, out: &mut Vec<&'e Term>) {
    match expr {
        Expr::Sequence(terms) => out.extend(terms),
        Expr::Near { left, right, .. }
        | Expr::And { left, right, .. }
        | Expr::Not { left, right, .. }
        | Expr::Or(left, right) => {
            terms_of(left, out);
            terms_of(right, out);
        }
    }
}

/// A name for a prefix or pattern term, to find its expansion by.
fn key_of(term: &Term) -> String {
    match term {
        Term::Word(word) => format!("w:{word}"),
        Term::Prefix(prefix) => format!("p:{prefix}"),
        Term::Pattern(_, pattern) => format!("r:{pattern}"),
        Term::Any => "*".to_string(),
    }
}

/// [`candidate_starts`], given where each term may be (`None`: anywhere).
fn starts_of<'a>(expr: &Expr, postings: &impl Fn(&Term) -> Option<&'a [u64]>) -> Option<Vec<u64>> {
    match expr {
        Expr::Sequence(terms) => {
            let known: Vec<(u64, &[u64])> = terms
                .iter()
                .enumerate()
                .filter_map(|(offset, term)| postings(term).map(|list| (offset as u64, list)))
                .collect();
            (!known.is_empty()).then(|| aligned_starts(&known))
        }
        Expr::Near { left, right, slop, .. } => {
            let rights = starts_of(right, postings);
            if rights.as_ref().is_some_and(Vec::is_empty) {
                return Some(Vec::new());
            }
            let lefts = starts_of(left, postings)?;
            let Some(rights) = rights else { return Some(lefts) };
            let (before, after) = (u64::from(*slop) + right.length().1, left.length().1 + u64::from(*slop));
            Some(
                lefts
                    .into_iter()
                    .filter(|&start| {
                        let from = rights.partition_point(|&right| right < start.saturating_sub(before));
                        rights.get(from).is_some_and(|&right| right <= start + after)
                    })
                    .collect(),
            )
        }
        Expr::And { left, right, .. } => {
            let (lefts, rights) = (starts_of(left, postings), starts_of(right, postings));
            if lefts.as_ref().is_some_and(Vec::is_empty) || rights.as_ref().is_some_and(Vec::is_empty) {
                return Some(Vec::new());
            }
            Some(union(lefts?, rights?))
        }
        Expr::Not { left, .. } => starts_of(left, postings),
        Expr::Or(left, right) => Some(union(starts_of(left, postings)?, starts_of(right, postings)?)),
    }
}

fn union(mut a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
    a.extend(b);
    a.sort_unstable();
    a.dedup();
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::CorpusQuery;

    fn starts(query: &str, words: &[(&str, &[u64])]) -> Option<Vec<u64>> {
        let query = CorpusQuery::parse(query).unwrap();
        let postings: HashMap<&str, &[u64]> = words.iter().copied().collect();
        starts_of(&query.expr, &|term: &Term| match term {
            Term::Word(word) => Some(postings.get(word.as_str()).copied().unwrap_or_default()),
            _ => None,
        })
    }

    #[test]
    fn sequences_align_their_exact_words_and_skip_wildcards() {
        let words: &[(&str, &[u64])] = &[("the", &[0, 4, 9]), ("of", &[2, 6, 20])];
        assert_eq!(starts("the * of", words), Some(vec![0, 4]));
        assert_eq!(starts("the", words), Some(vec![0, 4, 9]));
        assert_eq!(starts("* of", words), Some(vec![1, 5, 19]));
        assert_eq!(starts("/th.*/ *", words), None);
        assert_eq!(starts("missing the", words), Some(vec![]));
    }

    #[test]
    fn operators_combine_candidates() {
        let words: &[(&str, &[u64])] = &[("a", &[0, 100]), ("b", &[4]), ("c", &[])];
        assert_eq!(starts("a NEAR/3 b", words), Some(vec![0]));
        assert_eq!(starts("a NEAR/3 th*", words), Some(vec![0, 100]));
        assert_eq!(starts("th* NEAR/3 a", words), None);
        assert_eq!(starts("th* NEAR/3 c", words), Some(vec![]), "no right side: no hits, whatever the left");
        assert_eq!(starts("a OR b", words), Some(vec![0, 4, 100]));
        assert_eq!(starts("a AND c", words), Some(vec![]));
        assert_eq!(starts("a AND th*", words), None);
        assert_eq!(starts("a NOT b", words), Some(vec![0, 100]));
    }
}
