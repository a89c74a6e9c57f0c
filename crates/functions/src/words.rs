//! Word functions: `tokenize`, `ngrams`, `word_count`, `phrase_match`, `is_stop_word`.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanBuilder, Int64Builder, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature};
use verbatim_model::words;

use super::{ENGLISH_STOP_WORDS, coerce_strings, constant_str, for_each_str};

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
pub(crate) struct PhraseMatcher {
    words: Vec<String>,
    /// The phrase's longest word (usually its rarest), searched for first.
    longest: Option<memchr::memmem::Finder<'static>>,
}

impl PhraseMatcher {
    pub(crate) fn new(phrase: &str) -> Self {
        let words = words::tokenize(phrase);
        let longest =
            words.iter().max_by_key(|w| w.len()).map(|w| memchr::memmem::Finder::new(w.as_bytes()).into_owned());
        PhraseMatcher { words, longest }
    }

    fn matches(&self, text: &str, lowered: &mut String) -> bool {
        let Some(longest) = &self.longest else {
            return false;
        };
        // Cheap filter: the lowercased text must contain the longest word somewhere (nearly all
        // captions do not, and then are not split into words).
        lowered.clear();
        words::push_lowercase(text, lowered);
        if longest.find(lowered.as_bytes()).is_none() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_whole_consecutive_words_ignoring_case_and_punctuation() {
        let matcher = PhraseMatcher::new("Out of core");
        let mut buffer = String::new();
        assert!(matcher.matches("we go out-of-core, with Dask", &mut buffer));
        assert!(!matcher.matches("out of the core", &mut buffer));
        assert!(!matcher.matches("without of core", &mut buffer));
        assert!(!PhraseMatcher::new("  ").matches("anything", &mut buffer));
        // The longest word is looked for first, in any case; finding it is not enough.
        assert!(matcher.matches("WE GO OUT OF CORE", &mut buffer));
        assert!(!matcher.matches("core of it, out of", &mut buffer));
        assert!(!matcher.matches("out of corenode", &mut buffer));
    }

    #[test]
    fn stop_lists() {
        assert!(stop_list("").is_empty());
        assert!(stop_list("English").contains("the"));
        let custom = stop_list("Foo, bar ,baz");
        assert_eq!(custom, ["foo", "bar", "baz"].iter().map(|s| s.to_string()).collect());
    }
}
