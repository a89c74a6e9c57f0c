//! Fuzzing of every transcript reader, bounded in time: no input, however broken, may make a reader
//! panic, and whatever a reader accepts must normalise into well-formed segments.
//!
//! Inputs, in this order:
//! 1. fixed edge cases (empty, whitespace, byte order marks alone, compression magic alone, NUL bytes, …);
//! 2. every seed file as it is: `tests/fixtures/external/` (as `tests/fixtures.rs` enumerates it),
//!    `tests/fixtures/formats/` and `samples/python-for-hpc.json`;
//! 3. until the time is up: seeds mutated (bit flips, interesting bytes, truncation, deleted, duplicated
//!    and inserted ranges, format tokens, splices from other seeds, repeated lines, re-encoding as
//!    UTF-16, compression), random bytes and random ASCII.
//!
//! Each input goes through `prepare`, then every [`Format`] and the format `Format::detect` picks by
//! content; accepted transcripts are normalised and every segment and word is consumed, checking that
//! `seq` counts up from 0 and no segment or word ends before it starts. Fixed inputs are read both
//! leniently and strictly, random ones alternately. An input that panics is saved as
//! `verbatim-fuzz-crash-<n>.bin` in the temporary directory (`<n>` is its number in the run) and
//! the test fails listing the files and panic messages; an input slower than a few seconds is
//! saved as `verbatim-fuzz-slow-<n>.bin` and reported without failing. (A stack overflow aborts
//! the process and cannot be caught; the input that caused it is then not saved.)
//!
//! Environment:
//! * `VERBATIM_FUZZ_SECONDS` (default 15): stop starting new inputs after this many seconds;
//! * `VERBATIM_FUZZ_INPUTS`: also stop after this many inputs (the fixed inputs always run);
//! * `VERBATIM_FUZZ_SEED` (default 1): the random sequence, so that a run can be repeated.
//!
//! A longer run: `VERBATIM_FUZZ_SECONDS=600 cargo test -p verbatim-formats --test fuzz -- --nocapture`.
//! The summary line's input count includes the fixed edge cases.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use verbatim_formats::{Format, FormatError, ReadOptions, prepare};
use verbatim_model::{RawTranscript, normalise};

/// The decompression limit the readers get (as `verbatim ingest` gives them one).
const MAX_DECOMPRESSED_BYTES: u64 = 16 << 20;
/// Inputs are cut to stay below this size.
const MAX_INPUT_BYTES: usize = (2 << 20) - 1;
/// How much one repeated-line mutation may add.
const MAX_REPEAT_GROWTH: usize = 1 << 20;
/// The fuzzing stops early after this many panicking inputs (they are likely one bug).
const MAX_CRASHES: usize = 20;
/// An input taking longer than this is saved and reported (but does not fail the test).
const SLOW_INPUT: Duration = Duration::from_secs(3);

/// An input every run tries first.
struct EdgeCase {
    name: &'static str,
    bytes: &'static [u8],
    /// Nothing but whitespace and byte order marks: JSON Lines reads it as no transcripts.
    blank: bool,
}

const EDGE_CASES: &[EdgeCase] = &[
    EdgeCase { name: "empty", bytes: b"", blank: true },
    EdgeCase { name: "whitespace only", bytes: b"  \n\t\r\n", blank: true },
    EdgeCase { name: "UTF-8 BOM only", bytes: b"\xEF\xBB\xBF", blank: true },
    EdgeCase { name: "UTF-8 BOM and whitespace", bytes: b"\xEF\xBB\xBF  \n\t\r\n", blank: true },
    EdgeCase { name: "UTF-16LE BOM only", bytes: b"\xFF\xFE", blank: true },
    EdgeCase { name: "UTF-16BE BOM only", bytes: b"\xFE\xFF", blank: true },
    EdgeCase { name: "lone [", bytes: b"[", blank: false },
    EdgeCase { name: "lone {", bytes: b"{", blank: false },
    EdgeCase { name: "empty JSON array", bytes: b"[]", blank: false },
    EdgeCase { name: "empty JSON object", bytes: b"{}", blank: false },
    EdgeCase { name: "WEBVTT header only", bytes: b"WEBVTT", blank: false },
    EdgeCase { name: "SRT timing without an end", bytes: b"1\n00:00:01,000 --> ", blank: false },
    EdgeCase { name: "arrow only", bytes: b"-->", blank: false },
    EdgeCase { name: "lone <", bytes: b"<", blank: false },
    EdgeCase { name: "gzip magic only", bytes: b"\x1f\x8b", blank: false },
    EdgeCase { name: "zstd magic only", bytes: b"\x28\xb5\x2f\xfd", blank: false },
    EdgeCase { name: "one NUL byte", bytes: b"\0", blank: false },
    EdgeCase { name: "NUL bytes", bytes: &[0; 64], blank: false },
];

