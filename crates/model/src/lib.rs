//! The transcript model every verbatim stage shares.
//!
//! Formats parse files into [`RawSnippet`]s exactly as written (seconds, possibly inconsistent);
//! [`normalise`] turns them into [`Segment`]s with integer milliseconds and a normalised end time;
//! [`words`] defines what a word is, for word counts at ingest and the `tokenize` SQL function alike;
//! [`budget`] divides the one memory limit of a process between the stages that run in it.

pub mod budget;
pub mod normalise;
pub mod words;

pub use budget::MemoryBudget;
pub use normalise::{NormaliseStats, Segment, Word, normalise};

use std::borrow::Cow;

/// One caption as a file gives it: times in seconds, not yet checked or normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSnippet<'a> {
    /// The caption text (markup already removed), borrowed from the file where possible.
    pub text: Cow<'a, str>,
    /// Start time in seconds; `NaN` when the file had none or an unusable value.
    pub start: f64,
    /// Display duration in seconds; `NaN` when the file had none or an unusable value.
    pub duration: f64,
    /// Who speaks, when the file says.
    pub speaker: Option<Cow<'a, str>>,
    /// Word timings, when the file has them.
    pub words: Vec<RawWord<'a>>,
}

impl<'a> RawSnippet<'a> {
    /// A caption with a start and a duration (youtube-transcript-api style).
    pub fn new(text: impl Into<Cow<'a, str>>, start: f64, duration: f64) -> Self {
        RawSnippet { text: text.into(), start, duration, speaker: None, words: Vec::new() }
    }

    /// A caption with a start and an end (subtitle style); the raw duration is `end - start`.
    pub fn spanning(text: impl Into<Cow<'a, str>>, start: f64, end: f64) -> Self {
        Self::new(text, start, end - start)
    }

    /// This caption with `speaker`.
    pub fn with_speaker(mut self, speaker: Option<Cow<'a, str>>) -> Self {
        self.speaker = speaker.filter(|s| !s.trim().is_empty());
        self
    }

    /// A copy that owns its strings.
    pub fn into_owned(self) -> RawSnippet<'static> {
        RawSnippet {
            text: Cow::Owned(self.text.into_owned()),
            start: self.start,
            duration: self.duration,
            speaker: self.speaker.map(|s| Cow::Owned(s.into_owned())),
            words: self.words.into_iter().map(RawWord::into_owned).collect(),
        }
    }
}

/// One timed word as a file gives it (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct RawWord<'a> {
    /// The word as written (may carry punctuation).
    pub text: Cow<'a, str>,
    /// Start in seconds; `NaN` when unknown (e.g. words WhisperX could not align).
    pub start: f64,
    /// End in seconds; `NaN` when unknown.
    pub end: f64,
    /// Recognition confidence (0-1), when given.
    pub confidence: Option<f64>,
    /// Who speaks, when given per word.
    pub speaker: Option<Cow<'a, str>>,
}

impl RawWord<'_> {
    /// A copy that owns its strings.
    pub fn into_owned(self) -> RawWord<'static> {
        RawWord {
            text: Cow::Owned(self.text.into_owned()),
            start: self.start,
            end: self.end,
            confidence: self.confidence,
            speaker: self.speaker.map(|s| Cow::Owned(s.into_owned())),
        }
    }
}

/// What a file says about the transcript besides its captions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TranscriptMeta {
    /// YouTube video id.
    pub video_id: Option<String>,
    /// Language tag, verbatim (`en`, `en-GB`, `zh-Hant`) or the name a tool gives (`english`).
    pub language: Option<String>,
    /// Whether the captions were generated automatically (speech recognition).
    pub is_generated: Option<bool>,
    /// Title of the video or episode.
    pub title: Option<String>,
    /// Channel, uploader or show.
    pub channel: Option<String>,
    /// Publication date (ISO 8601 date or date-time).
    pub published_at: Option<String>,
}

impl TranscriptMeta {
    /// Fills the fields this one lacks from `other`.
    pub fn or(self, other: &TranscriptMeta) -> TranscriptMeta {
        TranscriptMeta {
            video_id: self.video_id.or_else(|| other.video_id.clone()),
            language: self.language.or_else(|| other.language.clone()),
            is_generated: self.is_generated.or(other.is_generated),
            title: self.title.or_else(|| other.title.clone()),
            channel: self.channel.or_else(|| other.channel.clone()),
            published_at: self.published_at.or_else(|| other.published_at.clone()),
        }
    }
}

/// One transcript of one video, as read from a file (a file may hold several).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawTranscript<'a> {
    /// Its key within a file holding several (`<video id>.<language>[.auto]`), when the file says;
    /// the document id is then `<file's id>#<key>`.
    pub key: Option<String>,
    /// What the file says about it.
    pub meta: TranscriptMeta,
    /// The captions in file order.
    pub snippets: Vec<RawSnippet<'a>>,
}

impl RawTranscript<'_> {
    /// A copy that owns its strings.
    pub fn into_owned(self) -> RawTranscript<'static> {
        RawTranscript {
            key: self.key,
            meta: self.meta,
            snippets: self.snippets.into_iter().map(RawSnippet::into_owned).collect(),
        }
    }
}
