//! Transcripts written back out as the files people use: SRT, WebVTT, youtube-transcript-api
//! JSON and plain text, from a document's `segments` (and `words`) rows; optionally cut into
//! new cues of at most so many characters or seconds, on word timings where the archive has them.

use std::io::Write;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int32Type, Int64Type};

use crate::OutputError;

/// The transcript formats `verbatim export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptFormat {
    /// SubRip: sequential indices, `HH:MM:SS,mmm`, speakers as `[Speaker]: ` prefixes.
    Srt,
    /// WebVTT: `HH:MM:SS.mmm`, speakers as `<v Speaker>` voices.
    WebVtt,
    /// youtube-transcript-api JSON: `[{"text", "start", "duration"}]` in seconds (plus `speaker`
    /// when known, which youtube-transcript-api's readers ignore).
    YoutubeJson,
    /// Plain text, one cue a line (`Speaker: ` first when it changes).
    Text,
}

impl TranscriptFormat {
    /// Every format with its name.
    pub const NAMES: [(&'static str, TranscriptFormat); 4] = [
        ("srt", TranscriptFormat::Srt),
        ("vtt", TranscriptFormat::WebVtt),
        ("json", TranscriptFormat::YoutubeJson),
        ("txt", TranscriptFormat::Text),
    ];

    /// The format called `name` (`webvtt` is accepted for `vtt`).
    pub fn from_name(name: &str) -> Option<TranscriptFormat> {
        let name = name.trim().to_ascii_lowercase();
        let name = if name == "webvtt" { "vtt".to_string() } else { name };
        Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The file extension, which is also the name.
    pub fn extension(self) -> &'static str {
        Self::NAMES.iter().find(|(_, f)| *f == self).map(|(n, _)| *n).unwrap_or("txt")
    }
}

/// One cue: a time span, its text and who speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// Start in milliseconds.
    pub start_ms: i64,
    /// End in milliseconds.
    pub end_ms: i64,
    /// The text.
    pub text: String,
    /// The speaker, when known.
    pub speaker: Option<String>,
}

/// A timed word of a segment (`words` table).
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// The segment it belongs to.
    pub seq: i32,
    /// Start in milliseconds, when timed.
    pub start_ms: Option<i64>,
    /// End in milliseconds, when timed.
    pub end_ms: Option<i64>,
    /// The word as written.
    pub text: String,
}

/// How to cut cues anew; `None` fields do not constrain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// At most this many characters of text per cue.
    pub max_chars: Option<usize>,
    /// At most this many milliseconds per cue.
    pub max_duration_ms: Option<i64>,
}

impl Limits {
    /// Whether cues are to be cut anew at all.
    pub fn any(&self) -> bool {
        self.max_chars.is_some() || self.max_duration_ms.is_some()
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, OutputError> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| OutputError::Message(format!("transcript rows lack the column {name}")))
}

fn string_at(array: &dyn Array, row: usize) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Utf8View => array.as_string_view().value(row).to_string(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).to_string(),
        _ => array.as_string::<i32>().value(row).to_string(),
    })
}

fn int_at(array: &dyn Array, row: usize) -> Option<i64> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Int32 => Some(array.as_primitive::<Int32Type>().value(row) as i64),
        _ => Some(array.as_primitive::<Int64Type>().value(row)),
    }
}

/// The cues of a document's `segments` rows (columns `start_ms`, `end_ms`, `text`, `speaker`),
/// with their `seq`, in order.
pub fn cues_from(batches: &[RecordBatch]) -> Result<Vec<(i32, Cue)>, OutputError> {
    let mut cues = Vec::new();
    for batch in batches {
        let (seq, start, end) = (column(batch, "seq")?, column(batch, "start_ms")?, column(batch, "end_ms")?);
        let (text, speaker) = (column(batch, "text")?, column(batch, "speaker")?);
        for row in 0..batch.num_rows() {
            let cue = Cue {
                start_ms: int_at(start, row).unwrap_or(0),
                end_ms: int_at(end, row).unwrap_or(0),
                text: string_at(text, row).unwrap_or_default(),
                speaker: string_at(speaker, row),
            };
            cues.push((int_at(seq, row).unwrap_or(0) as i32, cue));
        }
    }
    Ok(cues)
}

/// The words of a document's `words` rows (columns `seq`, `start_ms`, `end_ms`, `word`), in order.
pub fn words_from(batches: &[RecordBatch]) -> Result<Vec<Word>, OutputError> {
    let mut words = Vec::new();
    for batch in batches {
        let (seq, start, end, word) =
            (column(batch, "seq")?, column(batch, "start_ms")?, column(batch, "end_ms")?, column(batch, "word")?);
        for row in 0..batch.num_rows() {
            words.push(Word {
                seq: int_at(seq, row).unwrap_or(0) as i32,
                start_ms: int_at(start, row),
                end_ms: int_at(end, row),
                text: string_at(word, row).unwrap_or_default(),
            });
        }
    }
    Ok(words)
}

