//! Speech-to-text JSON: the shapes of the tools people transcribe with, told apart by their keys.
//!
//! * **openai-whisper** `{"text", "language", "segments": [{"start", "end", "text", "words"?: [{"word",
//!   "start", "end", "probability"}]}]}`; **WhisperX** adds `speaker` to segments and words (and words
//!   it could not align have no times); the hosted API's **verbose_json** may give only top-level
//!   `words` (no probability) and names the language in full (`"english"`).
//! * **whisper.cpp** `-oj`: `{"result": {"language"}, "transcription": [{"offsets": {"from", "to"}} (ms), "text"]}`.
//! * **Deepgram**: `{"results": {"channels": [{"alternatives": [{"words": [{"word", "punctuated_word"?,
//!   "start", "end", "confidence", "speaker"?}], "paragraphs"?}]}], "utterances"?}}`, seconds.
//! * **AssemblyAI**: `{"words": [{"text", "start", "end", "confidence", "speaker"}], "utterances"?,
//!   "language_code"}`, integer milliseconds.
//!
//! Segments come from the tool's own grouping (segments, utterances, paragraph sentences); where
//! there is none, words are grouped into sentences. Word timings go to the `words` table.

use std::borrow::Cow;

use serde_json::{Map, Value};
use verbatim_model::{RawSnippet, RawTranscript, RawWord, TranscriptMeta};

use crate::{Format, FormatError};

/// A caption built from words ends at sentence punctuation, a pause this long, or this many words.
const SENTENCE_GAP_S: f64 = 1.5;
const SENTENCE_MAX_WORDS: usize = 40;

/// Parses a speech-to-text JSON object; returns which tool wrote it and its transcripts.
pub fn parse(text: &str) -> Result<(Format, Vec<RawTranscript<'static>>), FormatError> {
    if let Some(transcript) = typed_whisper(text) {
        return Ok((Format::WhisperJson, vec![transcript]));
    }
    parse_value(text)
}

/// [`parse`] through a [`Value`] tree: every tool's shape.
fn parse_value(text: &str) -> Result<(Format, Vec<RawTranscript<'static>>), FormatError> {
    let value: Value = serde_json::from_str(text).map_err(|e| FormatError {
        line: e.line() as u64,
        column: e.column() as u64,
        reason: e.to_string(),
    })?;
    let Value::Object(object) = value else {
        return Err(FormatError::whole_file("expected a JSON object"));
    };
    if object.get("results").and_then(|r| r.get("channels")).is_some() {
        return Ok((Format::DeepgramJson, deepgram(&object)));
    }
    if object.contains_key("transcription") {
        return Ok((Format::WhisperJson, vec![whisper_cpp(&object)?]));
    }
    if object.contains_key("segments")
        || (object.contains_key("words") && object.contains_key("text") && !is_assemblyai(&object))
    {
        return Ok((Format::WhisperJson, vec![whisper(&object)?]));
    }
    if is_assemblyai(&object) {
        return Ok((Format::AssemblyAiJson, vec![assemblyai(&object)]));
    }
    let keys: Vec<&str> = object.keys().map(String::as_str).take(8).collect();
    Err(FormatError::whole_file(format!(
        "not a transcript: a JSON object with keys {} (expected Whisper, Deepgram or AssemblyAI output)",
        keys.join(", ")
    )))
}

fn is_assemblyai(object: &Map<String, Value>) -> bool {
    object.contains_key("utterances")
        || (object.contains_key("audio_duration") || object.contains_key("language_code"))
            && object.get("words").and_then(Value::as_array).is_some()
}

fn number(value: Option<&Value>) -> f64 {
    value.and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn string(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str)
}

/// A speaker label from a string or a number (Deepgram numbers its speakers).
fn speaker(value: Option<&Value>) -> Option<Cow<'static, str>> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(Cow::Owned(s.clone())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

fn array(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn generated(language: Option<&str>) -> TranscriptMeta {
    TranscriptMeta { language: language.map(str::to_string), is_generated: Some(true), ..TranscriptMeta::default() }
}

fn whisper(object: &Map<String, Value>) -> Result<RawTranscript<'static>, FormatError> {
    let word = |w: &Value| {
        let confidence = w.get("probability").or_else(|| w.get("score")).and_then(Value::as_f64);
        whisper_word(string(w.get("word")), number(w.get("start")), number(w.get("end")), confidence, w.get("speaker"))
    };
    let language = string(object.get("language"));
    let segments = array(object.get("segments"));
    if segments.is_empty() {
        let words: Vec<RawWord> = array(object.get("words")).iter().map(word).collect();
        return Ok(RawTranscript { meta: generated(language), snippets: sentences(words), ..RawTranscript::default() });
    }
    let snippets = segments
        .iter()
        .map(|s| {
            let words = array(s.get("words")).iter().map(word).collect();
            segment_snippet(
                string(s.get("text")),
                number(s.get("start")),
                number(s.get("end")),
                s.get("speaker"),
                words,
            )
        })
        .collect();
    Ok(segments_transcript(language, snippets, || array(object.get("words")).iter().map(word).collect()))
}