/// Bytes that parsers treat specially, written over an input by [`Mutation::OverwriteInteresting`].
const INTERESTING: &[&[u8]] = &[
    b"\x00",
    b"\xff",
    b"\"",
    b"{",
    b"[",
    b"<",
    b"\n",
    b"-",
    b">",
    b":",
    b",",
    b"\xEF\xBB\xBF",
    b"\x1f\x8b",
    b"\x28\xb5\x2f\xfd",
];

/// Pieces of the formats' syntax, inserted by [`Mutation::InsertToken`].
const TOKENS: &[&[u8]] = &[
    b"-->",
    b" --> ",
    b" -> ",
    b"WEBVTT\n\n",
    b"NOTE ",
    b"STYLE\n",
    b"00:00:01.000",
    b"99:59:59,999",
    b"\n\n",
    b"\r\n",
    b"\r",
    b"<v Speaker>",
    b"<v.loud ",
    b"<00:00:01.500>",
    b"<c>",
    b"</c>",
    b"<i>",
    b"{\\an8}",
    b"&amp;",
    b"&#x1F600;",
    b"&#99999999;",
    b"&",
    b"[SPEAKER_00]: ",
    b"\"text\":",
    b"\"start\":",
    b"\"duration\":",
    b"\"end\":",
    b"\"words\":[",
    b"\"segments\":[",
    b"\"results\":{\"channels\":[",
    b"\"utterances\":[",
    b"\"transcription\":[",
    b"\"snippets\":[",
    b"NaN",
    b"-Infinity",
    b"1e309",
    b"-1",
    b"null",
    b"\\u",
    b"\\ud83c",
    b"<transcript>",
    b"<timedtext>",
    b"<text start=\"1\" dur=\"2\">",
    b"<p t=\"1000\" d=\"500\">",
    b"<s t=\"100\">",
    b"</p>",
    b"<![CDATA[",
    b"<!--",
    b"<!DOCTYPE x [",
    b"<?xml version=\"1.0\"?>",
    b"\xEF\xBB\xBF",
    b"\xC3",
    b"\xF0\x9F",
];

/// Characters random ASCII inputs are rich in.
const STRUCTURAL: &[u8] = b"0123456789:.,-> \n\t[]{}\"<>/&;#\\";

/// Starts for random ASCII inputs, so that they get past the readers' first checks.
const HEADERS: &[&[u8]] = &[b"", b"WEBVTT\n\n", b"[", b"{", b"<transcript>", b"1\n"];

// ---------------------------------------------------------------------------------------------
// Reading one input

/// How the readers are called: leniently or strictly, within the decompression limit.
fn read_options(strict: bool) -> ReadOptions {
    ReadOptions { strict, max_bytes: MAX_DECOMPRESSED_BYTES, ..ReadOptions::default() }
}

/// Runs `bytes` through `prepare` and then every reader; panics on a reader bug.
fn read_every_way(bytes: &[u8], options: &ReadOptions) {
    let Ok(prepared) = prepare(bytes, options) else { return };
    read_text(&prepared.text, options);
    // `prepare` removes a byte order mark, which the readers also handle themselves: give them the raw text too.
    if let Ok(raw) = std::str::from_utf8(bytes)
        && raw != &*prepared.text
    {
        read_text(raw, options);
    }
}

