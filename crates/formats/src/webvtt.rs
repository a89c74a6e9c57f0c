//! WebVTT, as real files write it.
//!
//! * Header `WEBVTT` (optionally followed by text) and header lines up to the first blank line;
//!   `NOTE`, `STYLE` and `REGION` blocks are skipped, never read as text.
//! * Optional cue identifiers; timing lines with settings; times with or without hours, unpadded
//!   (`0:0:3.540`), comma fractions. Blank lines inside a cue's text are tolerated.
//! * Cue text: `<v Name>` (also `<v.loud Name>`, unclosed) becomes the speaker; inline time stamps
//!   `<00:17.500>` become word timings; other tags and entities are removed from `text`.
//! * **Rolling captions** (YouTube auto-captions as fetched by yt-dlp): each line appears first as
//!   the new bottom line (with word timings), then again as the carried top line, between 10 ms
//!   "hold" cues and whitespace padding. Such files are recognised and each spoken line is stored
//!   once, with its word timings.

use std::borrow::Cow;

use verbatim_model::{RawSnippet, RawTranscript, RawWord};

use crate::FormatError;
use crate::markup::{decode_entities, parse_timestamp, strip_tags, tidy_lines};

/// A cue as written: its times, its lines of raw text and where it starts.
#[derive(Debug)]
struct Cue<'a> {
    start: f64,
    end: f64,
    lines: Vec<&'a str>,
}

/// Parses WebVTT text (already decoded, newlines normalised).
pub fn parse(text: &str, strict: bool) -> Result<Vec<RawTranscript<'static>>, FormatError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or("");
    let has_header = first.starts_with("WEBVTT") && first[6..].chars().next().is_none_or(|c| c == ' ' || c == '\t');
    if !has_header && (strict || !text.contains("-->")) {
        return Err(FormatError { line: 1, column: 1, reason: "not WebVTT: the first line is not `WEBVTT`".into() });
    }
    let cues = cues(text, strict)?;
    let parsed: Vec<Vec<CueLine>> = cues.iter().map(|c| c.lines.iter().map(|l| CueLine::parse(l)).collect()).collect();
    let rolling = is_rolling(&cues, &parsed);
    let mut snippets = Vec::with_capacity(cues.len());
    let mut previous_lines: Vec<String> = Vec::new();
    for (cue, mut parsed) in cues.iter().zip(parsed) {
        let speaker = parsed.iter_mut().find_map(|l| l.speaker.take());
        let mut lines: Vec<CueLine> = parsed.into_iter().filter(|l| !l.text.is_empty()).collect();
        if rolling {
            // Drop the lines carried over from the previous cue; what remains was newly spoken.
            let carried = lines.iter().zip(&previous_lines).take_while(|(l, p)| l.text == **p).count();
            let carried = if carried == 0 {
                lines.first().filter(|l| previous_lines.last() == Some(&l.text)).map_or(0, |_| 1)
            } else {
                carried
            };
            let all: Vec<String> = lines.iter().map(|l| l.text.clone()).collect();
            lines.drain(..carried);
            if !all.is_empty() {
                previous_lines = all;
            }
            if lines.is_empty() {
                continue;
            }
        }
        let words = words_of(&lines, cue.start, cue.end);
        let text = match lines.as_mut_slice() {
            [only] => std::mem::take(&mut only.text),
            lines => lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n"),
        };
        let mut snippet = RawSnippet::spanning(text, cue.start, cue.end).with_speaker(speaker.map(Cow::Owned));
        snippet.words = words;
        snippets.push(snippet);
    }
    if snippets.is_empty() {
        // A header (and notes) without a cue holds no transcript: a reject, as in every format.
        return Ok(Vec::new());
    }
    Ok(vec![RawTranscript { snippets, ..RawTranscript::default() }])
}

