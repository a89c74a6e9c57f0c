//! Context functions: `kwic` (a phrase in its context, aligned, for concordances),
//! `near_words` (the words around a term, for co-occurrence counts) and `phrase_starts` (a phrase
//! that starts in a caption and may run on into the following ones).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature};
use verbatim_model::words;

use super::{coerce_strings, coerce_to_int64, constant_str, for_each_str, is_string};

/// The widest context `kwic` and `near_words` accept.
const MAX_CONTEXT: i64 = 1000;

/// The words of `text` with their byte ranges, lowercased for comparison.
fn words_with_offsets(text: &str) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    words::for_each_word(text, |word| {
        let start = word.as_ptr() as usize - text.as_ptr() as usize;
        let mut lowered = String::with_capacity(word.len());
        words::push_lowercase(word, &mut lowered);
        found.push((lowered, start, start + word.len()));
    });
    found
}

/// Where the words of `phrase` first occur consecutively among `text_words`: (first, last) index.
fn find_phrase(text_words: &[(String, usize, usize)], phrase: &[String]) -> Option<(usize, usize)> {
    if phrase.is_empty() || phrase.len() > text_words.len() {
        return None;
    }
    (0..=text_words.len() - phrase.len())
        .find(|&at| phrase.iter().enumerate().all(|(i, word)| text_words[at + i].0 == *word))
        .map(|at| (at, at + phrase.len() - 1))
}

/// `left | match | right`: up to `width` characters each side of the first occurrence of
/// `phrase`, the left side right-aligned, so that the matches of many rows line up.
pub fn kwic(text: &str, phrase: &[String], width: usize) -> Option<String> {
    let text_words = words_with_offsets(text);
    let (first, last) = find_phrase(&text_words, phrase)?;
    let (start, end) = (text_words[first].1, text_words[last].2);
    let flatten = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let left = flatten(&text[..start]);
    let left: String = left.chars().rev().take(width).collect::<Vec<_>>().into_iter().rev().collect();
    let right: String = flatten(&text[end..]).chars().take(width).collect();
    Some(format!("{left:>width$} | {} | {right}", flatten(&text[start..end])))
}

/// The words within `window` words before and after each occurrence of `term` (one or more
/// words) in `text`, lowercased, in text order; the term's own words are left out.
pub fn near_words(text: &str, term: &[String], window: usize) -> Vec<String> {
    let text_words = words_with_offsets(text);
    if term.is_empty() || term.len() > text_words.len() {
        return Vec::new();
    }
    let mut near = vec![false; text_words.len()];
    let mut inside = vec![false; text_words.len()];
    for at in 0..=text_words.len() - term.len() {
        if term.iter().enumerate().all(|(i, word)| text_words[at + i].0 == *word) {
            let end = at + term.len();
            inside[at..end].iter_mut().for_each(|slot| *slot = true);
            let from = at.saturating_sub(window);
            let to = (end + window).min(text_words.len());
            near[from..to].iter_mut().for_each(|slot| *slot = true);
        }
    }
    text_words.into_iter().enumerate().filter(|(i, _)| near[*i] && !inside[*i]).map(|(_, (word, ..))| word).collect()
}

/// Whether the words of `phrase` occur consecutively starting within the words of `text`, running
/// on into the words of `following` (the next captions' text) when they need to.
pub fn phrase_starts(text: &str, following: &str, phrase: &[String]) -> bool {
    let Some(first) = phrase.first() else { return false };
    let own = words_with_offsets(text);
    if !own.iter().any(|(word, ..)| word == first) {
        return false;
    }
    let mut all: Vec<String> = own.iter().map(|(word, ..)| word.clone()).collect();
    let own_count = all.len();
    if own_count < phrase.len() || !all.windows(phrase.len()).any(|w| w == phrase) {
        all.extend(words_with_offsets(following).into_iter().take(phrase.len()).map(|(word, ..)| word));
    }
    (0..own_count).any(|at| all.len() >= at + phrase.len() && all[at..at + phrase.len()] == *phrase)
}

