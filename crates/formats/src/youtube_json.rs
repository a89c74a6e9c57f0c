//! youtube-transcript-api JSON: a JSON array of `{"text": str, "start": s, "duration": s}`.
//!
//! Also read, because real archives hold them: pretty or compact layout, a UTF-8 byte order mark,
//! `\uXXXX` escapes with surrogate pairs, Python's `NaN`/`Infinity` (which strict parsers reject),
//! the CLI's array *of arrays* (one transcript per video) and plain-text error lines the CLI may
//! print before the JSON. Unknown keys are ignored; a missing or `null` text is an empty caption;
//! a missing or `null` time is left for normalisation to repair.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use verbatim_model::{RawSnippet, RawTranscript};

use crate::FormatError;

/// Parses a youtube-transcript-api JSON file into one transcript per top-level array.
pub fn parse(bytes: &[u8]) -> Result<Vec<RawTranscript<'_>>, FormatError> {
    parse_input(Input::Bytes(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)))
}

/// [`parse`] for text already known to be valid UTF-8 (it is not validated again).
pub fn parse_str(text: &str) -> Result<Vec<RawTranscript<'_>>, FormatError> {
    parse_input(Input::Str(text.strip_prefix('\u{feff}').unwrap_or(text)))
}

/// The JSON to parse: raw bytes (validated as UTF-8 while parsing) or text.
#[derive(Clone, Copy)]
enum Input<'a> {
    Bytes(&'a [u8]),
    Str(&'a str),
}

impl<'a> Input<'a> {
    fn bytes(self) -> &'a [u8] {
        match self {
            Input::Bytes(bytes) => bytes,
            Input::Str(text) => text.as_bytes(),
        }
    }

    /// The input from `offset`, which follows an ASCII byte (a newline) or is 0.
    fn from(self, offset: usize) -> Input<'a> {
        match self {
            Input::Bytes(bytes) => Input::Bytes(&bytes[offset..]),
            Input::Str(text) => Input::Str(&text[offset..]),
        }
    }
}

fn parse_input(input: Input<'_>) -> Result<Vec<RawTranscript<'_>>, FormatError> {
    let (skipped_lines, offset) = skip_leading_text(input.bytes())?;
    let json = input.from(offset);
    match parse_json(json) {
        Ok(transcripts) => Ok(transcripts),
        Err(_) if has_non_finite_literals(json.bytes()) => {
            // Python writes NaN/Infinity; retry with them as null (times are then repaired).
            let sanitized = replace_non_finite_literals(json.bytes());
            let transcripts = parse_json(Input::Bytes(&sanitized)).map_err(|e| located(e, skipped_lines))?;
            Ok(transcripts.into_iter().map(RawTranscript::into_owned).collect())
        }
        Err(error) => Err(located(error, skipped_lines)),
    }
}

fn parse_json(json: Input<'_>) -> Result<Vec<RawTranscript<'_>>, serde_json::Error> {
    match json {
        Input::Bytes(bytes) => parse_with(serde_json::Deserializer::from_slice(bytes)),
        Input::Str(text) => parse_with(serde_json::Deserializer::from_str(text)),
    }
}

fn parse_with<'de, R: serde_json::de::Read<'de>>(
    mut deserializer: serde_json::Deserializer<R>,
) -> Result<Vec<RawTranscript<'de>>, serde_json::Error> {
    let transcripts = deserializer.deserialize_any(TopLevel)?;
    deserializer.end()?;
    Ok(transcripts)
}

fn located(error: serde_json::Error, skipped_lines: u64) -> FormatError {
    let reason = error.to_string();
    // serde_json appends " at line L column C"; the location is given separately.
    let reason = match reason.rfind(" at line ") {
        Some(at) => reason[..at].to_string(),
        None => reason,
    };
    FormatError { line: error.line() as u64 + skipped_lines, column: error.column() as u64, reason }
}

/// Skips lines before the first one starting with `[` (the CLI prints errors before its JSON).
/// Returns the number of lines skipped and the offset of the JSON.
fn skip_leading_text(bytes: &[u8]) -> Result<(u64, usize), FormatError> {
    let mut rest = bytes;
    let mut skipped = 0;
    loop {
        let first = rest.iter().position(|b| !b.is_ascii_whitespace());
        match first.map(|i| rest[i]) {
            Some(b'[') | Some(b'{') => return Ok((skipped, bytes.len() - rest.len())),
            None if skipped == 0 => {
                return Err(FormatError::whole_file("empty file: no JSON array"));
            }
            None => {
                return Err(FormatError::whole_file("no JSON array after the leading text lines"));
            }
            // Skip the blank lines before the text line and the text line itself in one step, so
            // that many blank lines do not make this quadratic.
            Some(_) => {
                let start = first.unwrap_or(0);
                let blank_lines = rest[..start].iter().filter(|&&b| b == b'\n').count() as u64;
                match rest[start..].iter().position(|&b| b == b'\n') {
                    Some(newline) => {
                        skipped += blank_lines + 1;
                        rest = &rest[start + newline + 1..];
                    }
                    None => {
                        return Err(FormatError {
                            line: skipped + blank_lines + 1,
                            column: 1,
                            reason: "expected a JSON array of {\"text\", \"start\", \"duration\"} snippets".into(),
                        });
                    }
                }
            }
        }
    }
}

/// Whether `NaN` or `Infinity` occurs outside strings.
fn has_non_finite_literals(json: &[u8]) -> bool {
    let mut found = false;
    scan_outside_strings(json, |_, _| found = true);
    found
}

/// A copy of `json` with `NaN`, `Infinity` and `-Infinity` outside strings replaced by `null`.
fn replace_non_finite_literals(json: &[u8]) -> Vec<u8> {
    let mut literals = Vec::new();
    scan_outside_strings(json, |start, len| literals.push((start, len)));
    let mut out = Vec::with_capacity(json.len() + literals.len());
    let mut copied = 0;
    for (start, len) in literals {
        out.extend_from_slice(&json[copied..start]);
        out.extend_from_slice(b"null");
        copied = start + len;
    }
    out.extend_from_slice(&json[copied..]);
    out
}

/// Calls `found(start, len)` for each non-finite literal outside JSON strings.
fn scan_outside_strings(json: &[u8], mut found: impl FnMut(usize, usize)) {
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else {
            for literal in [&b"NaN"[..], b"-Infinity", b"Infinity"] {
                if json[i..].starts_with(literal) {
                    found(i, literal.len());
                    i += literal.len() - 1;
                    break;
                }
            }
        }
        i += 1;
    }
}