/// Parses `text` as every format, and as the format its content suggests.
fn read_text(text: &str, options: &ReadOptions) {
    for format in Format::ALL {
        // Errors are fine; only panics and malformed results are bugs.
        let _ = read_as(format, text, options);
    }
    if let Ok(format) = Format::detect(Path::new("x.unknown"), text, None) {
        let _ = read_as(format, text, options);
    }
}

/// Parses `text` as `format` and checks what it gives; returns how many transcripts that is.
fn read_as(format: Format, text: &str, options: &ReadOptions) -> Result<usize, FormatError> {
    let (found, transcripts) = format.parse(text, options)?;
    check_transcripts(found, &transcripts);
    Ok(transcripts.len())
}

/// Normalises every transcript, consuming every segment and word and checking their invariants.
fn check_transcripts(format: Format, transcripts: &[RawTranscript<'_>]) {
    for transcript in transcripts {
        let mut next_seq = 0;
        normalise(&transcript.snippets, |segment| {
            assert_eq!(segment.seq, next_seq, "{format:?}: seq counts up by one from 0");
            next_seq += 1;
            assert!(segment.start_ms >= 0, "{format:?}: negative start at seq {}", segment.seq);
            assert!(
                segment.end_ms >= segment.start_ms,
                "{format:?}: segment {} ends at {} before its start {}",
                segment.seq,
                segment.end_ms,
                segment.start_ms
            );
            for (index, word) in segment.words().enumerate() {
                assert_eq!(word.index as usize, index, "{format:?}: word index counts up from 0");
                if let (Some(start), Some(end)) = (word.start_ms, word.end_ms) {
                    assert!(end >= start, "{format:?}: word {:?} ends at {end} before its start {start}", word.word);
                }
                let _ = std::hint::black_box((word.word, word.speaker, word.confidence));
            }
            let _ = std::hint::black_box((segment.text, segment.speaker, segment.duration_ms));
        });
        assert_eq!(next_seq as usize, transcript.snippets.len(), "{format:?}: one segment per snippet");
    }
}

// ---------------------------------------------------------------------------------------------
// Catching panics quietly

thread_local! {
    /// Whether panics on this thread are being caught by [`catch_panic`] (and so not printed).
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    /// The last caught panic's message and location.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

type PanicHook = Arc<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// While alive, panics inside [`catch_panic`] are recorded instead of printed; other panics (other
/// tests' failures) still go to the previous hook. Dropping it restores the previous hook.
struct QuietPanics {
    previous: PanicHook,
}

impl QuietPanics {
    fn install() -> QuietPanics {
        let previous: PanicHook = Arc::from(panic::take_hook());
        let fallback = Arc::clone(&previous);
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if CAPTURING.try_with(Cell::get).unwrap_or(false) {
                let message = describe_panic(info);
                let _ = LAST_PANIC.try_with(|last| *last.borrow_mut() = Some(message));
            } else {
                fallback(info);
            }
        }));
        QuietPanics { previous }
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        // Hooks cannot be changed while panicking; the quiet hook then passes other panics on anyway.
        if std::thread::panicking() {
            return;
        }
        let previous = Arc::clone(&self.previous);
        drop(panic::take_hook());
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| previous(info)));
    }
}

fn describe_panic(info: &PanicHookInfo<'_>) -> String {
    let message = payload_message(info.payload());
    match info.location() {
        Some(at) => format!("{message} (at {}:{}:{})", at.file(), at.line(), at.column()),
        None => message,
    }
}

fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Runs `work`, turning a panic into its message (with its location when a [`QuietPanics`] is installed).
fn catch_panic<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    LAST_PANIC.with(|last| *last.borrow_mut() = None);
    CAPTURING.with(|capturing| capturing.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(work));
    CAPTURING.with(|capturing| capturing.set(false));
    result.map_err(|payload| {
        LAST_PANIC.with(|last| last.borrow_mut().take()).unwrap_or_else(|| payload_message(&*payload))
    })
}

// ---------------------------------------------------------------------------------------------
// Seeds

