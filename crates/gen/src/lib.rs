//! Deterministic synthetic corpora in youtube-transcript-api JSON, for tests and benchmarks.
//!
//! The same `(size, seed)` always gives byte-identical files, whatever the thread count: the plan
//! (file names and sizes) is drawn first from the seed, then each file from its own seed.
//!
//! What the files look like, on purpose:
//! * ~50 KB transcripts in channel folders, named `<video id>.<lang>.json` or `<video id>.json`;
//! * words drawn from a Zipf distribution over a vocabulary of common English words, generated
//!   pseudo-words and non-ASCII words (accents, Cyrillic, Greek, CJK), with punctuation, `[Music]`,
//!   `>>` speaker changes and emoji;
//! * auto-caption style (lowercase, durations overlapping the next caption:
//!   `duration[i] == start[i+2] - start[i]`) and manual style (sentences, two-line captions,
//!   gaps), pretty (4-space indent) or compact, and some files written with `ensure_ascii`
//!   escapes (`\uXXXX`, surrogate pairs) as Python's json module does by default.

pub mod speech;
mod text;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use text::Vocabulary;

/// Average size of a generated file.
pub const MEAN_FILE_BYTES: u64 = 50_000;
const CHANNELS: u64 = 64;

/// Generation failed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct GenError {
    /// The file or folder concerned.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// What was generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenReport {
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Snippets written.
    pub snippets: u64,
}

/// One planned file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Path relative to the output folder.
    pub relative: PathBuf,
    /// Target size in bytes.
    pub target_bytes: u64,
    /// The file's own seed.
    pub seed: u64,
}

/// The files of a corpus of about `size` bytes for `seed`.
pub fn plan(size: u64, seed: u64) -> Vec<PlannedFile> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut files = Vec::new();
    let mut total = 0;
    while total < size {
        let target_bytes =
            rng.random_range(MEAN_FILE_BYTES * 6 / 10..=MEAN_FILE_BYTES * 14 / 10).min(size - total).max(200);
        let video_id = video_id(&mut rng);
        let channel = rng.random_range(0..CHANNELS);
        let name = match rng.random_range(0..10) {
            0..=5 => format!("{video_id}.en.json"),
            6 => format!("{video_id}.de.json"),
            7 => format!("{video_id}.es-419.json"),
            8 => format!("{video_id}.zh-Hant.json"),
            _ => format!("{video_id}.json"),
        };
        files.push(PlannedFile {
            relative: PathBuf::from(format!("channel-{channel:02}")).join(name),
            target_bytes,
            seed: rng.random(),
        });
        total += target_bytes;
    }
    files
}

fn video_id(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    loop {
        let id: String = (0..11).map(|_| ALPHABET[rng.random_range(0..64)] as char).collect();
        // Real ids are random; keep only those that do not look like plain lowercase words.
        if id.bytes().any(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && id.bytes().any(|b| b.is_ascii_alphabetic())
        {
            return id;
        }
    }
}

/// Writes a corpus of about `size` bytes for `seed` into `out` using `threads` threads;
/// `progress(bytes)` is called as files are written.
pub fn generate(
    out: &Path,
    size: u64,
    seed: u64,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<GenReport, GenError> {
    let files = plan(size, seed);
    for channel in 0..CHANNELS {
        let dir = out.join(format!("channel-{channel:02}"));
        std::fs::create_dir_all(&dir).map_err(|source| GenError { path: dir, source })?;
    }
    let vocabulary = Vocabulary::new(seed);
    let next = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let snippets = AtomicU64::new(0);
    let results: Vec<Result<(), GenError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<(), GenError> {
                    let mut buffer = Vec::with_capacity(2 * MEAN_FILE_BYTES as usize);
                    while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        buffer.clear();
                        let count = write_transcript(&mut buffer, file, &vocabulary);
                        let path = out.join(&file.relative);
                        std::fs::write(&path, &buffer).map_err(|source| GenError { path, source })?;
                        bytes.fetch_add(buffer.len() as u64, Ordering::Relaxed);
                        snippets.fetch_add(count, Ordering::Relaxed);
                        progress(buffer.len() as u64);
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("generator thread panicked")).collect()
    });
    results.into_iter().collect::<Result<(), _>>()?;
    Ok(GenReport { files: files.len() as u64, bytes: bytes.into_inner(), snippets: snippets.into_inner() })
}