/// A Whisper word: its text trimmed, a missing text empty.
fn whisper_word(
    text: Option<&str>,
    start: f64,
    end: f64,
    confidence: Option<f64>,
    speaker_value: Option<&Value>,
) -> RawWord<'static> {
    RawWord {
        text: Cow::Owned(text.unwrap_or("").trim().to_string()),
        start,
        end,
        confidence,
        speaker: speaker(speaker_value),
    }
}

/// A Whisper segment as a snippet: its text trimmed (a missing text empty), times, speaker, words.
fn segment_snippet(
    text: Option<&str>,
    start: f64,
    end: f64,
    speaker_value: Option<&Value>,
    words: Vec<RawWord<'static>>,
) -> RawSnippet<'static> {
    let mut snippet =
        RawSnippet::spanning(text.unwrap_or("").trim().to_string(), start, end).with_speaker(speaker(speaker_value));
    snippet.words = words;
    snippet
}

/// The transcript of Whisper segments; the top-level words go to the segments when none has its own.
fn segments_transcript(
    language: Option<&str>,
    mut snippets: Vec<RawSnippet<'static>>,
    top_level_words: impl FnOnce() -> Vec<RawWord<'static>>,
) -> RawTranscript<'static> {
    if snippets.iter().all(|s| s.words.is_empty()) {
        assign_words(&mut snippets, top_level_words());
    }
    RawTranscript { meta: generated(language), snippets, ..RawTranscript::default() }
}

/// Whisper or WhisperX output with segments, read straight into its fields (several times faster
/// than through a [`Value`] tree). Anything else, or any field of an unexpected type, gives `None`
/// and the file is read through the general path, which gives the same result for this shape.
fn typed_whisper(text: &str) -> Option<RawTranscript<'static>> {
    let document: WhisperDocument = serde_json::from_str(text).ok()?;
    if document.segments.is_empty() || document.results.is_some() || document.transcription.is_some() {
        return None;
    }
    let snippets = document
        .segments
        .into_iter()
        .map(|s| {
            let words = s.words.into_iter().map(WhisperWord::into_raw).collect();
            let (start, end) = (s.start.unwrap_or(f64::NAN), s.end.unwrap_or(f64::NAN));
            segment_snippet(s.text.as_deref(), start, end, s.speaker.as_ref(), words)
        })
        .collect();
    let top_level = document.words;
    Some(segments_transcript(document.language.as_deref(), snippets, || {
        top_level.into_iter().map(WhisperWord::into_raw).collect()
    }))
}

/// The fields of Whisper output that verbatim reads (`results` and `transcription` mark other tools).
#[derive(serde::Deserialize)]
struct WhisperDocument {
    language: Option<String>,
    #[serde(default)]
    segments: Vec<WhisperSegment>,
    #[serde(default)]
    words: Vec<WhisperWord>,
    #[serde(default, deserialize_with = "marker")]
    results: Option<()>,
    #[serde(default, deserialize_with = "marker")]
    transcription: Option<()>,
}

#[derive(serde::Deserialize)]
struct WhisperSegment {
    start: Option<f64>,
    end: Option<f64>,
    text: Option<String>,
    speaker: Option<Value>,
    #[serde(default)]
    words: Vec<WhisperWord>,
}

#[derive(serde::Deserialize)]
struct WhisperWord {
    word: Option<String>,
    start: Option<f64>,
    end: Option<f64>,
    /// `Some(None)` when written as `null`, which (as in the general path) hides `score`.
    #[serde(default, deserialize_with = "present")]
    probability: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    score: Option<Option<f64>>,
    speaker: Option<Value>,
}

impl WhisperWord {
    fn into_raw(self) -> RawWord<'static> {
        let confidence = self.probability.or(self.score).flatten();
        let (start, end) = (self.start.unwrap_or(f64::NAN), self.end.unwrap_or(f64::NAN));
        whisper_word(self.word.as_deref(), start, end, confidence, self.speaker.as_ref())
    }
}

/// Whether a key is present, whatever its value (even `null`).
fn marker<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<()>, D::Error> {
    <serde::de::IgnoredAny as serde::Deserialize>::deserialize(deserializer).map(|_| Some(()))
}