/// A constant integer argument within 0..=MAX_CONTEXT.
fn constant_width(value: &ColumnarValue, function: &str, argument: &str) -> Result<usize> {
    let width = match value {
        ColumnarValue::Scalar(scalar) => {
            let array = scalar.to_array()?;
            match array.as_primitive_opt::<Int64Type>() {
                Some(values) if values.len() == 1 && !values.is_null(0) => values.value(0),
                _ => return exec_err!("{function}: {argument} must be an integer"),
            }
        }
        ColumnarValue::Array(_) => return exec_err!("{function}: {argument} must be a constant, not a column"),
    };
    if !(0..=MAX_CONTEXT).contains(&width) {
        return exec_err!("{function}: {argument} must be 0 to {MAX_CONTEXT}, got {width}");
    }
    Ok(width as usize)
}

/// Coercion for (text, phrase, integer).
fn coerce_text_phrase_int(name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    match arg_types {
        [text, phrase, n] if is_string(text) && is_string(phrase) => {
            let text = if text.is_null() { DataType::Utf8 } else { text.clone() };
            Ok(vec![text, DataType::Utf8, coerce_to_int64(name, n)?])
        }
        [_, _, _] => plan_err!("{name}: expected (text, phrase, integer)"),
        _ => plan_err!("{name} takes 3 arguments, got {}", arg_types.len()),
    }
}

udf_struct!(Kwic, "`kwic(text, phrase, width)`: `phrase` in `text` with `width` characters of context each side.");

impl ScalarUDFImpl for Kwic {
    fn name(&self) -> &str {
        "kwic"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_text_phrase_int(self.name(), arg_types)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = args.args[0].to_array(args.number_rows)?;
        let phrase = words::tokenize(constant_str(&args.args[1], self.name(), "phrase")?.unwrap_or(""));
        let width = constant_width(&args.args[2], self.name(), "width")?;
        let mut out = StringBuilder::with_capacity(text.len(), text.len() * (2 * width + 16));
        for_each_str(&text, |value| out.append_option(value.and_then(|t| kwic(t, &phrase, width))))?;
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

udf_struct!(NearWords, "`near_words(text, term, window)`: the words within `window` words of `term` in `text`.");

impl ScalarUDFImpl for NearWords {
    fn name(&self) -> &str {
        "near_words"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_text_phrase_int(self.name(), arg_types)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = args.args[0].to_array(args.number_rows)?;
        let term = words::tokenize(constant_str(&args.args[1], self.name(), "term")?.unwrap_or(""));
        let window = constant_width(&args.args[2], self.name(), "window")?;
        let mut lists = ListBuilder::with_capacity(StringBuilder::new(), text.len());
        for_each_str(&text, |value| match value {
            Some(value) => {
                for word in near_words(value, &term, window) {
                    lists.values().append_value(word);
                }
                lists.append(true);
            }
            None => lists.append(false),
        })?;
        Ok(ColumnarValue::Array(Arc::new(lists.finish())))
    }
}

udf_struct!(
    PhraseStarts,
    "`phrase_starts(text, following, phrase)`: whether `phrase` starts in `text`, possibly running on into `following`."
);

impl ScalarUDFImpl for PhraseStarts {
    fn name(&self) -> &str {
        "phrase_starts"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_strings(self.name(), arg_types, 3)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = args.args[0].to_array(args.number_rows)?;
        let following = args.args[1].to_array(args.number_rows)?;
        let phrase = words::tokenize(constant_str(&args.args[2], self.name(), "phrase")?.unwrap_or(""));
        let mut nexts: Vec<Option<String>> = Vec::with_capacity(following.len());
        for_each_str(&following, |value| nexts.push(value.map(str::to_string)))?;
        let mut out = datafusion::arrow::array::BooleanBuilder::with_capacity(text.len());
        let mut row = 0;
        for_each_str(&text, |value| {
            let next = nexts[row].as_deref().unwrap_or("");
            out.append_option(value.map(|t| phrase_starts(t, next, &phrase)));
            row += 1;
        })?;
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// One part of a concordance sort: the `n`-th word (from 1) right of the hit, or left of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextWord {
    /// `R<n>`: the `n`-th word after the hit.
    Right(usize),
    /// `L<n>`: the `n`-th word before the hit.
    Left(usize),
}

/// The parts of a sort written `R1,R2` or `L1` (case ignored; `''`: none).
pub fn context_words(spec: &str) -> Result<Vec<ContextWord>> {
    spec.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (side, n) = part.split_at(1);
            match (side.to_ascii_uppercase().as_str(), n.parse::<usize>()) {
                ("R", Ok(n)) if (1..=10).contains(&n) => Ok(ContextWord::Right(n)),
                ("L", Ok(n)) if (1..=10).contains(&n) => Ok(ContextWord::Left(n)),
                _ => plan_err!("context_key: {part:?} is not a context word: use R1 to R10 or L1 to L10, e.g. 'R1,R2'"),
            }
        })
        .collect()
}

/// The key of a hit with `left` and `right` context for a sort by `parts`: the words named,
/// lowercased, joined by U+001F (a missing word is empty, and sorts first).
pub fn context_key(left: &str, right: &str, parts: &[ContextWord]) -> String {
    let (left, right) = (words::tokenize(left), words::tokenize(right));
    let word = |part: &ContextWord| -> &str {
        let found = match *part {
            ContextWord::Right(n) => right.get(n - 1),
            ContextWord::Left(n) => left.len().checked_sub(n).and_then(|at| left.get(at)),
        };
        found.map_or("", String::as_str)
    };
    parts.iter().map(word).collect::<Vec<_>>().join("\u{1f}")
}

udf_struct!(ContextKey, "`context_key(left, right, 'R1,R2')`: a key sorting hits by the words around them.");

impl ScalarUDFImpl for ContextKey {
    fn name(&self) -> &str {
        "context_key"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_strings(self.name(), arg_types, 3)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let parts = context_words(constant_str(&args.args[2], self.name(), "sort")?.unwrap_or(""))?;
        let (left, right) = (args.args[0].to_array(args.number_rows)?, args.args[1].to_array(args.number_rows)?);
        let mut lefts: Vec<Option<String>> = Vec::with_capacity(left.len());
        for_each_str(&left, |value| lefts.push(value.map(str::to_string)))?;
        let mut out = StringBuilder::with_capacity(left.len(), left.len() * 16);
        let mut row = 0;
        for_each_str(&right, |value| {
            let left = lefts[row].as_deref().unwrap_or("");
            out.append_value(context_key(left, value.unwrap_or(""), &parts));
            row += 1;
        })?;
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        words::tokenize(text)
    }

