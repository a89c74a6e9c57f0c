//! verbatim's SQL functions for transcripts.
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

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Array, Int64Builder, ListBuilder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;
use verbatim_model::words;

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
fn for_each_str(array: &ArrayRef, mut f: impl FnMut(Option<&str>)) -> Result<()> {
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
fn constant_str<'a>(value: &'a ColumnarValue, function: &str, argument: &str) -> Result<Option<&'a str>> {
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

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null)
}

/// Coercion for functions taking only strings: keeps string types, refuses others.
fn coerce_strings(name: &str, arg_types: &[DataType], count: usize) -> Result<Vec<DataType>> {
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

fn coerce_to_int64(name: &str, t: &DataType) -> Result<DataType> {
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
            signature: Signature,
        }

        impl $name {
            /// The function with its signature.
            pub fn new() -> Self {
                Self { signature: Signature::user_defined(Volatility::Immutable) }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------

udf_struct!(Tokenize, "`tokenize(text)`: the lowercased words of `text`.");

impl ScalarUDFImpl for Tokenize {
    fn name(&self) -> &str {
        "tokenize"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_strings(self.name(), arg_types, 1)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = args.args[0].to_array(args.number_rows)?;
        let mut lists = ListBuilder::with_capacity(StringBuilder::new(), text.len());
        let mut word = String::new();
        for_each_str(&text, |value| match value {
            Some(value) => {
                words::for_each_word(value, |w| {
                    word.clear();
                    words::push_lowercase(w, &mut word);
                    lists.values().append_value(&word);
                });
                lists.append(true);
            }
            None => lists.append(false),
        })?;
        Ok(ColumnarValue::Array(Arc::new(lists.finish())))
    }
}

udf_struct!(NGrams, "`ngrams(text, n)`: the runs of `n` consecutive words of `text`, joined by spaces.");

/// The largest `n` that `ngrams` accepts.
pub const MAX_NGRAM: i64 = 16;

impl ScalarUDFImpl for NGrams {
    fn name(&self) -> &str {
        "ngrams"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!("ngrams takes 2 arguments (text, n), got {}", arg_types.len());
        }
        let text = coerce_strings(self.name(), &arg_types[..1], 1)?.remove(0);
        if !(arg_types[1].is_integer() || arg_types[1].is_null()) {
            return plan_err!("ngrams: n must be an integer, got {}", arg_types[1]);
        }
        Ok(vec![text, DataType::Int64])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = args.args[0].to_array(args.number_rows)?;
        let n = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::Int64(Some(n))) if (1..=MAX_NGRAM).contains(n) => *n as usize,
            ColumnarValue::Scalar(ScalarValue::Int64(Some(n))) => {
                return exec_err!("ngrams: n must be between 1 and {MAX_NGRAM}, got {n}");
            }
            ColumnarValue::Scalar(_) => return exec_err!("ngrams: n must not be NULL"),
            ColumnarValue::Array(_) => return exec_err!("ngrams: n must be a constant, not a column"),
        };
        let mut lists = ListBuilder::with_capacity(StringBuilder::new(), text.len());
        let mut lowered = String::new();
        let mut ends = Vec::new();
        for_each_str(&text, |value| match value {
            Some(value) => {
                // All words lowercased into one buffer, separated by single spaces; an n-gram is a slice of it.
                lowered.clear();
                ends.clear();
                words::for_each_word(value, |w| {
                    if !lowered.is_empty() {
                        lowered.push(' ');
                    }
                    words::push_lowercase(w, &mut lowered);
                    ends.push(lowered.len());
                });
                for last in n - 1..ends.len() {
                    let start = if last + 1 == n { 0 } else { ends[last - n] + 1 };
                    lists.values().append_value(&lowered[start..ends[last]]);
                }
                lists.append(true);
            }
            None => lists.append(false),
        })?;
        Ok(ColumnarValue::Array(Arc::new(lists.finish())))
    }
}

udf_struct!(WordCount, "`word_count(text)`: the number of words of `text`.");

impl ScalarUDFImpl for WordCount {
    fn name(&self) -> &str {
        "word_count"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_strings(self.name(), arg_types, 1)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = args.args[0].to_array(args.number_rows)?;
        let mut counts = Int64Builder::with_capacity(text.len());
        for_each_str(&text, |value| counts.append_option(value.map(|v| words::count_words(v) as i64)))?;
        Ok(ColumnarValue::Array(Arc::new(counts.finish())))
    }
}

udf_struct!(PhraseMatch, "`phrase_match(text, phrase)`: whether the words of `phrase` occur consecutively in `text`.");

impl ScalarUDFImpl for PhraseMatch {
    fn name(&self) -> &str {
        "phrase_match"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_strings(self.name(), arg_types, 2)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = args.args[0].to_array(args.number_rows)?;
        let phrase = constant_str(&args.args[1], self.name(), "phrase")?;
        let mut matches = BooleanBuilder::with_capacity(text.len());
        let Some(phrase) = phrase else {
            matches.append_nulls(text.len());
            return Ok(ColumnarValue::Array(Arc::new(matches.finish())));
        };
        let matcher = PhraseMatcher::new(phrase);
        let mut lowered = String::new();
        for_each_str(&text, |value| matches.append_option(value.map(|v| matcher.matches(v, &mut lowered))))?;
        Ok(ColumnarValue::Array(Arc::new(matches.finish())))
    }
}

/// Matches a phrase's words as a consecutive run of a text's words.
struct PhraseMatcher {
    words: Vec<String>,
}