/// A field that is present (possibly `null`), told apart from one that is missing.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<f64>>, D::Error> {
    <Option<f64> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

fn whisper_cpp(object: &Map<String, Value>) -> Result<RawTranscript<'static>, FormatError> {
    let language = object.get("result").and_then(|r| string(r.get("language")));
    let snippets = array(object.get("transcription"))
        .iter()
        .map(|t| {
            let offsets = t.get("offsets");
            let ms = |key: &str| number(offsets.and_then(|o| o.get(key))) / 1000.0;
            RawSnippet::spanning(string(t.get("text")).unwrap_or("").trim().to_string(), ms("from"), ms("to"))
        })
        .collect();
    Ok(RawTranscript { meta: generated(language), snippets, ..RawTranscript::default() })
}

fn deepgram(object: &Map<String, Value>) -> Vec<RawTranscript<'static>> {
    let results = object.get("results");
    let channels = array(results.and_then(|r| r.get("channels")));
    let utterances = array(results.and_then(|r| r.get("utterances")));
    channels
        .iter()
        .enumerate()
        .map(|(channel, c)| {
            let alternative = array(c.get("alternatives")).first();
            let language = string(c.get("detected_language"));
            let words: Vec<RawWord> = array(alternative.and_then(|a| a.get("words")))
                .iter()
                .map(|w| RawWord {
                    text: Cow::Owned(
                        string(w.get("punctuated_word")).or(string(w.get("word"))).unwrap_or("").to_string(),
                    ),
                    start: number(w.get("start")),
                    end: number(w.get("end")),
                    confidence: w.get("confidence").and_then(Value::as_f64),
                    speaker: speaker(w.get("speaker")),
                })
                .collect();
            let channel_utterances: Vec<&Value> = utterances
                .iter()
                .filter(|u| u.get("channel").and_then(Value::as_u64).unwrap_or(0) == channel as u64)
                .collect();
            let mut snippets: Vec<RawSnippet> = if !channel_utterances.is_empty() {
                channel_utterances
                    .iter()
                    .map(|u| {
                        let text = string(u.get("transcript")).unwrap_or("").to_string();
                        RawSnippet::spanning(text, number(u.get("start")), number(u.get("end")))
                            .with_speaker(speaker(u.get("speaker")))
                    })
                    .collect()
            } else {
                let paragraphs = alternative.and_then(|a| a.get("paragraphs")).and_then(|p| p.get("paragraphs"));
                array(paragraphs)
                    .iter()
                    .flat_map(|p| {
                        let who = speaker(p.get("speaker"));
                        array(p.get("sentences")).iter().map(move |s| {
                            let text = string(s.get("text")).unwrap_or("").to_string();
                            RawSnippet::spanning(text, number(s.get("start")), number(s.get("end")))
                                .with_speaker(who.clone())
                        })
                    })
                    .collect()
            };
            if snippets.is_empty() {
                snippets = sentences(words);
            } else {
                assign_words(&mut snippets, words);
            }
            RawTranscript { meta: generated(language), snippets, ..RawTranscript::default() }
        })
        .collect()
}

fn assemblyai(object: &Map<String, Value>) -> RawTranscript<'static> {
    let ms = |v: Option<&Value>| number(v) / 1000.0;
    let word = |w: &Value| RawWord {
        text: Cow::Owned(string(w.get("text")).unwrap_or("").to_string()),
        start: ms(w.get("start")),
        end: ms(w.get("end")),
        confidence: w.get("confidence").and_then(Value::as_f64),
        speaker: speaker(w.get("speaker")),
    };
    let utterances = array(object.get("utterances"));
    let snippets = if utterances.is_empty() {
        sentences(array(object.get("words")).iter().map(word).collect())
    } else {
        utterances
            .iter()
            .map(|u| {
                let text = string(u.get("text")).unwrap_or("").to_string();
                let mut snippet = RawSnippet::spanning(text, ms(u.get("start")), ms(u.get("end")))
                    .with_speaker(speaker(u.get("speaker")));
                snippet.words = array(u.get("words")).iter().map(word).collect();
                snippet
            })
            .collect()
    };
    RawTranscript { meta: generated(string(object.get("language_code"))), snippets, ..RawTranscript::default() }
}