/// A file whose bytes start the fuzzing.
struct Seed {
    /// Its path from the repository root.
    name: String,
    bytes: Vec<u8>,
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load_seeds() -> Vec<Seed> {
    let root = repository_root();
    let external = files_under(&root.join("tests/fixtures/external"));
    assert!(external.len() > 100, "the external fixtures are there ({} files)", external.len());
    let formats = files_under(&root.join("tests/fixtures/formats"));
    assert!(!formats.is_empty(), "tests/fixtures/formats has files");
    let paths = external.into_iter().chain(formats).chain([root.join("samples/python-for-hpc.json")]);
    paths
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("seed {} is readable: {e}", path.display()));
            let name = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
            Seed { name, bytes }
        })
        .collect()
}

/// The files under `root`, recursively, without licences, Markdown and dotfiles (as `tests/fixtures.rs`).
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{} is in the repository: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a readable directory entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if !(name.starts_with("LICENSE") || name.ends_with(".md")) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------------
// Making inputs

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A random range within `len` bytes (empty when `len` is 0), mostly short.
fn random_range_within(rng: &mut ChaCha8Rng, len: usize) -> std::ops::Range<usize> {
    let start = rng.random_range(0..=len);
    let longest = (len - start).min(if rng.random_bool(0.8) { 64 } else { 64 << 10 });
    start..start + rng.random_range(0..=longest)
}

/// A position to insert at: often the very start, where magic numbers and headers matter.
fn insertion_point(rng: &mut ChaCha8Rng, len: usize) -> usize {
    if rng.random_bool(0.2) { 0 } else { rng.random_range(0..=len) }
}

#[derive(Debug, Clone, Copy)]
enum Mutation {
    FlipBit,
    OverwriteInteresting,
    Truncate,
    DeleteRange,
    DuplicateRange,
    InsertRandomBytes,
    InsertToken,
    SpliceFromOtherSeed,
    RepeatLine,
    ReencodeAsUtf16,
    Compress,
}

impl Mutation {
    const LOCAL: [Mutation; 9] = [
        Mutation::FlipBit,
        Mutation::OverwriteInteresting,
        Mutation::Truncate,
        Mutation::DeleteRange,
        Mutation::DuplicateRange,
        Mutation::InsertRandomBytes,
        Mutation::InsertToken,
        Mutation::SpliceFromOtherSeed,
        Mutation::RepeatLine,
    ];
    /// Mutations that transform the whole input, chosen less often.
    const WHOLE: [Mutation; 2] = [Mutation::ReencodeAsUtf16, Mutation::Compress];

    fn choose(rng: &mut ChaCha8Rng) -> Mutation {
        if rng.random_bool(0.1) { *pick(rng, &Mutation::WHOLE) } else { *pick(rng, &Mutation::LOCAL) }
    }

    fn apply(self, rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>, seeds: &[Seed]) {
        match self {
            Mutation::FlipBit => flip_bit(rng, bytes),
            Mutation::OverwriteInteresting => {
                let value = *pick(rng, INTERESTING);
                overwrite(rng, bytes, value);
            }
            Mutation::Truncate => bytes.truncate(rng.random_range(0..=bytes.len())),
            Mutation::DeleteRange => {
                let deleted = random_range_within(rng, bytes.len());
                replace_range(bytes, deleted, &[]);
            }
            Mutation::DuplicateRange => {
                let copy = bytes[random_range_within(rng, bytes.len())].to_vec();
                insert(rng, bytes, &copy);
            }
            Mutation::InsertRandomBytes => {
                let count = rng.random_range(1..=32);
                let random: Vec<u8> = (0..count).map(|_| rng.random::<u8>()).collect();
                insert(rng, bytes, &random);
            }
            Mutation::InsertToken => {
                let token = *pick(rng, TOKENS);
                insert(rng, bytes, token);
            }
            Mutation::SpliceFromOtherSeed => splice_from_other_seed(rng, bytes, seeds),
            Mutation::RepeatLine => repeat_line(rng, bytes),
            Mutation::ReencodeAsUtf16 => reencode_as_utf16(rng, bytes),
            Mutation::Compress => compress(rng, bytes),
        }
    }
}

fn flip_bit(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        bytes.push(rng.random::<u8>());
        return;
    }
    let at = rng.random_range(0..bytes.len());
    let bit: u8 = 1 << rng.random_range(0..8u32);
    bytes[at] ^= bit;
}