/// One generated transcript of about `target_bytes`, in memory (for benchmarks and tests).
pub fn transcript(seed: u64, target_bytes: u64) -> Vec<u8> {
    let vocabulary = Vocabulary::new(seed);
    let file = PlannedFile { relative: PathBuf::new(), target_bytes, seed };
    let mut out = Vec::with_capacity(target_bytes as usize + 1024);
    write_transcript(&mut out, &file, &vocabulary);
    out
}

/// Style of one transcript.
struct Style {
    auto: bool,
    pretty: bool,
    ensure_ascii: bool,
}

/// Writes one transcript into `out`; returns the number of snippets.
fn write_transcript(out: &mut Vec<u8>, file: &PlannedFile, vocabulary: &Vocabulary) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(file.seed);
    let style = Style { auto: rng.random_bool(0.5), pretty: rng.random_bool(0.5), ensure_ascii: rng.random_bool(0.3) };
    let mut texts = Vec::new();
    let mut starts = Vec::new();
    let mut budget = file.target_bytes as i64 - 4;
    let mut clock = rng.random_range(0.0..3.0);
    while budget > 0 {
        let text = vocabulary.caption(&mut rng, style.auto);
        budget -= text.len() as i64 + if style.pretty { 90 } else { 50 };
        texts.push(text);
        starts.push(clock);
        clock += rng.random_range(1.2..4.5)
            + if !style.auto && rng.random_bool(0.05) { rng.random_range(1.0..20.0) } else { 0.0 };
    }
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    out.push(b'[');
    for (i, text) in texts.iter().enumerate() {
        let start = round(starts[i]);
        let duration = if style.auto {
            // Display time runs to the start of the caption after next, as YouTube's auto tracks do.
            round(starts.get(i + 2).copied().unwrap_or(starts[i] + 3.0) - starts[i])
        } else {
            let next = starts.get(i + 1).copied().unwrap_or(starts[i] + 3.0);
            round((next - starts[i]) * rng.random_range(0.75..1.0))
        };
        if i > 0 {
            out.push(b',');
        }
        if style.pretty {
            out.extend_from_slice(b"\n    {\n        \"text\": ");
            write_json_string(out, text, style.ensure_ascii);
            write!(out, ",\n        \"start\": {start:?},\n        \"duration\": {duration:?}\n    }}")
                .expect("write to vec");
        } else {
            out.extend_from_slice(b"{\"text\": ");
            write_json_string(out, text, style.ensure_ascii);
            write!(out, ", \"start\": {start:?}, \"duration\": {duration:?}}}").expect("write to vec");
        }
    }
    out.extend_from_slice(if style.pretty { b"\n]\n" } else { b"]" });
    texts.len() as u64
}

/// Writes `text` as a JSON string; with `ensure_ascii`, non-ASCII as `\uXXXX` (surrogate pairs above the BMP).
fn write_json_string(out: &mut Vec<u8>, text: &str, ensure_ascii: bool) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).expect("write to vec"),
            c if ensure_ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(out, "\\u{unit:04x}").expect("write to vec");
                }
            }
            c => {
                let mut bytes = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut bytes).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_sizes_add_up() {
        let a = tempfile_dir("a");
        let b = tempfile_dir("b");
        let ra = generate(&a, 400_000, 7, 1, &|_| {}).unwrap();
        let rb = generate(&b, 400_000, 7, 3, &|_| {}).unwrap();
        assert_eq!(ra, rb);
        assert!(ra.bytes > 300_000 && ra.bytes < 500_000, "{ra:?}");
        for file in plan(400_000, 7) {
            assert_eq!(std::fs::read(a.join(&file.relative)).unwrap(), std::fs::read(b.join(&file.relative)).unwrap());
        }
        let other = plan(400_000, 8);
        assert_ne!(other[0].relative, plan(400_000, 7)[0].relative);
        std::fs::remove_dir_all(a).unwrap();
        std::fs::remove_dir_all(b).unwrap();
    }

    #[test]
    fn escapes_follow_python_ensure_ascii() {
        let mut out = Vec::new();
        write_json_string(&mut out, "café 🎉 \"q\"\n", true);
        assert_eq!(String::from_utf8(out).unwrap(), r#""caf\u00e9 \ud83c\udf89 \"q\"\n""#);
    }

    fn tempfile_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("verbatim-gen-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }
}
