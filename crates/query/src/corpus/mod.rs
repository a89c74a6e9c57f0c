//! The corpus query language: what `search(...)`, `search_hits(...)` and the `search` saved query
//! take, parsed once into a [`CorpusQuery`] and answered from the phrase indexes.
//!
//! ```text
//! open source                  the exact phrase (words as tokenize splits them, across captions)
//! "open source" NEAR/5 rust    the left side with the right one within 5 words, either side
//! "open source" ORDERED/5 rust the same, the right side after the left one
//! memory safe*                 a word starting with "safe"
//! the * of                     exactly one word of any kind between "the" and "of"
//! /colou?r/ theory             a word the regular expression matches whole (case ignored)
//! a OR b                       hits of either
//! a AND b    a AND/3 b         hits of each where the other occurs within the same caption
//!                              (or within 3 captions: the caption and the 2 after or before it)
//! a NOT b    a AND NOT/3 b     hits of a without b in the same caption (within 3 captions)
//! ( … )                        grouping
//! speaker:"Bryan" channel:Oxide lang:en after:2024-01-01 before:2025-01-01
//!                              filters on the hit's caption and its document
//! ```
//!
//! Operators are written in capitals (`or`, `and`, `not`, `near` are words); NEAR and ORDERED bind
//! tighter than AND and NOT, which bind tighter than OR. The distance of NEAR/n and ORDERED/n is
//! the number of words strictly between the two sides (NEAR/0: next to each other). One hit is
//! one occurrence: of the phrase; of the left side of NEAR and ORDERED (the right side is its
//! context); of either side of AND; of the left side of NOT.
//!
//! [`matcher`] answers a query exactly over the words of consecutive captions; the phrase
//! indexes only narrow down where to look (see `search`), so a chunk with an index and one
//! without give the same hits.

pub mod candidates;
pub mod matcher;
pub mod measures;
mod parse;

pub use parse::ParseError;

use std::borrow::Cow;

use regex::Regex;

/// `word` (lowercased) with the spellings that lowercasing leaves apart made one: the final sigma
/// `ς` as `σ` (an uppercase `Σ` lowercases to `σ` wherever it stands) and the curly apostrophe `’`
/// as `'`. Query words and caption words are compared folded.
pub fn fold(word: &str) -> Cow<'_, str> {
    if word.contains(['ς', '’']) {
        Cow::Owned(word.replace('ς', "σ").replace('’', "'"))
    } else {
        Cow::Borrowed(word)
    }
}

/// The spellings a caption may use for the folded word `word`: each `σ` as `σ` or `ς`, each `'`
/// as `'` or `’` (at most 16 spellings; `word` itself first).
pub fn spellings(word: &str) -> Vec<String> {
    let mut spellings = vec![String::new()];
    for c in word.chars() {
        let alternative = match c {
            'σ' => Some('ς'),
            '\'' => Some('’'),
            _ => None,
        };
        let grown: Vec<String> = match alternative {
            Some(other) if spellings.len() < 16 => {
                spellings.iter().flat_map(|s| [format!("{s}{c}"), format!("{s}{other}")]).collect()
            }
            _ => spellings.iter().map(|s| format!("{s}{c}")).collect(),
        };
        spellings = grown;
    }
    spellings
}

/// One word of a sequence.
#[derive(Debug, Clone)]
pub enum Term {
    /// This word (lowercased, as `tokenize` gives it, and [`fold`]ed).
    Word(String),
    /// A word starting with this (lowercased and folded).
    Prefix(String),
    /// Any one word.
    Any,
    /// A word the expression matches whole (case ignored); the text as written.
    Pattern(Regex, String),
}

impl Term {
    /// Whether `word` (lowercased) is one this term takes.
    pub fn matches(&self, word: &str) -> bool {
        match self {
            Term::Word(expected) => fold(word) == expected.as_str(),
            Term::Prefix(prefix) => fold(word).starts_with(prefix.as_str()),
            Term::Any => true,
            Term::Pattern(regex, _) => regex.is_match(word) || regex.is_match(&fold(word)),
        }
    }
}

