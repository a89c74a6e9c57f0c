//! Normalisation of raw snippets into segments.
//!
//! Times become integer milliseconds. A caption's `duration` is display time, and on auto-generated
//! tracks nearly every caption overlaps the next, so the end of a segment is
//! `min(start + duration, next start)` (never before its own start); the raw duration is kept.
//! Unusable values (`NaN`, infinities, negatives) are repaired and counted, never dropped silently.

use crate::{RawSnippet, RawWord};

/// One normalised caption.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment<'a> {
    /// Position in the transcript, from 0, in file order.
    pub seq: i32,
    /// Start in milliseconds.
    pub start_ms: i64,
    /// Normalised end in milliseconds: `min(start + duration, next start)`, at least `start_ms`.
    pub end_ms: i64,
    /// The raw duration in milliseconds as the file gave it (even if negative); `None` when the
    /// file had none or it was not a finite number.
    pub duration_ms: Option<i64>,
    /// The caption text.
    pub text: &'a str,
    /// Who speaks, when known.
    pub speaker: Option<&'a str>,
    /// The raw word timings of this caption; see [`Segment::words`].
    pub raw_words: &'a [RawWord<'a>],
}

/// One normalised timed word.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Word<'a> {
    /// Position in its segment, from 0.
    pub index: i32,
    /// Start in milliseconds, `None` when the file gives none (unaligned words).
    pub start_ms: Option<i64>,
    /// End in milliseconds (at least the start), `None` when unknown.
    pub end_ms: Option<i64>,
    /// The word as written.
    pub word: &'a str,
    /// Recognition confidence (0-1).
    pub confidence: Option<f64>,
    /// Who speaks (the word's own label, else the segment's).
    pub speaker: Option<&'a str>,
}

impl<'a> Segment<'a> {
    /// The segment's words with times in milliseconds (an end before the start is raised to it).
    pub fn words(&self) -> impl Iterator<Item = Word<'a>> + 'a {
        let speaker = self.speaker;
        self.raw_words.iter().enumerate().map(move |(index, w)| {
            let start_ms = seconds_to_ms(w.start);
            let end_ms = seconds_to_ms(w.end).map(|end| start_ms.map_or(end, |start| end.max(start)));
            Word {
                index: index as i32,
                start_ms,
                end_ms,
                word: &w.text,
                confidence: w.confidence.filter(|c| c.is_finite()),
                speaker: w.speaker.as_deref().or(speaker),
            }
        })
    }
}

/// A caption displayed longer than this (with no next caption to end it first) is taken to end here:
/// real tracks end a last caption at 99:59:59.999, while captions and even chapters last seconds
/// to minutes.
pub const MAX_CAPTION_MS: i64 = 600_000;

/// What normalisation had to repair in one transcript.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NormaliseStats {
    /// Segments whose end was cut back to the next segment's start.
    pub overlaps_clipped: u64,
    /// Segments whose start was missing, not finite or negative (set to the previous start).
    pub bad_starts: u64,
    /// Segments whose duration was missing, not finite or negative (end taken from the next start).
    pub bad_durations: u64,
    /// Segments that start before the previous one.
    pub out_of_order: u64,
    /// Segments with no text.
    pub empty_texts: u64,
    /// Segments whose end was cut to [`MAX_CAPTION_MS`] after their start.
    pub absurd_durations: u64,
}

impl NormaliseStats {
    /// Adds another transcript's counts to these.
    pub fn add(&mut self, other: &NormaliseStats) {
        self.overlaps_clipped += other.overlaps_clipped;
        self.bad_starts += other.bad_starts;
        self.bad_durations += other.bad_durations;
        self.out_of_order += other.out_of_order;
        self.empty_texts += other.empty_texts;
        self.absurd_durations += other.absurd_durations;
    }
}

/// Converts seconds to whole milliseconds, or `None` for values that are not finite or negative.
pub fn seconds_to_ms(seconds: f64) -> Option<i64> {
    if seconds.is_finite() && seconds >= 0.0 {
        // `as` saturates, so absurd values stay absurd but never wrap.
        Some((seconds * 1000.0).round() as i64)
    } else {
        None
    }
}

/// Normalises a transcript's snippets into segments, calling `emit` for each in order.
pub fn normalise<'a>(snippets: &'a [RawSnippet<'_>], mut emit: impl FnMut(Segment<'a>)) -> NormaliseStats {
    let mut stats = NormaliseStats::default();
    let starts = repaired_starts(snippets, &mut stats);
    for (index, snippet) in snippets.iter().enumerate() {
        let start_ms = starts[index];
        let raw_duration_ms = snippet.duration.is_finite().then(|| (snippet.duration * 1000.0).round() as i64);
        let next_start = starts.get(index + 1).copied();
        let own_end = match seconds_to_ms(snippet.duration) {
            Some(duration) => Some(start_ms.saturating_add(duration)),
            None => {
                stats.bad_durations += 1;
                None
            }
        };
        let end_ms = match (own_end, next_start) {
            (Some(end), Some(next)) if end > next => {
                stats.overlaps_clipped += 1;
                next
            }
            (Some(end), _) => end,
            (None, Some(next)) => next,
            (None, None) => start_ms,
        };
        let end_ms = if end_ms.saturating_sub(start_ms) > MAX_CAPTION_MS {
            stats.absurd_durations += 1;
            start_ms + MAX_CAPTION_MS
        } else {
            end_ms
        };
        if snippet.text.trim().is_empty() {
            stats.empty_texts += 1;
        }
        emit(Segment {
            seq: index as i32,
            start_ms,
            end_ms: end_ms.max(start_ms),
            duration_ms: raw_duration_ms,
            text: &snippet.text,
            speaker: snippet.speaker.as_deref(),
            raw_words: &snippet.words,
        });
    }
    stats
}