/// Writes `value` over the input at a random place, extending it when the place is near the end.
fn overwrite(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>, value: &[u8]) {
    let at = insertion_point(rng, bytes.len());
    for (offset, &byte) in value.iter().enumerate() {
        match bytes.get_mut(at + offset) {
            Some(slot) => *slot = byte,
            None => bytes.push(byte),
        }
    }
}

fn insert(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>, piece: &[u8]) {
    let at = insertion_point(rng, bytes.len());
    replace_range(bytes, at..at, piece);
}

/// `bytes` with `range` replaced by `piece`.
fn replace_range(bytes: &mut Vec<u8>, range: std::ops::Range<usize>, piece: &[u8]) {
    let tail = bytes.split_off(range.end);
    bytes.truncate(range.start);
    bytes.extend_from_slice(piece);
    bytes.extend_from_slice(&tail);
}

/// Replaces a range of the input with a range of another seed.
fn splice_from_other_seed(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>, seeds: &[Seed]) {
    let other = &pick(rng, seeds).bytes;
    let piece = &other[random_range_within(rng, other.len())];
    let replaced = random_range_within(rng, bytes.len());
    replace_range(bytes, replaced, piece);
}

/// Repeats the line around a random position many times (within [`MAX_REPEAT_GROWTH`]).
fn repeat_line(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    let at = rng.random_range(0..bytes.len());
    let start = bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |newline| newline + 1);
    let end = bytes[at..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |newline| at + newline + 1);
    let line = &bytes[start..end];
    let most = (MAX_REPEAT_GROWTH / line.len().max(1)).clamp(1, 1000);
    let repeated = line.repeat(rng.random_range(1..=most));
    replace_range(bytes, end..end, &repeated);
}

/// The input as text (invalid UTF-8 replaced) in UTF-16, either byte order, with or without a BOM.
fn reencode_as_utf16(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let big_endian = rng.random_bool(0.5);
    let mut encoded: Vec<u8> = Vec::with_capacity(text.len() * 2 + 2);
    if rng.random_bool(0.5) {
        encoded.extend_from_slice(if big_endian { b"\xFE\xFF" } else { b"\xFF\xFE" });
    }
    for unit in text.encode_utf16() {
        encoded.extend_from_slice(&if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() });
    }
    *bytes = encoded;
}

/// The input gzip- or zstd-compressed, so that later mutations corrupt a real stream.
fn compress(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) {
    *bytes = if rng.random_bool(0.5) {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes.as_slice()).expect("compressing into memory");
        encoder.finish().expect("compressing into memory")
    } else {
        zstd::encode_all(bytes.as_slice(), 1).expect("compressing into memory")
    };
}

/// A seed with one to four mutations applied, and which.
fn mutated(rng: &mut ChaCha8Rng, seed: &Seed, seeds: &[Seed]) -> (Vec<u8>, Vec<Mutation>) {
    let mut bytes = seed.bytes.clone();
    let count = rng.random_range(1..=4);
    let applied: Vec<Mutation> = (0..count).map(|_| Mutation::choose(rng)).collect();
    for mutation in &applied {
        mutation.apply(rng, &mut bytes, seeds);
        bytes.truncate(MAX_INPUT_BYTES);
    }
    (bytes, applied)
}

fn random_length(rng: &mut ChaCha8Rng) -> usize {
    if rng.random_bool(0.9) { rng.random_range(0..=256) } else { rng.random_range(0..=64 << 10) }
}

fn random_bytes(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let len = random_length(rng);
    (0..len).map(|_| rng.random::<u8>()).collect()
}

/// Printable ASCII and newlines, rich in the characters the formats' syntax uses, after a header.
fn random_ascii(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut bytes = pick(rng, HEADERS).to_vec();
    let len = random_length(rng);
    bytes.extend((0..len).map(|_| match rng.random_range(0..16) {
        0 => b'\n',
        1..=8 => *pick(rng, STRUCTURAL),
        _ => rng.random_range(0x20..0x7f_u8),
    }));
    bytes
}

// ---------------------------------------------------------------------------------------------
// The run

/// The run's limits, from the environment.
struct Settings {
    duration: Duration,
    max_inputs: Option<u64>,
    seed: u64,
}