/// Cuts the document's cues anew within `limits`: words are packed into cues in order, a new cue
/// starting when the speaker changes or when the next word would pass a limit. A segment's words
/// keep their own times where the archive has word timings; otherwise the segment's text is split
/// at spaces and its span shared out by characters. A single word longer than the duration limit
/// is shown for the limit.
pub fn resegment(cues: &[(i32, Cue)], words: &[Word], limits: &Limits) -> Vec<Cue> {
    let mut resegmenter = Resegmenter::new(*limits);
    let mut out = resegmenter.push(cues, words);
    out.extend(resegmenter.finish());
    out
}

/// [`resegment`] a piece at a time, for documents too long to hold: push the segments in order
/// with their words, take the cues that are complete, and the last one at the end.
#[derive(Debug)]
pub struct Resegmenter {
    limits: Limits,
    open: Option<Cue>,
}

impl Resegmenter {
    /// Cuts within `limits`.
    pub fn new(limits: Limits) -> Resegmenter {
        Resegmenter { limits, open: None }
    }

    /// Takes the next segments of the document (in order) and the words of those segments; the
    /// cues they complete.
    pub fn push(&mut self, cues: &[(i32, Cue)], words: &[Word]) -> Vec<Cue> {
        let mut out = Vec::new();
        let mut timed = words.iter().peekable();
        for (seq, cue) in cues {
            // The segment's own words; an untimed one (not aligned) takes the time where the
            // previous one ended, so no word is lost.
            let mut own: Vec<(String, i64, i64)> = Vec::new();
            let mut at = cue.start_ms;
            while let Some(word) = timed.next_if(|w| w.seq <= *seq) {
                if word.seq != *seq || word.text.trim().is_empty() {
                    continue;
                }
                let start = word.start_ms.unwrap_or(at).max(at.min(word.start_ms.unwrap_or(at)));
                let end = word.end_ms.unwrap_or(start).max(start);
                own.push((word.text.trim().to_string(), start, end));
                at = end;
            }
            if own.is_empty() {
                own = spread(cue);
            }
            for (word, start, end) in own {
                self.add_word(word, start, end, &cue.speaker, &mut out);
            }
        }
        out
    }

    /// The cue still open at the end of the document.
    pub fn finish(self) -> Option<Cue> {
        self.open
    }

    fn add_word(&mut self, word: String, start: i64, end: i64, speaker: &Option<String>, out: &mut Vec<Cue>) {
        let limits = self.limits;
        let speaker_changes = self.open.as_ref().is_some_and(|c| &c.speaker != speaker);
        let too_long = self.open.as_ref().is_some_and(|c| {
            limits.max_chars.is_some_and(|max| c.text.chars().count() + 1 + word.chars().count() > max)
                || limits.max_duration_ms.is_some_and(|max| end - c.start_ms > max)
        });
        if speaker_changes || too_long {
            out.extend(self.open.take());
        }
        match &mut self.open {
            Some(current) => {
                current.text.push(' ');
                current.text.push_str(&word);
                current.end_ms = current.end_ms.max(end);
            }
            None => {
                // A word longer than the limit alone (a long pause held on one word) is cut short.
                let end = limits.max_duration_ms.map_or(end, |max| end.min(start + max));
                self.open = Some(Cue { start_ms: start, end_ms: end, text: word, speaker: speaker.clone() });
            }
        }
    }
}

/// A cue's text split at whitespace, its span shared out in proportion to characters.
fn spread(cue: &Cue) -> Vec<(String, i64, i64)> {
    let words: Vec<&str> = cue.text.split_whitespace().collect();
    let total: usize = words.iter().map(|w| w.chars().count() + 1).sum::<usize>().max(1);
    let span = (cue.end_ms - cue.start_ms).max(0);
    let mut done = 0usize;
    words
        .into_iter()
        .map(|word| {
            let start = cue.start_ms + span * done as i64 / total as i64;
            done += word.chars().count() + 1;
            let end = cue.start_ms + span * done as i64 / total as i64;
            (word.to_string(), start, end)
        })
        .collect()
}

