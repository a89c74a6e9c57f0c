//! JSON Lines bundles: one transcript per line, so that whole channels travel as one file.
//!
//! Each line is an object with the captions under `snippets` (or `transcript`, `segments`,
//! `captions`) as youtube-transcript-api writes them (`{"text", "start", "duration"}`) or with an
//! `end` instead of a duration, and metadata fields: `video_id`, `language_code` (or `language`),
//! `is_generated`, `title`, `channel` (or `uploader`, `channel_title`), `published_at` (or
//! `upload_date`, `publish_date`). Each transcript is keyed `<video_id>.<language>[.auto]`, so the
//! manual and the generated track of one video in one language are different documents.

use std::borrow::Cow;

use serde::Deserialize;
use verbatim_model::{RawSnippet, RawTranscript, TranscriptMeta};

use crate::FormatError;

#[derive(Debug, Deserialize)]
struct Line {
    #[serde(alias = "id", alias = "videoId")]
    video_id: Option<String>,
    #[serde(alias = "language", alias = "lang")]
    language_code: Option<String>,
    #[serde(alias = "generated", alias = "auto_generated")]
    is_generated: Option<bool>,
    title: Option<String>,
    #[serde(alias = "uploader", alias = "channel_title", alias = "channel_name")]
    channel: Option<String>,
    #[serde(alias = "upload_date", alias = "publish_date", alias = "published")]
    published_at: Option<serde_json::Value>,
    #[serde(alias = "transcript", alias = "segments", alias = "captions")]
    snippets: Option<Vec<Snippet>>,
}

#[derive(Debug, Deserialize)]
struct Snippet {
    text: Option<String>,
    #[serde(alias = "offset")]
    start: Option<f64>,
    duration: Option<f64>,
    end: Option<f64>,
}

/// Parses a JSON Lines bundle (blank lines are skipped).
pub fn parse(text: &str) -> Result<Vec<RawTranscript<'static>>, FormatError> {
    let mut transcripts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = index as u64 + 1;
        let parsed: Line = serde_json::from_str(line).map_err(|e| FormatError {
            line: line_number,
            column: e.column() as u64,
            reason: e.to_string(),
        })?;
        let Some(snippets) = parsed.snippets else {
            return Err(FormatError {
                line: line_number,
                column: 1,
                reason: "no `snippets` (or `transcript`, `segments`, `captions`) array on this line".into(),
            });
        };
        let snippets = snippets
            .into_iter()
            .map(|s| {
                let start = s.start.unwrap_or(f64::NAN);
                let duration = s.duration.or(s.end.map(|end| end - start)).unwrap_or(f64::NAN);
                RawSnippet::new(Cow::Owned(s.text.unwrap_or_default()), start, duration)
            })
            .collect();
        let meta = TranscriptMeta {
            video_id: parsed.video_id,
            language: parsed.language_code,
            is_generated: parsed.is_generated,
            title: parsed.title,
            channel: parsed.channel,
            published_at: parsed.published_at.as_ref().and_then(date),
        };
        let key = key(&meta, transcripts.len() + 1);
        transcripts.push(RawTranscript { key: Some(key), meta, snippets });
    }
    Ok(transcripts)
}

/// `<video_id>.<language>[.auto]`, or the line's ordinal when the line names no video.
fn key(meta: &TranscriptMeta, ordinal: usize) -> String {
    let mut key = meta.video_id.clone().unwrap_or_else(|| ordinal.to_string());
    if let Some(language) = &meta.language {
        key.push('.');
        key.push_str(language);
    }
    if meta.is_generated == Some(true) {
        key.push_str(".auto");
    }
    key
}

/// A date as ISO 8601: `YYYYMMDD` (yt-dlp) becomes `YYYY-MM-DD`; other strings are kept.
pub fn date(value: &serde_json::Value) -> Option<String> {
    let text = match value {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..]));
    }
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_transcript_per_line_with_metadata_and_track_keys() {
        let bundle = concat!(
            r#"{"video_id": "dQw4w9WgXcQ", "language_code": "en", "is_generated": false, "title": "Never", "channel": "Rick", "upload_date": "20091025", "snippets": [{"text": "We're", "start": 0.5, "duration": 1.5}]}"#,
            "\n\n",
            r#"{"video_id": "dQw4w9WgXcQ", "language_code": "en", "is_generated": true, "transcript": [{"text": "we're", "start": 0.4, "end": 2.0}]}"#,
            "\n"
        );
        let transcripts = parse(bundle).unwrap();
        assert_eq!(transcripts.len(), 2);
        assert_eq!(transcripts[0].key.as_deref(), Some("dQw4w9WgXcQ.en"));
        assert_eq!(transcripts[1].key.as_deref(), Some("dQw4w9WgXcQ.en.auto"));
        let meta = &transcripts[0].meta;
        assert_eq!((meta.title.as_deref(), meta.channel.as_deref()), (Some("Never"), Some("Rick")));
        assert_eq!(meta.published_at.as_deref(), Some("2009-10-25"));
        assert_eq!((transcripts[1].snippets[0].start, transcripts[1].snippets[0].duration), (0.4, 1.6));
    }

    #[test]
    fn a_bad_line_is_reported_by_number() {
        let error = parse("{\"snippets\": []}\n{\"snippets\": [}\n").unwrap_err();
        assert_eq!(error.line, 2);
        let error = parse("{\"video_id\": \"x\"}\n").unwrap_err();
        assert!(error.reason.contains("no `snippets`"), "{}", error.reason);
    }
}
