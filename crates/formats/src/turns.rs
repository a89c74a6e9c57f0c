//! Timestamped speaker turns, the plain-text form podcasts and meeting tools publish:
//!
//! ```text
//! [Speaker 1] [00:03] Adam, can you hear me?
//! [Adam Leventhal] [01:29:37] Well, you sound terrific.
//! ```
//!
//! and Otter-style exports, a header line (name, two or more spaces, time) followed by the text:
//!
//! ```text
//! Speaker 1  0:03
//! Adam, can you hear me?
//! ```
//!
//! Times are `M:SS`, `MM:SS` or `H:MM:SS` (fractions of a second allowed). Each turn is a segment
//! with its speaker; it ends where the next turn starts (the last one has no known end).

use std::borrow::Cow;

use verbatim_model::{RawSnippet, RawTranscript};

use crate::FormatError;

/// Whether `text` looks like speaker turns: one of its first few non-blank lines (after a title,
/// say) is a bracketed turn or an Otter header.
pub fn sniff(text: &str) -> bool {
    let mut lines = text.trim_start_matches('\u{feff}').lines().map(str::trim).filter(|l| !l.is_empty()).take(5);
    lines.any(|line| bracketed(line).is_some() || header(line).is_some())
}

/// Parses speaker turns (text decoded; `\n` or `\r\n` line ends).
pub fn parse(text: &str, strict: bool) -> Result<Vec<RawTranscript<'_>>, FormatError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut turns: Vec<(f64, &str, Vec<&str>)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some((speaker, start, rest)) = bracketed(trimmed) {
            turns.push((start, speaker, if rest.is_empty() { Vec::new() } else { vec![rest] }));
        } else if let Some((speaker, start)) = header(trimmed) {
            turns.push((start, speaker, Vec::new()));
        } else if let Some(turn) = turns.last_mut() {
            if !trimmed.is_empty() {
                turn.2.push(trimmed);
            }
        } else if strict && !trimmed.is_empty() {
            // Leniently, a title or blurb before the first turn is skipped.
            return Err(FormatError {
                line: number as u64 + 1,
                column: 1,
                reason: format!("expected `[Speaker] [MM:SS] text` or `Name  M:SS`, found {trimmed:?}"),
            });
        }
    }
    if turns.is_empty() {
        return Err(FormatError::whole_file(
            "not speaker turns: no line like `[Speaker] [MM:SS] text` or `Name  M:SS`",
        ));
    }
    let starts: Vec<f64> = turns.iter().map(|t| t.0).collect();
    let snippets = turns
        .into_iter()
        .enumerate()
        .map(|(index, (start, speaker, lines))| {
            // A turn lasts until the next one starts; the last one's end is not known.
            let duration = starts.get(index + 1).map_or(f64::NAN, |next| (next - start).max(0.0));
            let text: Cow<'_, str> =
                if lines.len() == 1 { Cow::Borrowed(lines[0]) } else { Cow::Owned(lines.join(" ")) };
            RawSnippet::new(text, start, duration).with_speaker(Some(Cow::Borrowed(speaker)))
        })
        .collect();
    Ok(vec![RawTranscript { snippets, ..RawTranscript::default() }])
}

/// `[Speaker] [MM:SS] text` → (speaker, start seconds, text).
fn bracketed(line: &str) -> Option<(&str, f64, &str)> {
    let rest = line.strip_prefix('[')?;
    let (speaker, rest) = rest.split_once(']')?;
    let rest = rest.trim_start().strip_prefix('[')?;
    let (time, text) = rest.split_once(']')?;
    let speaker = speaker.trim();
    (!speaker.is_empty()).then_some(())?;
    Some((speaker, clock(time.trim())?, text.trim()))
}

/// `Name  0:03` (two or more spaces before the time, nothing after) → (name, start seconds).
fn header(line: &str) -> Option<(&str, f64)> {
    let (name, time) = line.rsplit_once("  ")?;
    let name = name.trim_end();
    if name.is_empty() || name.len() > 80 {
        return None;
    }
    Some((name, clock(time.trim())?))
}

/// `M:SS`, `MM:SS` or `H:MM:SS` (seconds may have a fraction) → seconds.
fn clock(time: &str) -> Option<f64> {
    let parts: Vec<&str> = time.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let (seconds, fields) = parts.split_last()?;
    let whole = seconds.split('.').next()?;
    if whole.len() != 2 || !seconds.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let seconds: f64 = seconds.parse().ok()?;
    let mut total = 0.0;
    for (index, field) in fields.iter().enumerate() {
        if !field.bytes().all(|b| b.is_ascii_digit()) || field.len() > 3 {
            return None;
        }
        let value: f64 = field.parse().ok()?;
        // Minutes and seconds below 60 when an hour field precedes them.
        if index > 0 && value >= 60.0 {
            return None;
        }
        total = total * 60.0 + value;
    }
    (seconds < 60.0).then_some(total * 60.0 + seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(text: &str) -> Vec<(String, f64, f64, String)> {
        parse(text, false).unwrap()[0]
            .snippets
            .iter()
            .map(|s| (s.speaker.as_deref().unwrap_or("").to_string(), s.start, s.duration, s.text.to_string()))
            .collect()
    }

    #[test]
    fn bracketed_turns_end_where_the_next_begins() {
        let text = "[Speaker 1] [00:03] Adam, can you hear me? I can\n[Adam Leventhal] [00:05] Well, you sound terrific.\n[Speaker 1] [00:32]\n[Speaker 2] [1:29:37] So it shipped.\n";
        let found = turns(text);
        assert_eq!(found[0], ("Speaker 1".into(), 3.0, 2.0, "Adam, can you hear me? I can".into()));
        assert_eq!(found[1].0, "Adam Leventhal");
        assert_eq!(found[2], ("Speaker 1".into(), 32.0, 5345.0, String::new()));
        assert_eq!(found[3].1, 5377.0);
        assert!(found[3].2.is_nan(), "the last turn's end is not known");
        assert!(sniff(text));
    }

    #[test]
    fn otter_headers_take_the_lines_below_them() {
        let text = "Team sync\n\nAlice Smith  0:03\nHello everyone.\nLet's start.\n\nBob  1:02:10\nThanks.\n";
        let found = turns(text);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], ("Alice Smith".into(), 3.0, 3727.0, "Hello everyone. Let's start.".into()));
        assert_eq!(found[1].1, 3730.0);
        assert!(parse(text, true).is_err(), "strict: the title line is not a turn");
        assert!(sniff("Alice  0:03\nHello"));
        assert!(sniff("Weekly sync\n\nAlice  0:03\nHello"), "after a title");
    }

    #[test]
    fn other_text_is_not_speaker_turns() {
        assert!(!sniff("[Script Info]\nTitle: x"));
        assert!(!sniff("[00:00.000 -> 00:02.000] whisper-jax"));
        assert!(!sniff("Just some notes  about things"));
        assert!(parse("notes\nmore notes", false).unwrap_err().reason.contains("not speaker turns"));
        assert_eq!(clock("61:00"), Some(3660.0), "minutes may pass 59 without an hour field");
        assert_eq!(clock("1:61:00"), None);
        assert_eq!(clock("0:03.5"), Some(3.5));
        assert_eq!(clock("3"), None);
    }
}
