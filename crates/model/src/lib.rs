//! The transcript model every verbatim stage shares.
//!
//! Formats parse files into [`RawSnippet`]s exactly as written (seconds, possibly inconsistent);
//! [`normalise`] turns them into [`Segment`]s with integer milliseconds and a normalised end time;
//! [`words`] defines what a word is, for word counts at ingest and the `tokenize` SQL function alike.

pub mod normalise;
pub mod words;

pub use normalise::{NormaliseStats, Segment, normalise};

use std::borrow::Cow;

/// One caption as a file gives it: times in seconds, not yet checked or normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSnippet<'a> {
    /// The caption text, borrowed from the file where possible.
    pub text: Cow<'a, str>,
    /// Start time in seconds; `NaN` when the file had none or an unusable value.
    pub start: f64,
    /// Display duration in seconds; `NaN` when the file had none or an unusable value.
    pub duration: f64,
}

/// One transcript of one video, as read from a file (a file may hold several).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawTranscript<'a> {
    /// The captions in file order.
    pub snippets: Vec<RawSnippet<'a>>,
}