impl Settings {
    fn from_env() -> Settings {
        let seconds: f64 = env_number("VERBATIM_FUZZ_SECONDS").unwrap_or(15.0);
        let duration = Duration::try_from_secs_f64(seconds)
            .unwrap_or_else(|_| panic!("VERBATIM_FUZZ_SECONDS must be a non-negative number, not {seconds}"));
        Settings {
            duration,
            max_inputs: env_number("VERBATIM_FUZZ_INPUTS"),
            seed: env_number("VERBATIM_FUZZ_SEED").unwrap_or(1),
        }
    }
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    Some(value.trim().parse().unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")))
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    EdgeCase,
    Seed,
    Mutation,
    Random,
}

#[derive(Debug, Default)]
struct Counts {
    edge_cases: u64,
    seeds: u64,
    mutations: u64,
    random: u64,
}

impl Counts {
    fn total(&self) -> u64 {
        self.edge_cases + self.seeds + self.mutations + self.random
    }

    fn count(&mut self, kind: Kind) {
        match kind {
            Kind::EdgeCase => self.edge_cases += 1,
            Kind::Seed => self.seeds += 1,
            Kind::Mutation => self.mutations += 1,
            Kind::Random => self.random += 1,
        }
    }
}

/// An input that made a reader panic (or break an invariant).
struct Crash {
    saved_as: String,
    origin: String,
    message: String,
}

struct Fuzzer {
    settings: Settings,
    started: Instant,
    counts: Counts,
    crashes: Vec<Crash>,
    slow: Vec<String>,
}

impl Fuzzer {
    /// Reads one input each way in `stricts`, recording a panic or slowness.
    fn try_input(&mut self, kind: Kind, describe: impl FnOnce() -> String, bytes: &[u8], stricts: &[bool]) {
        let number = self.counts.total();
        self.counts.count(kind);
        let began = Instant::now();
        let outcome = catch_panic(|| {
            for &strict in stricts {
                read_every_way(bytes, &read_options(strict));
            }
        });
        let took = began.elapsed();
        let ways = stricts.iter().map(|&strict| if strict { "strict" } else { "lenient" }).collect::<Vec<_>>();
        let origin = || format!("input {number}: {} ({})", describe(), ways.join(", "));
        if let Err(message) = outcome {
            self.crashes.push(Crash { saved_as: save_input("crash", number, bytes), origin: origin(), message });
        } else if took > SLOW_INPUT {
            let (saved_as, seconds, size) = (save_input("slow", number, bytes), took.as_secs_f64(), bytes.len());
            self.slow.push(format!("{} took {seconds:.1} s ({size} bytes), saved as {saved_as}", origin()));
        }
    }

    fn try_edge_cases(&mut self) {
        for case in EDGE_CASES {
            self.try_input(Kind::EdgeCase, || format!("edge case {:?}", case.name), case.bytes, &[false, true]);
        }
    }

    fn try_seeds(&mut self, seeds: &[Seed]) {
        for seed in seeds {
            self.try_input(Kind::Seed, || seed.name.clone(), &seed.bytes, &[false, true]);
        }
    }

    fn out_of_budget(&self) -> bool {
        self.started.elapsed() >= self.settings.duration
            || self.settings.max_inputs.is_some_and(|most| self.counts.total() >= most)
            || self.crashes.len() >= MAX_CRASHES
    }

    fn try_random_inputs(&mut self, rng: &mut ChaCha8Rng, seeds: &[Seed]) {
        while !self.out_of_budget() {
            let strict = self.counts.total() % 2 == 1;
            match rng.random_range(0..10) {
                0 => {
                    let bytes = random_bytes(rng);
                    self.try_input(Kind::Random, || "random bytes".to_string(), &bytes, &[strict]);
                }
                1 => {
                    let bytes = random_ascii(rng);
                    self.try_input(Kind::Random, || "random ASCII".to_string(), &bytes, &[strict]);
                }
                _ => {
                    let seed = pick(rng, seeds);
                    let (bytes, applied) = mutated(rng, seed, seeds);
                    self.try_input(Kind::Mutation, || format!("{} with {applied:?}", seed.name), &bytes, &[strict]);
                }
            }
        }
    }