/// The top-level value: an array of snippets, or an array of such arrays.
struct TopLevel;

impl<'de> Visitor<'de> for TopLevel {
    type Value = Vec<RawTranscript<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of {\"text\", \"start\", \"duration\"} snippets")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut single = RawTranscript::default();
        let mut nested = Vec::new();
        while let Some(item) = seq.next_element_seed(ItemSeed)? {
            match item {
                Item::Snippet(snippet) if nested.is_empty() => single.snippets.push(snippet),
                Item::Transcript(transcript) if single.snippets.is_empty() => nested.push(*transcript),
                _ => {
                    return Err(de::Error::custom("an array mixes snippets and arrays of snippets"));
                }
            }
        }
        Ok(if nested.is_empty() { vec![single] } else { nested })
    }
}

enum Item<'de> {
    Snippet(RawSnippet<'de>),
    // Boxed: every snippet travels as an `Item`, which is then only as large as a snippet.
    Transcript(Box<RawTranscript<'de>>),
}

struct ItemSeed;

impl<'de> DeserializeSeed<'de> for ItemSeed {
    type Value = Item<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a {\"text\", \"start\", \"duration\"} snippet or an array of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        SnippetVisitor.visit_map(map).map(Item::Snippet)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut transcript = RawTranscript::default();
        while let Some(snippet) = seq.next_element_seed(SnippetSeed)? {
            transcript.snippets.push(snippet);
        }
        Ok(Item::Transcript(Box::new(transcript)))
    }
}

struct SnippetSeed;

impl<'de> DeserializeSeed<'de> for SnippetSeed {
    type Value = RawSnippet<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(SnippetVisitor)
    }
}

struct SnippetVisitor;

impl<'de> Visitor<'de> for SnippetVisitor {
    type Value = RawSnippet<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a {\"text\", \"start\", \"duration\"} snippet")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut snippet = RawSnippet::new("", f64::NAN, f64::NAN);
        while let Some(key) = map.next_key::<SnippetKey>()? {
            match key {
                SnippetKey::Text => {
                    let text: Option<CowStr<'de>> = map.next_value()?;
                    snippet.text = text.map(|t| t.0).unwrap_or(Cow::Borrowed(""));
                }
                SnippetKey::Start => snippet.start = map.next_value::<Option<f64>>()?.unwrap_or(f64::NAN),
                SnippetKey::Duration => snippet.duration = map.next_value::<Option<f64>>()?.unwrap_or(f64::NAN),
                SnippetKey::Speaker => {
                    let speaker: Option<CowStr<'de>> = map.next_value()?;
                    snippet.speaker = speaker.map(|s| s.0).filter(|s| !s.trim().is_empty());
                }
                SnippetKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(snippet)
    }
}

/// A snippet's key, recognised without allocating.
enum SnippetKey {
    Text,
    Start,
    Duration,
    /// Not youtube-transcript-api's, but written by `verbatim export` so speakers survive.
    Speaker,
    Other,
}

impl<'de> de::Deserialize<'de> for SnippetKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SnippetKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
                Ok(match key {
                    "text" => SnippetKey::Text,
                    "start" => SnippetKey::Start,
                    "duration" => SnippetKey::Duration,
                    "speaker" => SnippetKey::Speaker,
                    _ => SnippetKey::Other,
                })
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A string borrowed from the input when it has no escapes.
struct CowStr<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(transcript: &RawTranscript<'_>) -> Vec<String> {
        transcript.snippets.iter().map(|s| s.text.to_string()).collect()
    }

