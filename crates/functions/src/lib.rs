//! verbatim's SQL functions for transcripts, as DataFusion UDFs. This crate depends only on the
//! model and DataFusion, so that everything that plans or runs verbatim's SQL (a local session, a
//! cluster's scheduler and executors) can register them without the ingest pipeline.
//!
//! | function | returns |
//! |---|---|
//! | `tokenize(text)` | the lowercased words of `text` (see `verbatim_model::words`), a list |
//! | `ngrams(text, n)` | every run of `n` consecutive words of `text`, joined by single spaces, a list |
//! | `word_count(text)` | the number of words of `text`, as `tokenize` counts them |
//! | `phrase_match(text, phrase)` | whether the words of `phrase` occur consecutively in `text` (case-insensitive) |
//! | `is_stop_word(word, list)` | whether `word` is in `list`: `''` (none), `'english'`, or comma-separated words |
//! | `hms(ms)` | `HH:MM:SS` for a time in milliseconds (hours can exceed 99) |
//! | `youtube_link(video_id, ms)` | `https://www.youtube.com/watch?v=ID&t=SECONDSs`, or NULL without an id |
//! | `kwic(text, phrase, width)` | the first occurrence of `phrase` in `text` with `width` characters of context each side, aligned: `left | match | right` |
//! | `phrase_starts(text, following, phrase)` | whether `phrase` starts in `text`, running on into `following` (the next captions) if needed |
//! | `near_words(text, term, window)` | the words within `window` words of each occurrence of `term` in `text`, a list |
//! | `context_key(left, right, 'R1,R2')` | a key sorting hits by the words right (`R<n>`) or left (`L<n>`) of them |
//!
//! One module per family: [`words`] (tokens, n-grams, phrases, stop words), [`time`] (time stamps
//! and links), [`context`] (concordance and co-occurrence).

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use context::{ContextKey, ContextWord, Kwic, NearWords, PhraseStarts, context_key, context_words};
pub use time::{Hms, YoutubeLink, format_hms, youtube_link};
pub use words::{IsStopWord, MAX_NGRAM, NGrams, PhraseMatch, Tokenize, WordCount, stop_list};

/// Every verbatim function, ready to register.
pub fn all() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(Tokenize::new()),
        ScalarUDF::from(NGrams::new()),
        ScalarUDF::from(WordCount::new()),
        ScalarUDF::from(PhraseMatch::new()),
        ScalarUDF::from(IsStopWord::new()),
        ScalarUDF::from(Hms::new()),
        ScalarUDF::from(YoutubeLink::new()),
        ScalarUDF::from(Kwic::new()),
        ScalarUDF::from(NearWords::new()),
        ScalarUDF::from(PhraseStarts::new()),
        ScalarUDF::from(ContextKey::new()),
    ]
}

/// Registers every verbatim function in `ctx`.
pub fn register_all(ctx: &SessionContext) {
    for udf in all() {
        ctx.register_udf(udf);
    }
}

/// The English stop words `is_stop_word(word, 'english')` knows.
pub const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because",
    "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "don't", "down", "each",
    "few", "for", "from", "get", "got", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his",
    "how", "i", "i'm", "if", "in", "into", "is", "it", "it's", "its", "just", "kind", "know", "like", "me", "more",
    "most", "my", "no", "not", "now", "of", "off", "oh", "ok", "okay", "on", "once", "one", "only", "or", "other",
    "our", "out", "over", "really", "right", "said", "say", "so", "some", "such", "than", "that", "that's", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "um", "uh", "up",
    "very", "was", "way", "we", "we're", "well", "were", "what", "when", "where", "which", "while", "who", "why",
    "will", "with", "would", "yeah", "you", "you're", "your",
];

// ---------------------------------------------------------------------------------------------
// Argument helpers

/// Calls `f` with each row of a string column of any string type.
pub(crate) fn for_each_str(array: &ArrayRef, mut f: impl FnMut(Option<&str>)) -> Result<()> {
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().for_each(&mut f),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().for_each(&mut f),
        DataType::Utf8View => array.as_string_view().iter().for_each(&mut f),
        DataType::Null => (0..array.len()).for_each(|_| f(None)),
        other => return exec_err!("expected a string argument, got {other}"),
    }
    Ok(())
}

/// A constant string argument (`None` for NULL); arrays are refused.
pub(crate) fn constant_str<'a>(value: &'a ColumnarValue, function: &str, argument: &str) -> Result<Option<&'a str>> {
    match value {
        ColumnarValue::Scalar(scalar) => match scalar.try_as_str() {
            Some(s) => Ok(s),
            None if scalar.is_null() => Ok(None),
            None => exec_err!("{function}: {argument} must be a string"),
        },
        ColumnarValue::Array(_) => {
            exec_err!("{function}: {argument} must be a constant, not a column")
        }
    }
}

pub(crate) fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null)
}

/// Coercion for functions taking only strings: keeps string types, refuses others.
pub(crate) fn coerce_strings(name: &str, arg_types: &[DataType], count: usize) -> Result<Vec<DataType>> {
    if arg_types.len() != count {
        return plan_err!("{name} takes {count} argument(s), got {}", arg_types.len());
    }
    arg_types
        .iter()
        .map(|t| match t {
            DataType::Null => Ok(DataType::Utf8),
            t if is_string(t) => Ok(t.clone()),
            other => plan_err!("{name}: expected string arguments, got {other}"),
        })
        .collect()
}

pub(crate) fn coerce_to_int64(name: &str, t: &DataType) -> Result<DataType> {
    if t.is_integer() || t.is_null() {
        Ok(DataType::Int64)
    } else {
        plan_err!("{name}: expected an integer number of milliseconds, got {t}")
    }
}

macro_rules! udf_struct {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $name {
            signature: datafusion::logical_expr::Signature,
        }

        impl $name {
            /// The function with its signature.
            pub fn new() -> Self {
                Self {
                    signature: datafusion::logical_expr::Signature::user_defined(
                        datafusion::logical_expr::Volatility::Immutable,
                    ),
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

mod context;
mod time;
mod words;