/// Splits the body into cues, skipping the header and NOTE/STYLE/REGION blocks.
fn cues(text: &str, strict: bool) -> Result<Vec<Cue<'_>>, FormatError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut cues: Vec<Cue> = Vec::new();
    let mut index = 0;
    // Header: up to the first blank line (unless a timing line comes first).
    while index < lines.len() && !lines[index].trim().is_empty() && !(index > 0 && lines[index].contains("-->")) {
        index += 1;
    }
    let mut in_cue = false;
    while index < lines.len() {
        let line = lines[index];
        let trimmed = line.trim();
        if trimmed.is_empty() {
            // A blank line ends the cue; leniently, text that follows without a timing of its own
            // (a blank line inside the cue, or a cue that lost its timing) stays with this cue.
            in_cue = in_cue && !strict && continues_cue(&lines, index + 1);
            index += 1;
            continue;
        }
        if !in_cue && is_block_keyword(trimmed) {
            while index < lines.len() && !lines[index].trim().is_empty() {
                index += 1;
            }
            continue;
        }
        if line.contains("-->") {
            match timing(line) {
                Some((start, end)) => {
                    cues.push(Cue { start, end, lines: Vec::new() });
                    in_cue = true;
                }
                None if strict => {
                    return Err(FormatError {
                        line: index as u64 + 1,
                        column: 1,
                        reason: format!("bad cue timing {trimmed:?}"),
                    });
                }
                // A malformed timing line: its cue cannot be placed; its text is skipped with it.
                None => in_cue = false,
            }
        } else if in_cue {
            cues.last_mut().expect("in a cue").lines.push(line);
        } else if strict && !lines.get(index + 1).is_some_and(|next| next.contains("-->")) {
            return Err(FormatError { line: index as u64 + 1, column: 1, reason: "text outside a cue".into() });
        }
        index += 1;
    }
    Ok(cues)
}

fn is_block_keyword(line: &str) -> bool {
    ["NOTE", "STYLE", "REGION"]
        .iter()
        .any(|k| line.strip_prefix(k).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t'])))
}

/// Whether the lines after a blank line at `next` continue the current cue's text.
fn continues_cue(lines: &[&str], next: usize) -> bool {
    let Some(line) = lines.get(next) else { return false };
    let trimmed = line.trim();
    !trimmed.is_empty()
        && !line.contains("-->")
        && !is_block_keyword(trimmed)
        && !lines.get(next + 1).is_some_and(|after| after.contains("-->"))
}

/// Parses `start --> end [settings]`.
fn timing(line: &str) -> Option<(f64, f64)> {
    let (start, rest) = line.split_once("-->")?;
    let end = rest.split_whitespace().next()?;
    Some((parse_timestamp(start)?, parse_timestamp(end)?))
}

/// One line of cue text, parsed.
#[derive(Debug)]
struct CueLine {
    /// Plain text: tags removed, entities decoded, spaces tidied.
    text: String,
    /// The voice of a `<v …>` tag on the line.
    speaker: Option<String>,
    /// Word-level pieces: (start time if stamped, text).
    pieces: Vec<(Option<f64>, String)>,
}

impl CueLine {
    fn parse(raw: &str) -> CueLine {
        let speaker = voice(raw);
        let mut pieces = Vec::new();
        if raw.as_bytes().windows(2).any(|pair| pair[0] == b'<' && pair[1].is_ascii_digit()) {
            let mut stamp = None;
            let mut rest = raw;
            while let Some(open) = rest.find('<') {
                let close = rest[open..].find('>').map(|c| open + c);
                let inner = close.map(|c| &rest[open + 1..c]);
                match inner.and_then(parse_timestamp) {
                    Some(time) => {
                        pieces.push((stamp, clean(&rest[..open])));
                        stamp = Some(time);
                        rest = &rest[close.expect("found") + 1..];
                    }
                    None => match close {
                        Some(c) => {
                            pieces.push((stamp, clean(&rest[..c + 1])));
                            rest = &rest[c + 1..];
                        }
                        None => break,
                    },
                }
            }
            pieces.push((stamp, clean(rest)));
            merge_unstamped(&mut pieces);
        }
        CueLine { text: clean(raw), speaker, pieces }
    }
}

/// Joins pieces that carry no new time stamp onto the piece before them.
fn merge_unstamped(pieces: &mut Vec<(Option<f64>, String)>) {
    let mut merged: Vec<(Option<f64>, String)> = Vec::new();
    let mut last_stamp = f64::NAN;
    for (stamp, text) in pieces.drain(..) {
        let new_word = stamp.is_some_and(|s| s.to_bits() != last_stamp.to_bits()) || merged.is_empty();
        if let Some(s) = stamp {
            last_stamp = s;
        }
        if new_word {
            merged.push((stamp, text));
        } else if let Some(last) = merged.last_mut() {
            last.1.push_str(&text);
        }
    }
    *pieces = merged.into_iter().map(|(s, t)| (s, t.trim().to_string())).filter(|(_, t)| !t.is_empty()).collect();
}

fn clean(raw: &str) -> String {
    tidy_lines(&decode_entities(&strip_tags(raw)))
}

/// The name in a `<v Name>` or `<v.class Name>` tag.
fn voice(raw: &str) -> Option<String> {
    let start = raw.find("<v")?;
    let tag = &raw[start + 2..];
    let end = tag.find('>')?;
    let inside = &tag[..end];
    let inside = match inside.chars().next()? {
        '.' => inside.split_once([' ', '\t']).map_or("", |(_, name)| name),
        ' ' | '\t' => inside,
        _ => return None,
    };
    let name = decode_entities(inside.trim()).into_owned();
    (!name.is_empty()).then_some(name)
}

/// Word timings of the lines that carry inline time stamps: a word ends where the next begins,
/// the last at the cue's end; the first starts at the cue's start.
fn words_of(lines: &[CueLine], cue_start: f64, cue_end: f64) -> Vec<RawWord<'static>> {
    let stamped: Vec<(f64, &str)> = lines
        .iter()
        .flat_map(|l| l.pieces.iter())
        .map(|(stamp, text)| (stamp.unwrap_or(cue_start), text.as_str()))
        .collect();
    stamped
        .iter()
        .enumerate()
        .map(|(i, (start, text))| RawWord {
            text: Cow::Owned(text.to_string()),
            start: *start,
            end: stamped.get(i + 1).map_or(cue_end, |next| next.0),
            confidence: None,
            speaker: None,
        })
        .collect()
}

