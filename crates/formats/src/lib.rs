//! Transcript file formats, each parsed into the shared model ([`verbatim_model::RawTranscript`]).
//!
//! Readers never stop a batch: a file that cannot be read gives a [`FormatError`] with the line,
//! column and reason, and the caller records it. Inconsistent values inside a readable file are
//! left to normalisation, which repairs and counts them.

pub mod decode;
pub mod jsonl;
pub mod markup;
pub mod pyjson;
pub mod sidecar;
pub mod speech_json;
pub mod srt;
pub mod timedtext;
pub mod turns;
mod unsupported;
pub mod webvtt;
pub mod youtube_json;

use verbatim_model::RawTranscript;

/// The formats verbatim reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// youtube-transcript-api JSON: `[{"text", "start", "duration"}]`, or the CLI's array of arrays.
    YoutubeJson,
    /// WebVTT, including YouTube auto-captions as fetched by yt-dlp.
    WebVtt,
    /// SubRip.
    Srt,
    /// Whisper JSON: openai-whisper, the hosted API's verbose_json, WhisperX, whisper.cpp `-oj`.
    WhisperJson,
    /// A Deepgram response.
    DeepgramJson,
    /// An AssemblyAI transcript.
    AssemblyAiJson,
    /// YouTube timedtext XML (srv1 `<transcript>`, srv3 `<timedtext>`).
    YoutubeXml,
    /// JSON Lines bundles: one transcript with its metadata per line.
    JsonLines,
    /// Timestamped speaker turns in plain text: `[Speaker] [MM:SS] text`, or Otter's `Name  0:03`.
    SpeakerTurns,
}

/// How files are read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadOptions {
    /// Reject files that break the format's rules instead of reading what can be read.
    pub strict: bool,
    /// Decode text with this encoding instead of detecting it.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// Refuse files that decompress to more than this many bytes (0: no limit).
    pub max_bytes: u64,
}

/// A file's text, decompressed and decoded, ready for [`Format::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared<'a> {
    /// The text.
    pub text: std::borrow::Cow<'a, str>,
    /// The encoding it was decoded from.
    pub encoding: &'static str,
    /// The compression it was stored with, if any.
    pub compression: Option<decode::Compression>,
}

/// Decompresses and decodes a file's bytes (borrowing them when they are plain UTF-8).
pub fn prepare<'a>(bytes: &'a [u8], options: &ReadOptions) -> Result<Prepared<'a>, FormatError> {
    let compression = decode::Compression::detect(bytes);
    let limit = if options.max_bytes == 0 { u64::MAX - 1 } else { options.max_bytes };
    let decoded = match decode::decompress(bytes, limit)? {
        std::borrow::Cow::Borrowed(raw) => decode::decode(raw, options.encoding),
        std::borrow::Cow::Owned(raw) => {
            let decoded = decode::decode(&raw, options.encoding);
            decode::Decoded { text: std::borrow::Cow::Owned(decoded.text.into_owned()), ..decoded }
        }
    };
    Ok(Prepared { text: decoded.text, encoding: decoded.encoding, compression })
}

impl Format {
    /// Every format, for listings.
    pub const ALL: [Format; 9] = [
        Format::YoutubeJson,
        Format::WebVtt,
        Format::Srt,
        Format::WhisperJson,
        Format::DeepgramJson,
        Format::AssemblyAiJson,
        Format::YoutubeXml,
        Format::JsonLines,
        Format::SpeakerTurns,
    ];

