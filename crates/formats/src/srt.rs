//! SubRip (SRT), read as leniently as the `srt` and `pysubs2` parsers: no formal spec exists and
//! real files break every rule.
//!
//! A cue starts at any line holding two time stamps around an arrow (`-->`, `->`, `- ->`, `—>`),
//! so missing or odd indices and missing blank lines are tolerated; a number alone on the line
//! before a timing line is that cue's index. Delimiters `.`, `,`, `:` and fullwidth forms, missing
//! milliseconds, hours beyond 24 and coordinates after the timing (`X1:63 X2:223 …`) are read.
//! Markup (`<i> <b> <u> <font>`, ASS overrides `{\an8}`) and entities are removed from `text`;
//! a WhisperX `[SPEAKER_00]: ` prefix becomes the speaker.

use std::borrow::Cow;

use verbatim_model::{RawSnippet, RawTranscript};

use crate::FormatError;
use crate::markup::{decode_entities, parse_timestamp, strip_tags, tidy_lines};

/// Parses SRT text (already decoded, newlines normalised).
pub fn parse(text: &str, strict: bool) -> Result<Vec<RawTranscript<'static>>, FormatError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut cues: Vec<(f64, f64, Vec<&str>)> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if let Some((start, end, same_line_text)) = timing(line) {
            // A bare number right before the timing line is the cue's index, not text.
            if let Some(previous) = cues.last_mut()
                && previous.2.last().is_some_and(|l| is_index(l))
            {
                previous.2.pop();
            }
            cues.push((start, end, same_line_text.into_iter().collect()));
        } else if let Some(cue) = cues.last_mut() {
            cue.2.push(line);
        } else if strict && !line.trim().is_empty() && !is_index(line) {
            return Err(FormatError {
                line: index as u64 + 1,
                column: 1,
                reason: format!("expected a cue index or timing, found {:?}", line.trim()),
            });
        }
        index += 1;
    }
    if cues.is_empty() && text.trim().chars().any(|c| !c.is_whitespace()) {
        return Err(FormatError::whole_file("not SRT: no line holds a `start --> end` timing"));
    }
    if cues.is_empty() {
        // An empty file holds no transcript, as in every other format (a reject, not a document).
        return Ok(Vec::new());
    }
    let snippets = cues
        .into_iter()
        .map(|(start, end, text_lines)| {
            let raw = text_lines.join("\n");
            let cleaned = tidy_lines(&decode_entities(&strip_tags(&raw)));
            let (speaker, text) = speaker_prefix(&cleaned);
            RawSnippet::spanning(text.to_string(), start, end).with_speaker(speaker.map(|s| Cow::Owned(s.to_string())))
        })
        .collect();
    Ok(vec![RawTranscript { snippets, ..RawTranscript::default() }])
}

fn is_index(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a timing line: `start ARROW end [coordinates]`, or Whisper-JAX's `[start -> end] text`
/// (whose text follows on the same line).
fn timing(line: &str) -> Option<(f64, f64, Option<&str>)> {
    if let Some(inner) = line.trim_start().strip_prefix('[')
        && let Some((times, text)) = inner.split_once(']')
    {
        let (start, end, _) = timing(times)?;
        return Some((start, end, Some(text.trim())));
    }
    let normalised = line.replace(['—', '–'], "-").replace("- ->", "-->");
    let (left, right) = normalised.split_once("->")?;
    let start = left.trim_end().trim_end_matches('-');
    let end = right.split_whitespace().next()?;
    Some((parse_timestamp(start)?, parse_timestamp(end)?, None))
}

/// Splits a WhisperX `[SPEAKER_00]: ` prefix off the text.
fn speaker_prefix(text: &str) -> (Option<&str>, &str) {
    if let Some(rest) = text.strip_prefix('[')
        && let Some((label, after)) = rest.split_once("]:")
        && !label.is_empty()
        && label.len() <= 40
        && !label.contains('\n')
    {
        return (Some(label.trim()), after.trim_start());
    }
    (None, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cues(srt: &str) -> Vec<(f64, f64, String, Option<String>)> {
        parse(srt, false).unwrap()[0]
            .snippets
            .iter()
            .map(|s| (s.start, s.start + s.duration, s.text.to_string(), s.speaker.as_ref().map(|s| s.to_string())))
            .collect()
    }

    #[test]
    fn plain_cues() {
        let srt = "1\n00:00:01,000 --> 00:00:02,500\nHello <i>there</i>\nsecond line\n\n2\n00:00:03,000 --> 00:00:04,000\n&lt;b&gt; is markup\n";
        assert_eq!(
            cues(srt),
            vec![
                (1.0, 2.5, "Hello there\nsecond line".to_string(), None),
                (3.0, 4.0, "<b> is markup".to_string(), None)
            ]
        );
    }

    #[test]
    fn missing_blank_lines_odd_indices_arrows_and_coordinates() {
        let srt = "7\n00:00:01.000 -> 00:00:02.000 X1:63 X2:223 Y1:43 Y2:58\n{\\an8}one\n00:00:02,000 - -> 00:00:03\ntwo\n12\n0:0:4,5 --> 0:0:5,25\nthree\n";
        let parsed = cues(srt);
        assert_eq!(parsed.iter().map(|c| c.2.as_str()).collect::<Vec<_>>(), ["one", "two", "three"]);
        assert_eq!((parsed[1].0, parsed[1].1), (2.0, 3.0));
        assert_eq!((parsed[2].0, parsed[2].1), (4.5, 5.25));
    }

    #[test]
    fn whisper_jax_bracketed_lines() {
        let parsed = cues("[00:00.000 -> 00:02.500]  Hello world.\n[00:02.500 -> 00:04.000]  Again.\n");
        assert_eq!(parsed, vec![(0.0, 2.5, "Hello world.".into(), None), (2.5, 4.0, "Again.".into(), None)]);
    }

    #[test]
    fn whisperx_speaker_prefixes() {
        let srt = "1\n00:00:00,000 --> 00:00:01,000\n[SPEAKER_00]: Hello.\n\n2\n00:00:01,000 --> 00:00:02,000\n[music] plays\n";
        let parsed = cues(srt);
        assert_eq!(parsed[0].2, "Hello.");
        assert_eq!(parsed[0].3.as_deref(), Some("SPEAKER_00"));
        assert_eq!(parsed[1], (1.0, 2.0, "[music] plays".to_string(), None));
    }

    #[test]
    fn empty_cues_are_kept_and_non_srt_is_rejected() {
        let parsed = cues("1\n00:00:01,000 --> 00:00:02,000\n\n2\n00:00:03,000 --> 00:00:04,000\nx\n");
        assert_eq!(parsed[0].2, "");
        assert!(parse("", false).unwrap().is_empty(), "an empty file holds no transcript");
        assert!(parse("\n\n", true).unwrap().is_empty());
        assert!(parse("just some text\n", false).unwrap_err().reason.contains("not SRT"));
        assert_eq!(parse("junk\n1\n00:00:01,000 --> 00:00:02,000\nx\n", true).unwrap_err().line, 1);
    }

    #[test]
    fn a_line_of_brackets_is_text() {
        let line = format!("{}0 -> 1] x", "[".repeat(200_000));
        let parsed = cues(&format!("1\n00:00:01,000 --> 00:00:02,000\nhi\n{line}\n"));
        assert_eq!(parsed.len(), 1);
        assert!(parsed[0].2.ends_with("0 -> 1] x"), "kept as text");
    }
}