/// Rolling captions: cues keep beginning with the previous cue's last line. YouTube's own
/// word-timed `<c>` markup makes one such carry-over enough.
fn is_rolling(cues: &[Cue<'_>], parsed: &[Vec<CueLine>]) -> bool {
    fn texts(lines: &[CueLine]) -> impl DoubleEndedIterator<Item = &str> {
        lines.iter().map(|l| l.text.as_str()).filter(|t| !t.is_empty())
    }
    let carried = parsed
        .windows(2)
        .filter(|pair| texts(&pair[0]).next_back().is_some_and(|last| texts(&pair[1]).next() == Some(last)))
        .count();
    let youtube_markup = cues.iter().flat_map(|c| &c.lines).any(|l| l.contains("><c>") || l.contains("<c."));
    (youtube_markup && carried >= 1) || (carried >= 2 && carried * 3 >= cues.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(vtt: &str) -> Vec<(f64, f64, String, Option<String>)> {
        parse(vtt, false).unwrap()[0]
            .snippets
            .iter()
            .map(|s| (s.start, s.start + s.duration, s.text.to_string(), s.speaker.as_ref().map(|s| s.to_string())))
            .collect()
    }

    #[test]
    fn cues_ids_settings_notes_and_styles() {
        let vtt = "WEBVTT - a title\nKind: captions\nLanguage: en\n\nSTYLE\n::cue { color: red }\n\nNOTE a comment\nspanning lines\n\n1\n00:00:01.000 --> 00:00:02.500 align:start position:0%\n<i>Hello</i> &amp; welcome\n\nslide-2\n00:03.000 --> 00:04.000\nsecond\nline\n";
        assert_eq!(
            texts(vtt),
            vec![(1.0, 2.5, "Hello & welcome".to_string(), None), (3.0, 4.0, "second\nline".to_string(), None)]
        );
    }

    #[test]
    fn voices_become_speakers() {
        let vtt = "WEBVTT\n\n00:00:09.000 --> 00:00:11.000\n<v Roger Bingham>We are in New York City\n\n00:00:11.000 --> 00:00:13.000\n<v.loud Mary>unclosed voice\n";
        let cues = texts(vtt);
        assert_eq!(cues[0].3.as_deref(), Some("Roger Bingham"));
        assert_eq!(cues[0].2, "We are in New York City");
        assert_eq!(cues[1].3.as_deref(), Some("Mary"));
    }

    #[test]
    fn blank_lines_inside_cue_text_are_tolerated() {
        let vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\nfirst\n\nstill first\n\n00:03.000 --> 00:04.000\nsecond\n";
        assert_eq!(texts(vtt).iter().map(|c| c.2.as_str()).collect::<Vec<_>>(), ["first\nstill first", "second"]);
    }

    #[test]
    fn malformed_timings_skip_their_cue_leniently_and_fail_strictly() {
        let vtt = "WEBVTT\n\n00:01.000 --> soon\nlost\n\n00:03.000 --> 00:04.000\nkept\n";
        assert_eq!(texts(vtt).len(), 1);
        let error = parse(vtt, true).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(parse("not a caption file", false).unwrap_err().reason.contains("not WebVTT"));
    }

    #[test]
    fn the_youtube_dl_fixture_keeps_each_line_once() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/external/webvtt-py/youtube_dl.vtt");
        let vtt = std::fs::read_to_string(path).expect("the fixture is in the repository");
        let cues = texts(&vtt);
        let lines: Vec<&str> = cues.iter().map(|c| c.2.as_str()).collect();
        assert_eq!(lines, ["yeah", "what", "this will happen is I'm telling"]);
        let snippets = &parse(&vtt, false).unwrap()[0].snippets;
        let words: Vec<(&str, f64)> = snippets[2].words.iter().map(|w| (w.text.as_ref(), w.start)).collect();
        assert_eq!(words[..3], [("this", 304.08), ("will", 304.199), ("happen", 304.379)]);
    }

    const ROLLING: &str = "WEBVTT\nKind: captions\nLanguage: en\n\n00:00:00.000 --> 00:00:02.000 align:start position:0%\n \nhello<00:00:00.500><c> there</c><00:00:01.000><c> friends</c>\n\n00:00:02.000 --> 00:00:02.010 align:start position:0%\nhello there friends\n \n\n00:00:02.010 --> 00:00:04.000 align:start position:0%\nhello there friends\nhow<00:00:02.500><c> are</c><00:00:03.000><c> you</c>\n\n00:00:04.000 --> 00:00:04.010 align:start position:0%\nhow are you\n \n\n00:00:04.010 --> 00:00:06.000 align:start position:0%\nhow are you\ngood<00:00:05.000><c> thanks</c>\n\n00:00:06.000 --> 00:00:06.010 align:start position:0%\ngood thanks\n \n";

    #[test]
    fn rolling_auto_captions_keep_each_spoken_line_once_with_word_timings() {
        let transcripts = parse(ROLLING, false).unwrap();
        let snippets = &transcripts[0].snippets;
        let lines: Vec<&str> = snippets.iter().map(|s| s.text.as_ref()).collect();
        assert_eq!(lines, ["hello there friends", "how are you", "good thanks"]);
        let words: Vec<(&str, f64, f64)> =
            snippets[1].words.iter().map(|w| (w.text.as_ref(), w.start, w.end)).collect();
        assert_eq!(words, [("how", 2.01, 2.5), ("are", 2.5, 3.0), ("you", 3.0, 4.0)]);
        assert_eq!((snippets[0].start, snippets[0].words[0].text.as_ref()), (0.0, "hello"));
    }

    #[test]
    fn ordinary_repeated_lines_are_not_taken_for_rolling_captions() {
        let vtt =
            "WEBVTT\n\n00:01.000 --> 00:02.000\nyes\n\n00:02.000 --> 00:03.000\nyes\n\n00:03.000 --> 00:04.000\nno\n";
        assert_eq!(texts(vtt).len(), 3);
    }
}