    /// The name stored in the `documents.format` column and accepted as an input format.
    pub fn name(self) -> &'static str {
        match self {
            Format::YoutubeJson => "youtube-json",
            Format::WebVtt => "webvtt",
            Format::Srt => "srt",
            Format::WhisperJson => "whisper-json",
            Format::DeepgramJson => "deepgram-json",
            Format::AssemblyAiJson => "assemblyai-json",
            Format::YoutubeXml => "youtube-xml",
            Format::JsonLines => "jsonl",
            Format::SpeakerTurns => "speaker-turns",
        }
    }

    /// The format called `name`.
    pub fn from_name(name: &str) -> Option<Format> {
        Self::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The format a file name promises (compression suffixes `.gz`/`.zst` looked through);
    /// `None` for names no reader takes. Sidecars (`.info.json`) are not transcripts.
    pub fn for_path(path: &std::path::Path) -> Option<Format> {
        let name = plain_name(path)?;
        if name.ends_with(".info.json") {
            return None;
        }
        match name.rsplit_once('.')?.1 {
            "json" => Some(Format::YoutubeJson),
            "vtt" | "webvtt" => Some(Format::WebVtt),
            "srt" => Some(Format::Srt),
            "xml" | "srv1" | "srv3" => Some(Format::YoutubeXml),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }

    /// Whether a folder walk should read a file of this name: a format's extension, or `.txt`
    /// (speaker turns, Whisper-JAX lines), whose format is told by content.
    pub fn is_transcript_name(path: &std::path::Path) -> bool {
        if Format::for_path(path).is_some() {
            return true;
        }
        plain_name(path).is_some_and(|name| name.ends_with(".txt"))
    }

    /// The format of `text` judged by its content, for files whose name says nothing.
    pub fn sniff(text: &str) -> Option<Format> {
        let start = text.trim_start_matches('\u{feff}').trim_start();
        let after = |prefix: char| start[prefix.len_utf8()..].trim_start().chars().next();
        if start.starts_with("WEBVTT") {
            Some(Format::WebVtt)
        } else if start.starts_with('<') && (start.contains("<transcript") || start.contains("<timedtext")) {
            Some(Format::YoutubeXml)
        } else if (start.starts_with('[') && after('[').is_none_or(|c| matches!(c, '{' | '[' | ']')))
            || (start.starts_with('{') && after('{').is_none_or(|c| matches!(c, '"' | '}')))
        {
            // A JSON array or object (not `[Script Info]` or `{1}{25}`); which JSON format is told by parsing.
            Some(Format::YoutubeJson)
        } else if turns::sniff(start) {
            Some(Format::SpeakerTurns)
        } else if start.lines().take(20).any(|l| l.contains("-->") || (l.starts_with('[') && l.contains(" -> "))) {
            Some(Format::Srt)
        } else {
            None
        }
    }

    /// The format to read a file as: `forced`, else by name, else by content. Files in formats
    /// verbatim does not read get a reason naming the format when it is a known one.
    pub fn detect(path: &std::path::Path, text: &str, forced: Option<Format>) -> Result<Format, FormatError> {
        if let Some(format) = forced.or_else(|| Format::for_path(path)) {
            return Ok(format);
        }
        if let Some(known) = unsupported::recognise(path, text) {
            return Err(FormatError::whole_file(format!("unsupported format: {known} is not read by verbatim")));
        }
        Format::sniff(text).ok_or_else(|| {
            let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
            FormatError::whole_file(format!(
                "unknown format: not {} (name the input format to read it as one)",
                names.join(", ")
            ))
        })
    }

    /// The name used in messages before the file is parsed: `json` for the JSON formats (which are
    /// told apart only by parsing), else [`Format::name`].
    pub fn family_name(self) -> &'static str {
        if self.is_json() { "json" } else { self.name() }
    }

    /// Whether this is one of the JSON formats, which are told apart by content.
    pub fn is_json(self) -> bool {
        matches!(self, Format::YoutubeJson | Format::WhisperJson | Format::DeepgramJson | Format::AssemblyAiJson)
    }

    /// Parses a file's prepared text into its transcripts; returns the format actually found
    /// (JSON formats are told apart by content: an array is youtube-transcript-api, an object
    /// one of the speech-to-text tools).
    pub fn parse<'a>(
        self,
        text: &'a str,
        options: &ReadOptions,
    ) -> Result<(Format, Vec<RawTranscript<'a>>), FormatError> {
        match self {
            json if json.is_json() => {
                let body = text.trim_start_matches('\u{feff}').trim_start();
                if body.starts_with('{') {
                    // One object per line is a bundle; a single object is a speech-to-text result.
                    match speech_json::parse(body) {
                        Err(e) if e.reason.starts_with("trailing characters") => {
                            jsonl::parse(text).map(|t| (Format::JsonLines, t))
                        }
                        other => other,
                    }
                } else {
                    youtube_json::parse_str(text).map(|t| (Format::YoutubeJson, t))
                }
            }
            Format::WebVtt => Ok((self, webvtt::parse(&decode::normalise_newlines(text), options.strict)?)),
            Format::YoutubeXml => Ok((self, timedtext::parse(text)?)),
            Format::JsonLines => Ok((self, jsonl::parse(text)?)),
            Format::SpeakerTurns => Ok((self, turns::parse(text, options.strict)?)),
            _ => Ok((self, srt::parse(&decode::normalise_newlines(text), options.strict)?)),
        }
    }
}

/// A file's name in lower case without a compression suffix (`.gz`, `.zst`).
fn plain_name(path: &std::path::Path) -> Option<String> {
    // Lossy: a name that is not UTF-8 still says its format by its extension (it must not be
    // skipped unseen); the file is opened by its path as it is.
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let plain = name.strip_suffix(".gz").or_else(|| name.strip_suffix(".zst")).unwrap_or(&name);
    Some(plain.to_string())
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

    /// An error at byte `offset` of `text`: its line, and its column counted in characters.
    pub fn at_offset(text: &str, offset: usize, reason: impl Into<String>) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.bytes().filter(|&b| b == b'\n').count() as u64 + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() as u64 + 1;
        FormatError { line, column, reason: reason.into() }
    }
}