    /// Prints the summary and fails on crashes.
    fn report(self) {
        let counts = &self.counts;
        eprintln!(
            "fuzz: {} inputs ({} seeds, {} mutations, {} random) in {:.1} s, crashes: {}",
            counts.total(),
            counts.seeds,
            counts.mutations,
            counts.random,
            self.started.elapsed().as_secs_f64(),
            self.crashes.len()
        );
        for slow in &self.slow {
            eprintln!("fuzz: slow: {slow}");
        }
        assert!(counts.total() > 0, "no input was tried");
        let crashes: Vec<String> = self
            .crashes
            .iter()
            .map(|crash| format!("* {}\n  {}\n  {}", crash.saved_as, crash.origin, crash.message))
            .collect();
        assert!(
            crashes.is_empty(),
            "{} inputs made a reader panic or break an invariant (VERBATIM_FUZZ_SEED={}):\n{}",
            crashes.len(),
            self.settings.seed,
            crashes.join("\n")
        );
    }
}

/// Saves an input to the temporary directory; returns where (or why it could not be saved).
fn save_input(what: &str, number: u64, bytes: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("verbatim-fuzz-{what}-{number}.bin"));
    match std::fs::write(&path, bytes) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not saved: {}: {e})", path.display()),
    }
}

#[test]
fn readers_survive_arbitrary_and_mutated_input() {
    let settings = Settings::from_env();
    let seeds = load_seeds();
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut fuzzer =
        Fuzzer { settings, started: Instant::now(), counts: Counts::default(), crashes: Vec::new(), slow: Vec::new() };
    {
        let _quiet = QuietPanics::install();
        fuzzer.try_edge_cases();
        fuzzer.try_seeds(&seeds);
        fuzzer.try_random_inputs(&mut rng, &seeds);
    }
    fuzzer.report();
}

// ---------------------------------------------------------------------------------------------
// The edge cases alone, with exact expectations for JSON Lines

/// How many transcripts JSON Lines gives for blank text: none, as blank lines are skipped. But a
/// byte order mark is not whitespace to `jsonl::parse` (only `prepare` strips one), so raw text
/// that starts with one is a bad JSON line.
fn jsonl_transcripts_of_blank(text: &str) -> Option<usize> {
    if text.starts_with('\u{feff}') { None } else { Some(0) }
}

/// What goes wrong reading `case` with `options`: panics, and JSON Lines results other than expected.
fn edge_case_problems(case: &EdgeCase, options: &ReadOptions) -> Vec<String> {
    let mut problems = Vec::new();
    let prepared = match catch_panic(|| prepare(case.bytes, options)) {
        Ok(prepared) => prepared.ok(),
        Err(message) => {
            problems.push(format!("prepare panicked: {message}"));
            None
        }
    };
    let prepared_text = prepared.as_ref().map(|p| &*p.text);
    let texts = [("prepared", prepared_text), ("raw", std::str::from_utf8(case.bytes).ok())];
    for (way, text) in texts {
        let Some(text) = text else { continue };
        for format in Format::ALL {
            match catch_panic(|| read_as(format, text, options)) {
                Err(message) => problems.push(format!("{format:?} on the {way} text {text:?} panicked: {message}")),
                Ok(result) if format == Format::JsonLines && case.blank => {
                    let expected = jsonl_transcripts_of_blank(text);
                    if result.as_ref().ok().copied() != expected {
                        let expected = match expected {
                            Some(count) => format!("Ok with {count} transcripts"),
                            None => "an error".to_string(),
                        };
                        problems.push(format!("JsonLines on the {way} text {text:?}: {result:?}, not {expected}"));
                    }
                }
                Ok(_) => {}
            }
        }
    }
    problems
}

#[test]
fn empty_whitespace_and_bom_only_input_is_read_or_rejected_never_a_panic() {
    let mut problems = Vec::new();
    for case in EDGE_CASES {
        for strict in [false, true] {
            for problem in edge_case_problems(case, &read_options(strict)) {
                problems.push(format!("{} (strict: {strict}): {problem}", case.name));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