    #[test]
    fn context_keys_name_the_words_around_a_hit() {
        let parts = context_words("R1, r2,L1").unwrap();
        assert_eq!(context_key("so the big", "Dog, ran off", &parts), "dog\u{1f}ran\u{1f}big");
        assert_eq!(context_key("", "x", &context_words("L2,R3").unwrap()), "\u{1f}");
        assert!(context_words("R0").is_err() && context_words("X1").is_err());
        assert!(context_words("").unwrap().is_empty());
    }

    #[test]
    fn kwic_aligns_the_first_match_with_context_each_side() {
        let line = kwic("So we use Dask, and Dask arrays, out-of-core on one node.", &tokens("out of core"), 12);
        assert_eq!(line.as_deref(), Some("Dask arrays, | out-of-core | on one node."));
        let short = kwic("Out of core!", &tokens("out of core"), 8);
        assert_eq!(short.as_deref(), Some("         | Out of core | !"));
        assert_eq!(kwic("nothing here", &tokens("out of core"), 8), None);
        assert_eq!(
            kwic("line\nbreaks   and  spaces matter not", &tokens("and"), 20).as_deref(),
            Some("         line breaks | and | spaces matter not")
        );
    }

    #[test]
    fn phrases_may_run_on_into_the_next_captions_but_start_in_this_one() {
        let phrase = tokens("national supercomputing centers");
        assert!(!phrase_starts("data pipelines to national", "supercomputing. Andrea has centers", &phrase));
        assert!(phrase_starts("data pipelines to national", "supercomputing centers. Andrea", &phrase));
        assert!(phrase_starts("to national supercomputing centers", "", &phrase));
        assert!(!phrase_starts("supercomputing centers", "and more", &phrase), "it starts in the previous caption");
        assert!(phrase_starts("national", "supercomputing centers", &phrase));
        assert!(!phrase_starts("", "national supercomputing centers", &phrase));
    }

    #[test]
    fn near_words_takes_the_window_around_every_occurrence() {
        let text = "Python is slow but Python with Dask scales, said the Python people";
        assert_eq!(near_words(text, &tokens("python"), 1), ["is", "but", "with", "the", "people"]);
        assert_eq!(near_words(text, &tokens("with dask"), 2), ["but", "python", "scales", "said"]);
        assert!(near_words(text, &tokens("rust"), 3).is_empty());
    }
}
