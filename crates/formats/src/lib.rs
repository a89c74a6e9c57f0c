//! Transcript file formats, each parsed into the shared model ([`verbatim_model::RawTranscript`]).
//!
//! Readers never stop a batch: a file that cannot be read gives a [`FormatError`] with the line,
//! column and reason, and the caller records it. Inconsistent values inside a readable file are
//! left to normalisation, which repairs and counts them.

pub mod youtube_json;

use verbatim_model::RawTranscript;

/// The formats verbatim reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// youtube-transcript-api JSON: `[{"text", "start", "duration"}]`, or the CLI's array of arrays.
    YoutubeJson,
}

impl Format {
    /// The name stored in the `documents.format` column.
    pub fn name(self) -> &'static str {
        match self {
            Format::YoutubeJson => "youtube-json",
        }
    }

    /// The format a file is read as, by its extension; `None` for files no reader takes.
    pub fn for_path(path: &std::path::Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "json" => Some(Format::YoutubeJson),
            _ => None,
        }
    }

    /// Parses a whole file's bytes into its transcripts.
    pub fn parse(self, bytes: &[u8]) -> Result<Vec<RawTranscript<'_>>, FormatError> {
        match self {
            Format::YoutubeJson => youtube_json::parse(bytes),
        }
    }
}

/// Why a file could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {reason}")]
pub struct FormatError {
    /// 1-based line of the problem (0 when it concerns the whole file).
    pub line: u64,
    /// 1-based column of the problem (0 when it concerns the whole file).
    pub column: u64,
    /// What is wrong, for a person.
    pub reason: String,
}

impl FormatError {
    /// An error about the whole file rather than one place in it.
    pub fn whole_file(reason: impl Into<String>) -> Self {
        FormatError { line: 0, column: 0, reason: reason.into() }
    }
}