    #[test]
    fn pretty_and_compact_arrays_parse_alike() {
        let pretty = b"[\n    {\n        \"text\": \"Hi everybody.\",\n        \"start\": 0.8,\n        \"duration\": 2.71\n    }\n]\n";
        let compact = br#"[{"text":"Hi everybody.","start":0.8,"duration":2.71}]"#;
        let a = parse(pretty).unwrap();
        let b = parse(compact).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].snippets[0], RawSnippet::new("Hi everybody.", 0.8, 2.71));
    }

    #[test]
    fn escapes_surrogate_pairs_and_bom_are_decoded() {
        let json =
            "\u{feff}[{\"text\": \"caf\\u00e9 \\ud83c\\udf89 \\\"q\\\"\\nline\", \"start\": 1, \"duration\": 2}]";
        let transcripts = parse(json.as_bytes()).unwrap();
        assert_eq!(texts(&transcripts[0]), ["café 🎉 \"q\"\nline"]);
    }

    #[test]
    fn python_nan_and_infinity_become_unusable_times() {
        let json = br#"[{"text": "a NaN here", "start": NaN, "duration": Infinity},
                        {"text": "b", "start": 2.0, "duration": -Infinity}]"#;
        let transcripts = parse(json).unwrap();
        let s = &transcripts[0].snippets;
        assert_eq!(s[0].text, "a NaN here", "NaN inside strings is text");
        assert!(s[0].start.is_nan() && s[0].duration.is_nan() && s[1].duration.is_nan());
        assert_eq!(s[1].start, 2.0);
    }

    #[test]
    fn the_cli_array_of_arrays_after_error_lines_gives_one_transcript_per_video() {
        let json = b"Could not retrieve a transcript for the video xyz!\n\n[[{\"text\":\"a\",\"start\":0,\"duration\":1}],[{\"text\":\"b\",\"start\":0,\"duration\":1},{\"text\":\"c\",\"start\":1,\"duration\":1}]]";
        let transcripts = parse(json).unwrap();
        assert_eq!(transcripts.len(), 2);
        assert_eq!(texts(&transcripts[1]), ["b", "c"]);
    }

    #[test]
    fn unknown_keys_and_missing_values_are_tolerated() {
        let json = br#"[{"text": null, "start": 1.5, "extra": {"x": [1]}}, {"start": 2}]"#;
        let transcripts = parse(json).unwrap();
        let s = &transcripts[0].snippets;
        assert_eq!((s[0].text.as_ref(), s[0].start), ("", 1.5));
        assert!(s[0].duration.is_nan());
    }

    #[test]
    fn empty_arrays_are_empty_transcripts() {
        assert_eq!(parse(b"[]").unwrap(), vec![RawTranscript::default()]);
    }

    #[test]
    fn broken_files_report_line_column_and_reason() {
        let error =
            parse(b"[\n  {\"text\": \"a\", \"start\": 1, \"duration\": 2},\n  {\"text\": \"b\" \"start\": 2}\n]")
                .unwrap_err();
        assert_eq!((error.line, error.column), (3, 16), "the column of the unexpected character");
        assert!(error.reason.contains("expected"), "{}", error.reason);

        let error = parse(br#"[{"text": 5, "start": 1}]"#).unwrap_err();
        assert!(error.reason.contains("invalid type"), "{}", error.reason);

        let error = parse(br#"{"text": "a"}"#).unwrap_err();
        assert!(error.reason.contains("JSON array"), "{}", error.reason);

        assert!(parse(b"").unwrap_err().reason.contains("empty file"));
        assert!(parse(b"not json at all").unwrap_err().reason.contains("JSON array"));
        let truncated = parse(br#"[{"text": "a", "start": 1, "dur"#).unwrap_err();
        assert!(truncated.reason.contains("EOF"), "{}", truncated.reason);
    }

    #[test]
    fn invalid_utf8_is_rejected_with_a_location() {
        let error = parse(b"[{\"text\": \"caf\xe9\", \"start\": 1, \"duration\": 1}]").unwrap_err();
        assert_eq!(error.line, 1);
        assert!(error.reason.contains("UTF-8") || error.reason.contains("unicode"), "{}", error.reason);
    }
}