/// A query without its filters.
#[derive(Debug, Clone)]
pub enum Expr {
    /// Consecutive words.
    Sequence(Vec<Term>),
    /// `left NEAR/slop right` (`ordered`: ORDERED/slop): hits of `left`.
    Near {
        /// Whose hits are kept.
        left: Box<Expr>,
        /// What must be near them.
        right: Box<Expr>,
        /// The most words between the two.
        slop: u32,
        /// Whether `right` must come after `left`.
        ordered: bool,
    },
    /// `left AND/window right`: hits of either with the other within `window` captions.
    And {
        /// One side.
        left: Box<Expr>,
        /// The other side.
        right: Box<Expr>,
        /// Captions counted, the hit's own included (1: the same caption).
        window: u32,
    },
    /// `left NOT/window right`: hits of `left` without `right` within `window` captions.
    Not {
        /// Whose hits are kept.
        left: Box<Expr>,
        /// What must not be near them.
        right: Box<Expr>,
        /// Captions counted, the hit's own included.
        window: u32,
    },
    /// `left OR right`: hits of either.
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// The fewest and the most words a hit of this spans.
    pub fn length(&self) -> (u64, u64) {
        match self {
            Expr::Sequence(terms) => (terms.len() as u64, terms.len() as u64),
            Expr::Near { left, .. } | Expr::Not { left, .. } => left.length(),
            Expr::And { left, right, .. } | Expr::Or(left, right) => {
                let ((a, b), (c, d)) = (left.length(), right.length());
                (a.min(c), b.max(d))
            }
        }
    }

    /// Whether the query has AND or NOT: a side of one may start anywhere in the window's
    /// captions and run on past its last caption, however far from the hit's first word.
    pub fn has_windows(&self) -> bool {
        match self {
            Expr::Sequence(_) => false,
            Expr::And { .. } | Expr::Not { .. } => true,
            Expr::Near { left, right, .. } | Expr::Or(left, right) => left.has_windows() || right.has_windows(),
        }
    }

    /// How far from a hit's first word the words that decide it may lie: `(words, captions)`.
    /// Every word within `words` words of the hit's first word, and, when the query has caption
    /// windows ([`Expr::has_windows`]), every caption within `captions` captions of the hit's
    /// and `words` words beyond those, is enough to tell whether it is a hit.
    pub fn reach(&self) -> (u64, u64) {
        match self {
            Expr::Sequence(terms) => (terms.len() as u64, 0),
            Expr::Near { left, right, slop, .. } => {
                let ((left_words, left_rows), (right_words, right_rows)) = (left.reach(), right.reach());
                (
                    left_words + left.length().1 + u64::from(*slop) + right.length().1 + right_words,
                    left_rows + right_rows,
                )
            }
            Expr::And { left, right, window } | Expr::Not { left, right, window } => {
                let ((left_words, left_rows), (right_words, right_rows)) = (left.reach(), right.reach());
                (left_words + right_words, left_rows + right_rows + u64::from(*window) - 1)
            }
            Expr::Or(left, right) => {
                let ((a, b), (c, d)) = (left.reach(), right.reach());
                (a.max(c), b.max(d))
            }
        }
    }
}

/// Conditions on a hit's caption and its document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// The caption's speaker (case ignored).
    pub speaker: Option<String>,
    /// The document's channel (case ignored).
    pub channel: Option<String>,
    /// The document's language code (case ignored; `en` also takes `en-GB`).
    pub language: Option<String>,
    /// The document was published on or after this day (`YYYY-MM-DD`).
    pub after: Option<String>,
    /// The document was published before this day (`YYYY-MM-DD`).
    pub before: Option<String>,
}

