//! YouTube timedtext XML, the source of youtube-transcript-api's JSON and of yt-dlp's `srv*` files:
//!
//! * srv1: `<transcript><text start="s" dur="s">escaped text</text>…</transcript>` (seconds);
//! * srv3: `<timedtext format="3"><body><p t="ms" d="ms">text<s t="ms">word</s>…</p>…</body></timedtext>`
//!   (milliseconds, with word pieces whose offsets are relative to the paragraph).
//!
//! Text is unescaped, then HTML markup inside it (`&lt;i&gt;`) is removed.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use verbatim_model::{RawSnippet, RawTranscript, RawWord};

use crate::FormatError;
use crate::markup::{decode_entities, strip_tags, tidy_lines};

/// A cue being read: start and duration in seconds, its raw text, and srv3 word pieces
/// (offset in seconds from the cue's start, text).
#[derive(Debug, Default)]
struct OpenCue {
    start: f64,
    duration: f64,
    raw: String,
    pieces: Vec<(f64, String)>,
}

/// Parses timedtext XML (srv1 or srv3).
pub fn parse(text: &str) -> Result<Vec<RawTranscript<'static>>, FormatError> {
    let mut reader = Reader::from_str(text);
    let mut snippets: Vec<RawSnippet<'static>> = Vec::new();
    let mut current: Option<OpenCue> = None;
    let mut piece: Option<f64> = None;
    let mut seen_root = false;
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| located(text, position, e.to_string()))?;
        match event {
            Event::Start(tag) | Event::Empty(tag) if is_root(&tag) => seen_root = true,
            Event::Start(tag) if current.is_none() && matches!(tag.name().as_ref(), b"text" | b"p") => {
                current = Some(cue_times(&tag));
            }
            Event::Empty(tag) if matches!(tag.name().as_ref(), b"text" | b"p") => {
                let cue = cue_times(&tag);
                snippets.push(RawSnippet::new(String::new(), cue.start, cue.duration));
            }
            Event::Start(tag) if tag.name().as_ref() == b"s" => {
                piece = Some(attribute(&tag, b"t").unwrap_or(0.0) / 1000.0)
            }
            Event::Text(content) => {
                if let Some(cue) = current.as_mut() {
                    let raw = content.decode().map_err(|e| located(text, position, e.to_string()))?;
                    let unescaped = decode_entities(&raw).into_owned();
                    cue.raw.push_str(&unescaped);
                    if let Some(offset) = piece {
                        cue.pieces.push((offset, unescaped));
                    }
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(cue) = current.as_mut() {
                    let name = reference.decode().map_err(|e| located(text, position, e.to_string()))?;
                    let decoded = decode_entities(&format!("&{name};")).into_owned();
                    cue.raw.push_str(&decoded);
                    if let (Some(_), Some(last)) = (piece, cue.pieces.last_mut()) {
                        last.1.push_str(&decoded);
                    }
                }
            }
            Event::End(tag) if tag.name().as_ref() == b"s" => piece = None,
            Event::End(tag) if matches!(tag.name().as_ref(), b"text" | b"p") => {
                if let Some(cue) = current.take() {
                    snippets.push(snippet(cue));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(FormatError::whole_file("not YouTube timedtext: no <transcript> or <timedtext> element"));
    }
    Ok(vec![RawTranscript { snippets, ..RawTranscript::default() }])
}

fn is_root(tag: &BytesStart<'_>) -> bool {
    matches!(tag.name().as_ref(), b"transcript" | b"timedtext")
}

/// Start and duration in seconds: `start`/`dur` (seconds, srv1) or `t`/`d` (milliseconds, srv3).
fn cue_times(tag: &BytesStart<'_>) -> OpenCue {
    let (start, duration) = match attribute(tag, b"start") {
        Some(start) => (start, attribute(tag, b"dur").unwrap_or(f64::NAN)),
        None => (
            attribute(tag, b"t").map_or(f64::NAN, |t| t / 1000.0),
            attribute(tag, b"d").map_or(f64::NAN, |d| d / 1000.0),
        ),
    };
    OpenCue { start, duration, ..OpenCue::default() }
}

fn attribute(tag: &BytesStart<'_>, name: &[u8]) -> Option<f64> {
    let attribute = tag.try_get_attribute(name).ok()??;
    std::str::from_utf8(&attribute.value).ok()?.trim().parse().ok()
}

fn snippet(cue: OpenCue) -> RawSnippet<'static> {
    let OpenCue { start, duration, raw, pieces } = cue;
    // YouTube escapes HTML inside the XML: after XML unescaping, tags are removed and HTML entities decoded.
    let text = tidy_lines(&decode_entities(&strip_tags(&raw)));
    let mut snippet = RawSnippet::new(text, start, duration);
    let pieces: Vec<(f64, String)> =
        pieces.into_iter().map(|(t, w)| (t, w.trim().to_string())).filter(|(_, w)| !w.is_empty()).collect();
    snippet.words = pieces
        .iter()
        .enumerate()
        .map(|(i, (offset, word))| RawWord {
            text: Cow::Owned(word.clone()),
            start: start + offset,
            end: pieces.get(i + 1).map_or(start + duration, |next| start + next.0),
            confidence: None,
            speaker: None,
        })
        .collect();
    snippet
}

fn located(text: &str, position: u64, reason: String) -> FormatError {
    let before = &text.as_bytes()[..(position as usize).min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() as u64 + 1;
    FormatError { line, column, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv1_with_escaped_markup_and_empty_elements() {
        let xml = r#"<?xml version="1.0" encoding="utf-8" ?><transcript>
            <text start="0" dur="1.54">Hey, this is just a test</text>
            <text start="1.54" dur="4.16">this is &lt;i>not&lt;/i> the original &amp;amp; more</text>
            <text start="5" dur="0.5"></text><text start="6" dur="1"/></transcript>"#;
        let snippets = &parse(xml).unwrap()[0].snippets;
        let texts: Vec<&str> = snippets.iter().map(|s| s.text.as_ref()).collect();
        assert_eq!(texts, ["Hey, this is just a test", "this is not the original & more", "", ""]);
        assert_eq!((snippets[1].start, snippets[1].duration), (1.54, 4.16));
    }

    #[test]
    fn srv3_paragraphs_in_milliseconds_with_word_pieces() {
        let xml = r#"<timedtext format="3"><body><p t="1000" d="2000" w="1"><s ac="0">hello</s><s t="500"> world</s></p>
            <p t="3000" d="1000">plain &amp; simple</p></body></timedtext>"#;
        let snippets = &parse(xml).unwrap()[0].snippets;
        assert_eq!(snippets[0].text, "hello world");
        let words: Vec<(&str, f64, f64)> =
            snippets[0].words.iter().map(|w| (w.text.as_ref(), w.start, w.end)).collect();
        assert_eq!(words, [("hello", 1.0, 1.5), ("world", 1.5, 3.0)]);
        assert_eq!((snippets[1].text.as_ref(), snippets[1].start), ("plain & simple", 3.0));
    }

    #[test]
    fn broken_xml_reports_a_location() {
        let error = parse("<transcript>\n<text start=\"1\" dur=\"1\">a</txt>\n</transcript>").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(parse("<html></html>").unwrap_err().reason.contains("not YouTube timedtext"));
    }
}