/// Start times in milliseconds, with unusable ones replaced by the previous start (or 0).
fn repaired_starts(snippets: &[RawSnippet<'_>], stats: &mut NormaliseStats) -> Vec<i64> {
    let mut previous: Option<i64> = None;
    snippets
        .iter()
        .map(|snippet| {
            let start = match seconds_to_ms(snippet.start) {
                Some(start) => {
                    if previous.is_some_and(|p| start < p) {
                        stats.out_of_order += 1;
                    }
                    start
                }
                None => {
                    stats.bad_starts += 1;
                    previous.unwrap_or(0)
                }
            };
            previous = Some(start);
            start
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn snippet(start: f64, duration: f64) -> RawSnippet<'static> {
        RawSnippet::new(Cow::Borrowed("x"), start, duration)
    }

    fn run(snippets: &[RawSnippet<'_>]) -> (Vec<(i64, i64, Option<i64>)>, NormaliseStats) {
        let mut out = Vec::new();
        let stats = normalise(snippets, |s| out.push((s.start_ms, s.end_ms, s.duration_ms)));
        (out, stats)
    }

    #[test]
    fn overlapping_durations_are_clipped_to_the_next_start_and_raw_kept() {
        let (segments, stats) = run(&[snippet(0.8, 2.71), snippet(3.52, 2.72), snippet(5.84, 2.32)]);
        assert_eq!(segments, vec![(800, 3510, Some(2710)), (3520, 5840, Some(2720)), (5840, 8160, Some(2320))]);
        assert_eq!(stats.overlaps_clipped, 1);
    }

    #[test]
    fn auto_caption_style_double_overlap_is_clipped() {
        // duration[i] == start[i+2] - start[i], as on YouTube auto-generated tracks.
        let (segments, stats) = run(&[snippet(0.0, 4.0), snippet(2.0, 4.0), snippet(4.0, 1.0)]);
        assert_eq!(segments[0], (0, 2000, Some(4000)));
        assert_eq!(segments[1], (2000, 4000, Some(4000)));
        assert_eq!(stats.overlaps_clipped, 2);
    }

    #[test]
    fn nan_and_negative_values_are_repaired_and_counted() {
        let (segments, stats) = run(&[
            snippet(1.0, f64::NAN),
            snippet(f64::NAN, 1.0),
            snippet(3.0, -2.0),
            snippet(f64::INFINITY, f64::NEG_INFINITY),
        ]);
        assert_eq!(segments[0], (1000, 1000, None), "NaN duration ends at the next start");
        assert_eq!(segments[1], (1000, 2000, Some(1000)), "NaN start takes the previous start");
        assert_eq!(segments[2], (3000, 3000, Some(-2000)), "a negative duration is unusable but kept raw");
        assert_eq!(segments[3], (3000, 3000, None));
        assert_eq!(stats.bad_starts, 2);
        assert_eq!(stats.bad_durations, 3);
    }

    #[test]
    fn out_of_order_starts_never_give_an_end_before_the_start() {
        let (segments, stats) = run(&[snippet(5.0, 3.0), snippet(2.0, 1.0)]);
        assert_eq!(segments[0], (5000, 5000, Some(3000)));
        assert_eq!(segments[1], (2000, 3000, Some(1000)));
        assert_eq!(stats.out_of_order, 1);
    }

    #[test]
    fn absurd_durations_are_capped_and_counted_and_kept_raw() {
        let (segments, stats) = run(&[snippet(1.0, 2.0), snippet(3.0, 359301.532), snippet(1e300, 1e300)]);
        assert_eq!(
            segments[1],
            (3000, 603_000, Some(359_301_532)),
            "the last caption ends ten minutes after it starts"
        );
        assert!(segments[2].1 >= segments[2].0);
        assert_eq!(stats.absurd_durations, 1);
    }

    #[test]
    fn words_get_milliseconds_and_inherit_the_segment_speaker() {
        let mut with_words = snippet(1.0, 2.0).with_speaker(Some("A".into()));
        with_words.words = vec![
            RawWord { text: "hi".into(), start: 1.0, end: 1.4, confidence: Some(0.9), speaker: None },
            RawWord {
                text: "there".into(),
                start: f64::NAN,
                end: f64::NAN,
                confidence: None,
                speaker: Some("B".into()),
            },
            RawWord { text: "back".into(), start: 2.0, end: 1.5, confidence: Some(f64::NAN), speaker: None },
        ];
        let snippets = [with_words, RawSnippet::new("", 3.0, 1.0)];
        let mut words = Vec::new();
        let stats = normalise(&snippets, |s| {
            words.extend(s.words().map(|w| (w.index, w.start_ms, w.end_ms, w.speaker, w.confidence)))
        });
        assert_eq!(words[0], (0, Some(1000), Some(1400), Some("A"), Some(0.9)));
        assert_eq!(words[1], (1, None, None, Some("B"), None), "unaligned words keep no times");
        assert_eq!(words[2], (2, Some(2000), Some(2000), Some("A"), None), "end raised to the start");
        assert_eq!(stats.empty_texts, 1);
    }

    #[test]
    fn seconds_are_rounded_to_the_nearest_millisecond() {
        assert_eq!(seconds_to_ms(7.6000000000000005), Some(7600));
        assert_eq!(seconds_to_ms(0.0005), Some(1));
        assert_eq!(seconds_to_ms(-0.1), None);
    }
}