/// `HH:MM:SS` plus `separator` and milliseconds.
fn clock(ms: i64, separator: char) -> String {
    let ms = ms.max(0);
    format!("{:02}:{:02}:{:02}{separator}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Writes `cues` in `format`.
pub fn write(format: TranscriptFormat, cues: &[Cue], out: &mut dyn Write) -> std::io::Result<()> {
    let mut writer = CueWriter::new(format, out);
    for cue in cues {
        writer.write(cue)?;
    }
    writer.finish().map(drop)
}

/// Writes cues in a format one at a time, so that a document of any length streams out.
pub struct CueWriter<W: Write> {
    format: TranscriptFormat,
    out: W,
    /// Cues written so far.
    written: u64,
    /// The speaker of the last cue (plain text names a speaker when it changes).
    speaker: Option<String>,
}

impl<W: Write> CueWriter<W> {
    /// A writer of `format` to `out`.
    pub fn new(format: TranscriptFormat, out: W) -> CueWriter<W> {
        CueWriter { format, out, written: 0, speaker: None }
    }

    /// Cues written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes the next cue.
    pub fn write(&mut self, cue: &Cue) -> std::io::Result<()> {
        let out = &mut self.out;
        match self.format {
            TranscriptFormat::Srt => {
                let text = match &cue.speaker {
                    Some(speaker) => format!("[{speaker}]: {}", cue.text),
                    None => cue.text.clone(),
                };
                let text = if text.trim().is_empty() { " ".to_string() } else { text };
                let (start, end) = (clock(cue.start_ms, ','), clock(cue.end_ms, ','));
                write!(out, "{}\n{start} --> {end}\n{text}\n\n", self.written + 1)?;
            }
            TranscriptFormat::WebVtt => {
                if self.written == 0 {
                    out.write_all(b"WEBVTT\n\n")?;
                }
                let text = escape_vtt(&cue.text);
                let text = match &cue.speaker {
                    Some(speaker) => format!("<v {}>{text}", escape_vtt(speaker)),
                    None => text,
                };
                let text = if text.trim().is_empty() { " ".to_string() } else { text };
                write!(out, "{} --> {}\n{text}\n\n", clock(cue.start_ms, '.'), clock(cue.end_ms, '.'))?;
            }
            TranscriptFormat::YoutubeJson => {
                out.write_all(if self.written == 0 { b"[\n" } else { b",\n" })?;
                let snippet = Snippet {
                    text: &cue.text,
                    start: cue.start_ms as f64 / 1000.0,
                    duration: (cue.end_ms - cue.start_ms).max(0) as f64 / 1000.0,
                    speaker: cue.speaker.as_deref(),
                };
                // Pretty-printed as one element of an array indented by four spaces.
                let mut element = Vec::new();
                let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
                serde::Serialize::serialize(
                    &snippet,
                    &mut serde_json::Serializer::with_formatter(&mut element, formatter),
                )?;
                for (index, line) in element.split(|&byte| byte == b'\n').enumerate() {
                    if index > 0 {
                        out.write_all(b"\n")?;
                    }
                    out.write_all(b"    ")?;
                    out.write_all(line)?;
                }
            }
            TranscriptFormat::Text => {
                if cue.speaker.is_some() && cue.speaker != self.speaker {
                    self.speaker = cue.speaker.clone();
                    write!(out, "{}: ", self.speaker.as_deref().unwrap_or_default())?;
                }
                writeln!(out, "{}", cue.text)?;
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Ends the file (what the format needs after its last cue) and flushes it; the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        match self.format {
            TranscriptFormat::YoutubeJson if self.written == 0 => self.out.write_all(b"[]\n")?,
            TranscriptFormat::YoutubeJson => self.out.write_all(b"\n]\n")?,
            TranscriptFormat::WebVtt if self.written == 0 => self.out.write_all(b"WEBVTT\n\n")?,
            _ => {}
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A youtube-transcript-api snippet, keys in its order; `speaker` is an extra key its readers
/// ignore, so that speakers survive a round trip through verbatim.
#[derive(serde::Serialize)]
struct Snippet<'a> {
    text: &'a str,
    start: f64,
    duration: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    speaker: Option<&'a str>,
}

/// WebVTT cue text escapes (`&`, `<`, `>`), with newlines kept.
fn escape_vtt(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace("-->", "--&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start: i64, end: i64, text: &str, speaker: Option<&str>) -> Cue {
        Cue { start_ms: start, end_ms: end, text: text.into(), speaker: speaker.map(Into::into) }
    }

    fn written(format: TranscriptFormat, cues: &[Cue]) -> String {
        let mut out = Vec::new();
        write(format, cues, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn srt_and_webvtt_layouts() {
        let cues = [cue(0, 1500, "Hello <there>", Some("Ann")), cue(3_723_004, 3_725_000, "Bye & so", None)];
        assert_eq!(
            written(TranscriptFormat::Srt, &cues),
            "1\n00:00:00,000 --> 00:00:01,500\n[Ann]: Hello <there>\n\n2\n01:02:03,004 --> 01:02:05,000\nBye & so\n\n"
        );
        assert_eq!(
            written(TranscriptFormat::WebVtt, &cues),
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n<v Ann>Hello &lt;there&gt;\n\n01:02:03.004 --> 01:02:05.000\nBye &amp; so\n\n"
        );
        assert_eq!(written(TranscriptFormat::Text, &cues), "Ann: Hello <there>\nBye & so\n");
        let json: serde_json::Value = serde_json::from_str(&written(TranscriptFormat::YoutubeJson, &cues)).unwrap();
        assert_eq!(json[1]["start"], 3723.004);
        assert_eq!(json[1]["duration"], 1.996);
    }

    #[test]
    fn resegmenting_uses_word_timings_or_shares_the_span_out() {
        let cues = [(0, cue(0, 4000, "one two three four", Some("A"))), (1, cue(4000, 6000, "five six", Some("B")))];
        let words = [
            Word { seq: 0, start_ms: Some(0), end_ms: Some(500), text: "one".into() },
            Word { seq: 0, start_ms: Some(600), end_ms: Some(1000), text: "two".into() },
            Word { seq: 0, start_ms: Some(2000), end_ms: Some(2500), text: "three".into() },
            Word { seq: 0, start_ms: Some(3000), end_ms: Some(3900), text: "four".into() },
            Word { seq: 0, start_ms: None, end_ms: None, text: "4".into() },
        ];
        let limits = Limits { max_chars: Some(9), max_duration_ms: None };
        let cut = resegment(&cues, &words, &limits);
        let shown: Vec<(i64, i64, &str)> = cut.iter().map(|c| (c.start_ms, c.end_ms, c.text.as_str())).collect();
        assert_eq!(
            shown,
            [(0, 1000, "one two"), (2000, 2500, "three"), (3000, 3900, "four 4"), (4000, 6000, "five six")]
        );
        let by_time = resegment(&cues, &[], &Limits { max_chars: None, max_duration_ms: Some(2000) });
        assert_eq!(by_time[0].text, "one two", "the span is shared out by characters");
        assert!(by_time.iter().all(|c| c.end_ms - c.start_ms <= 2000));
        assert_eq!(by_time.last().unwrap().speaker.as_deref(), Some("B"), "speakers never share a cue");
    }

    #[test]
    fn no_cue_outlasts_the_duration_limit_even_for_one_long_word() {
        let cues = [(0, cue(0, 20_000, "a", None)), (1, cue(20_000, 21_000, "b c", None))];
        let words = [Word { seq: 0, start_ms: Some(500), end_ms: Some(16_000), text: "sooo".into() }];
        let cut = resegment(&cues, &words, &Limits { max_chars: None, max_duration_ms: Some(7000) });
        assert_eq!((cut[0].start_ms, cut[0].end_ms, cut[0].text.as_str()), (500, 7500, "sooo"));
        assert!(cut.iter().all(|c| c.end_ms - c.start_ms <= 7000), "{cut:?}");
    }

    #[test]
    fn pieces_cut_and_written_one_at_a_time_equal_the_whole() {
        let cues: Vec<(i32, Cue)> = (0..40)
            .map(|seq| (seq, cue(seq as i64 * 1000, seq as i64 * 1000 + 900, &format!("w{seq} x y"), None)))
            .collect();
        let limits = Limits { max_chars: Some(12), max_duration_ms: Some(2500) };
        let whole = resegment(&cues, &[], &limits);
        let mut pieces = Resegmenter::new(limits);
        let mut cut = Vec::new();
        for piece in cues.chunks(7) {
            cut.extend(pieces.push(piece, &[]));
        }
        cut.extend(pieces.finish());
        assert_eq!(cut, whole);
        // JSON written a cue at a time is what serde pretty-prints for the whole array.
        let snippets: Vec<Snippet<'_>> = cut
            .iter()
            .map(|c| Snippet {
                text: &c.text,
                start: c.start_ms as f64 / 1000.0,
                duration: (c.end_ms - c.start_ms) as f64 / 1000.0,
                speaker: None,
            })
            .collect();
        let mut whole_json = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        serde::Serialize::serialize(&snippets, &mut serde_json::Serializer::with_formatter(&mut whole_json, formatter))
            .unwrap();
        whole_json.push(b'\n');
        assert_eq!(written(TranscriptFormat::YoutubeJson, &cut), String::from_utf8(whole_json).unwrap());
        assert_eq!(written(TranscriptFormat::YoutubeJson, &[]), "[]\n");
    }
}