/// Gives each snippet the words that start within it (both in time order).
fn assign_words(snippets: &mut [RawSnippet<'static>], words: Vec<RawWord<'static>>) {
    let mut index = 0;
    for word in words {
        while index + 1 < snippets.len() && word.start >= snippets[index + 1].start {
            index += 1;
        }
        if let Some(snippet) = snippets.get_mut(index) {
            snippet.words.push(word);
        }
    }
}

/// Groups words into captions at sentence ends, long pauses or a length limit.
fn sentences(words: Vec<RawWord<'static>>) -> Vec<RawSnippet<'static>> {
    let mut snippets = Vec::new();
    let mut current: Vec<RawWord<'static>> = Vec::new();
    for word in words {
        let pause = current.last().is_some_and(|last| word.start - last.end > SENTENCE_GAP_S);
        let new_speaker = current.last().is_some_and(|last| last.speaker != word.speaker);
        if pause || new_speaker {
            snippets.push(snippet_of(std::mem::take(&mut current)));
        }
        let ends_sentence = word.text.ends_with(['.', '?', '!']);
        current.push(word);
        if ends_sentence || current.len() >= SENTENCE_MAX_WORDS {
            snippets.push(snippet_of(std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        snippets.push(snippet_of(current));
    }
    snippets
}

fn snippet_of(words: Vec<RawWord<'static>>) -> RawSnippet<'static> {
    let text = words.iter().map(|w| w.text.as_ref()).collect::<Vec<_>>().join(" ");
    let start = words.first().map_or(f64::NAN, |w| w.start);
    let end = words.last().map_or(f64::NAN, |w| w.end);
    let speaker = words.first().and_then(|w| w.speaker.clone());
    let mut snippet = RawSnippet::spanning(text, start, end).with_speaker(speaker);
    snippet.words = words;
    snippet
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(transcript: &RawTranscript<'_>) -> Vec<String> {
        transcript.snippets.iter().map(|s| s.text.to_string()).collect()
    }

    #[test]
    fn openai_whisper_segments_and_words() {
        let json = r#"{"text": " Hi. There.", "language": "en", "segments": [
            {"id": 0, "start": 0.0, "end": 1.5, "text": " Hi.", "words": [{"word": " Hi.", "start": 0.0, "end": 0.6, "probability": 0.9}]},
            {"id": 1, "start": 1.5, "end": 7.6000000000000005, "text": " There."}]}"#;
        let (format, transcripts) = parse(json).unwrap();
        assert_eq!(format, Format::WhisperJson);
        let t = &transcripts[0];
        assert_eq!(texts(t), ["Hi.", "There."]);
        assert_eq!(t.meta.language.as_deref(), Some("en"));
        assert_eq!(t.meta.is_generated, Some(true));
        assert_eq!((t.snippets[0].words[0].text.as_ref(), t.snippets[0].words[0].confidence), ("Hi.", Some(0.9)));
    }

    #[test]
    fn whisper_segments_read_typed_as_through_values() {
        let typed = [
            r#"{"language": "en", "segments": [{"start": 0.1, "end": 2, "text": " Hi there ", "speaker": "SPEAKER_01",
                "words": [{"word": " Hi", "start": 0.1, "end": 0.5, "probability": null, "score": 0.8, "speaker": 3},
                {"word": "there", "score": 0.7}, {"word": "x", "probability": 0.5, "speaker": ""}]}]}"#,
            r#"{"segments": [{"start": 1.5, "end": null, "text": null}, {"end": 4.0, "text": "b"}],
                "words": [{"word": "a", "start": 1.5, "end": 2.0}, {"word": "b", "start": 3.0, "end": 4.0}]}"#,
        ];
        for json in typed {
            let transcript = typed_whisper(json).expect("the typed path reads plain Whisper output");
            let general = parse_value(json).unwrap();
            assert_eq!(general.0, Format::WhisperJson);
            assert_eq!(format!("{:?}", [transcript]), format!("{:?}", general.1), "{json}");
        }
        let general_only = [
            r#"{"segments": [{"start": "1.0", "end": 2.0, "text": "a"}]}"#,
            r#"{"segments": [], "words": [{"word": "a", "start": 0, "end": 1}], "text": "a"}"#,
            r#"{"segments": [{"start": 1, "end": 2, "text": "a"}], "transcription": null}"#,
            r#"{"segments": [{"start": 1, "end": 2, "text": "a"}], "results": null}"#,
            r#"{"segments": [{"start": 1, "end": 2, "text": "a"}], "results": {"channels": []}}"#,
            r#"{"segments": [{"start": 1, "end": 2, "text": "a"}] "#,
        ];
        for json in general_only {
            assert!(typed_whisper(json).is_none(), "{json}");
            assert_eq!(format!("{:?}", parse(json)), format!("{:?}", parse_value(json)), "{json}");
        }
    }

    #[test]
    fn whisperx_speakers_and_unaligned_words() {
        let json = r#"{"segments": [{"start": 0.1, "end": 2.0, "text": "Hello 2024", "speaker": "SPEAKER_01",
            "words": [{"word": "Hello", "start": 0.1, "end": 0.5, "score": 0.8, "speaker": "SPEAKER_01"}, {"word": "2024"}]}]}"#;
        let t = &parse(json).unwrap().1[0];
        assert_eq!(t.snippets[0].speaker.as_deref(), Some("SPEAKER_01"));
        assert!(t.snippets[0].words[1].start.is_nan());
        assert_eq!(t.snippets[0].words[0].confidence, Some(0.8));
    }

    #[test]
    fn hosted_api_words_only_are_grouped_into_sentences() {
        let json = r#"{"task": "transcribe", "language": "english", "duration": 9.0, "text": "One two. Three",
            "words": [{"word": "One", "start": 0.0, "end": 0.4}, {"word": "two.", "start": 0.5, "end": 0.9},
                      {"word": "Three", "start": 5.0, "end": 5.4}]}"#;
        let t = &parse(json).unwrap().1[0];
        assert_eq!(texts(t), ["One two.", "Three"]);
        assert_eq!(t.meta.language.as_deref(), Some("english"));
    }

    #[test]
    fn whisper_cpp_offsets_are_milliseconds() {
        let json = r#"{"result": {"language": "en"}, "transcription": [
            {"timestamps": {"from": "00:00:00,000", "to": "00:00:02,500"}, "offsets": {"from": 0, "to": 2500}, "text": " And so"}]}"#;
        let s = &parse(json).unwrap().1[0].snippets[0];
        assert_eq!((s.text.as_ref(), s.start, s.duration), ("And so", 0.0, 2.5));
    }

    #[test]
    fn assemblyai_utterances_in_milliseconds_with_speakers() {
        let json = r#"{"id": "x", "status": "completed", "language_code": "en_us", "text": "Hi. Yes.",
            "words": [{"text": "Hi.", "start": 250, "end": 650, "confidence": 0.97, "speaker": "A"}],
            "utterances": [{"speaker": "A", "start": 250, "end": 650, "text": "Hi.", "words": [{"text": "Hi.", "start": 250, "end": 650, "confidence": 0.97, "speaker": "A"}]},
                           {"speaker": "B", "start": 900, "end": 1300, "text": "Yes.", "words": []}]}"#;
        let (format, transcripts) = parse(json).unwrap();
        assert_eq!(format, Format::AssemblyAiJson);
        let s = &transcripts[0].snippets;
        assert_eq!((s[1].speaker.as_deref(), s[1].start), (Some("B"), 0.9));
        assert_eq!(s[0].words[0].end, 0.65);
    }

    #[test]
    fn deepgram_utterances_give_speakers_and_words_per_channel() {
        let json = r#"{"metadata": {"channels": 1}, "results": {
            "channels": [{"detected_language": "en", "alternatives": [{"transcript": "hello there yes", "words": [
                {"word": "hello", "punctuated_word": "Hello", "start": 0.5, "end": 0.9, "confidence": 0.99, "speaker": 0},
                {"word": "there", "punctuated_word": "there.", "start": 1.0, "end": 1.3, "confidence": 0.98, "speaker": 0},
                {"word": "yes", "punctuated_word": "Yes.", "start": 2.0, "end": 2.4, "confidence": 0.97, "speaker": 1}]}]}],
            "utterances": [{"start": 0.5, "end": 1.3, "transcript": "Hello there.", "speaker": 0, "channel": 0},
                           {"start": 2.0, "end": 2.4, "transcript": "Yes.", "speaker": 1, "channel": 0}]}}"#;
        let (format, transcripts) = parse(json).unwrap();
        assert_eq!(format, Format::DeepgramJson);
        let t = &transcripts[0];
        assert_eq!(texts(t), ["Hello there.", "Yes."]);
        assert_eq!(t.meta.language.as_deref(), Some("en"));
        let speakers: Vec<Option<&str>> = t.snippets.iter().map(|s| s.speaker.as_deref()).collect();
        assert_eq!(speakers, [Some("0"), Some("1")]);
        let words: Vec<(usize, &str)> = t
            .snippets
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.words.iter().map(move |w| (i, w.text.as_ref())))
            .collect();
        assert_eq!(words, [(0, "Hello"), (0, "there."), (1, "Yes.")]);
    }

    #[test]
    fn unknown_objects_say_what_they_hold() {
        let error = parse(r#"{"model": "nova-3", "smart_format": true}"#).unwrap_err();
        assert!(error.reason.contains("keys model, smart_format"), "{}", error.reason);
    }
}