impl PhraseMatcher {
    fn new(phrase: &str) -> Self {
        PhraseMatcher { words: words::tokenize(phrase) }
    }

    fn matches(&self, text: &str, lowered: &mut String) -> bool {
        let Some(first) = self.words.first() else {
            return false;
        };
        // Cheap filter: the lowercased text must contain the first word somewhere.
        lowered.clear();
        words::push_lowercase(text, lowered);
        if !lowered.contains(first.as_str()) {
            return false;
        }
        let mut text_words = Vec::new();
        words::for_each_word(lowered, |w| text_words.push(w));
        text_words.windows(self.words.len()).any(|window| window.iter().zip(&self.words).all(|(a, b)| a == b))
    }
}

udf_struct!(IsStopWord, "`is_stop_word(word, list)`: whether `word` is in the stop list.");

impl ScalarUDFImpl for IsStopWord {
    fn name(&self) -> &str {
        "is_stop_word"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_strings(self.name(), arg_types, 2)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let word = args.args[0].to_array(args.number_rows)?;
        let list = constant_str(&args.args[1], self.name(), "list")?.unwrap_or("");
        let stop_words = stop_list(list);
        let mut result = BooleanBuilder::with_capacity(word.len());
        for_each_str(&word, |value| result.append_option(value.map(|w| stop_words.contains(w))))?;
        Ok(ColumnarValue::Array(Arc::new(result.finish())))
    }
}

/// The stop words a list specification names: `''`, `'english'`, or comma-separated words.
pub fn stop_list(spec: &str) -> HashSet<String> {
    let spec = spec.trim();
    if spec.eq_ignore_ascii_case("english") {
        return ENGLISH_STOP_WORDS.iter().map(|w| w.to_string()).collect();
    }
    spec.split(',').flat_map(words::tokenize).collect()
}

udf_struct!(Hms, "`hms(ms)`: `HH:MM:SS` for a time in milliseconds.");

impl ScalarUDFImpl for Hms {
    fn name(&self) -> &str {
        "hms"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] => Ok(vec![coerce_to_int64(self.name(), t)?]),
            _ => plan_err!("hms takes 1 argument, got {}", arg_types.len()),
        }
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ms = args.args[0].to_array(args.number_rows)?;
        let ms: &Int64Array = ms.as_primitive();
        let mut out = StringBuilder::with_capacity(ms.len(), ms.len() * 8);
        for value in ms.iter() {
            out.append_option(value.map(format_hms));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `HH:MM:SS` (truncated to the second) for a time in milliseconds.
pub fn format_hms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let seconds = ms.unsigned_abs() / 1000;
    format!("{sign}{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

udf_struct!(YoutubeLink, "`youtube_link(video_id, ms)`: a YouTube link to the video at that time.");

impl ScalarUDFImpl for YoutubeLink {
    fn name(&self) -> &str {
        "youtube_link"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [id, ms] if is_string(id) => Ok(vec![DataType::Utf8, coerce_to_int64(self.name(), ms)?]),
            [id, _] => plan_err!("youtube_link: video_id must be a string, got {id}"),
            _ => plan_err!("youtube_link takes 2 arguments, got {}", arg_types.len()),
        }
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ids = args.args[0].to_array(args.number_rows)?;
        let ms = args.args[1].to_array(args.number_rows)?;
        let ms: &Int64Array = ms.as_primitive();
        let mut out = StringBuilder::with_capacity(ids.len(), ids.len() * 48);
        let mut row = 0;
        for_each_str(&ids, |id| {
            let at = (!ms.is_null(row)).then(|| ms.value(row));
            out.append_option(id.zip(at).map(|(id, at)| youtube_link(id, at)));
            row += 1;
        })?;
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// The YouTube link to `video_id` at `ms` milliseconds (whole seconds, never negative).
pub fn youtube_link(video_id: &str, ms: i64) -> String {
    let id: String = url::form_urlencoded::byte_serialize(video_id.as_bytes()).collect();
    format!("https://www.youtube.com/watch?v={id}&t={}s", ms.max(0) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hms_formats_hours_beyond_a_day_and_truncates() {
        assert_eq!(format_hms(0), "00:00:00");
        assert_eq!(format_hms(3_599_999), "00:59:59");
        assert_eq!(format_hms(360_000_000), "100:00:00");
        assert_eq!(format_hms(-61_000), "-00:01:01");
    }

    #[test]
    fn links_use_whole_seconds_and_escape_the_id() {
        assert_eq!(youtube_link("dQw4w9WgXcQ", 43_210), "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=43s");
        assert_eq!(youtube_link("a&b", -5), "https://www.youtube.com/watch?v=a%26b&t=0s");
    }

    #[test]
    fn phrases_match_whole_consecutive_words_ignoring_case_and_punctuation() {
        let matcher = PhraseMatcher::new("Out of core");
        let mut buffer = String::new();
        assert!(matcher.matches("we go out-of-core, with Dask", &mut buffer));
        assert!(!matcher.matches("out of the core", &mut buffer));
        assert!(!matcher.matches("without of core", &mut buffer));
        assert!(!PhraseMatcher::new("  ").matches("anything", &mut buffer));
    }

    #[test]
    fn stop_lists() {
        assert!(stop_list("").is_empty());
        assert!(stop_list("English").contains("the"));
        let custom = stop_list("Foo, bar ,baz");
        assert_eq!(custom, ["foo", "bar", "baz"].iter().map(|s| s.to_string()).collect());
    }
}