impl Filters {
    /// Parses filters written as in a query (`channel:Oxide after:2024-01-01`); an empty text
    /// has none.
    pub fn parse(text: &str) -> Result<Filters, ParseError> {
        parse::parse_filters(text)
    }

    /// Whether there are no filters.
    pub fn is_empty(&self) -> bool {
        *self == Filters::default()
    }

    /// Whether any filter concerns the document rather than the caption.
    pub fn on_documents(&self) -> bool {
        self.channel.is_some() || self.language.is_some() || self.after.is_some() || self.before.is_some()
    }

    /// Whether a document of this channel, language and publication date (`published_at`, an
    /// ISO 8601 date or time) is one the filters take. A filtered field the document lacks fails.
    pub fn takes_document(&self, channel: Option<&str>, language: Option<&str>, published: Option<&str>) -> bool {
        let same = |wanted: &Option<String>, value: Option<&str>| {
            wanted.as_ref().is_none_or(|w| value.is_some_and(|v| same_text(v, w)))
        };
        // Language tags: case ignored, `-` and `_` alike, `en` also takes `en-GB`.
        let tag = |code: &str| code.to_lowercase().replace('_', "-");
        let language_ok = self.language.as_ref().is_none_or(|wanted| {
            let wanted = tag(wanted);
            language.is_some_and(|code| {
                let code = tag(code);
                code == wanted || code.strip_prefix(wanted.as_str()).is_some_and(|rest| rest.starts_with('-'))
            })
        });
        let day = published.and_then(|p| p.get(..10));
        let after_ok = self.after.as_ref().is_none_or(|after| day.is_some_and(|d| d >= after.as_str()));
        let before_ok = self.before.as_ref().is_none_or(|before| day.is_some_and(|d| d < before.as_str()));
        same(&self.channel, channel) && language_ok && after_ok && before_ok
    }

    /// Whether a caption of this speaker is one the filters take.
    pub fn takes_speaker(&self, speaker: Option<&str>) -> bool {
        self.speaker.as_ref().is_none_or(|wanted| speaker.is_some_and(|s| same_text(s, wanted)))
    }
}

/// Whether two texts are the same but for case (in any script).
fn same_text(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

/// A parsed corpus query.
#[derive(Debug, Clone)]
pub struct CorpusQuery {
    /// The text as given.
    pub text: String,
    /// What to find.
    pub expr: Expr,
    /// Where to find it.
    pub filters: Filters,
}

impl CorpusQuery {
    /// Parses `text`; errors say at which character (column) and why.
    pub fn parse(text: &str) -> Result<CorpusQuery, ParseError> {
        let (expr, filters) = parse::parse(text)?;
        Ok(CorpusQuery { text: text.to_string(), expr, filters })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_ignore_case_in_every_script_and_language_tags_take_either_separator() {
        let filters = Filters::parse("speaker:émile channel:\"çà ça\" lang:en-US").unwrap();
        assert!(filters.takes_speaker(Some("ÉMILE")) && !filters.takes_speaker(Some("Emile")));
        assert!(filters.takes_document(Some("Çà Ça"), Some("en_us"), None));
        assert!(filters.takes_document(Some("çà ça"), Some("EN-us"), None));
        assert!(!filters.takes_document(Some("çà ça"), Some("en"), None));
        let english = Filters::parse("lang:en").unwrap();
        assert!(english.takes_document(None, Some("en_GB"), None) && !english.takes_document(None, Some("eng"), None));
    }

    #[test]
    fn spellings_cover_final_sigma_and_apostrophes() {
        assert_eq!(fold("οδος don’t"), "οδοσ don't");
        assert_eq!(spellings("οδοσ"), ["οδοσ", "οδος"]);
        assert_eq!(spellings("don't"), ["don't", "don’t"]);
        assert_eq!(spellings("rust"), ["rust"]);
        assert_eq!(spellings(&"σ".repeat(10)).len(), 16);
    }
}
