//! Every file in `tests/fixtures/external/` (real files from other projects' test suites) is
//! either read or rejected with a reason, exactly as `verbatim ingest` would: decode, detect,
//! parse, normalise. Invariants are checked first; then a summary of the result (or the rejection)
//! is compared with its snapshot in `tests/snapshots/`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use verbatim_formats::{Format, ReadOptions, prepare};
use verbatim_model::{RawTranscript, normalise};

fn external() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/external")
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![external()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("tests/fixtures/external is in the repository") {
            let path = entry.expect("readable entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().to_string();
            if path.is_dir() {
                dirs.push(path);
            } else if !(name.starts_with("LICENSE") || name.ends_with(".md") || name.starts_with('.')) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// What reading one file gives, as text for a snapshot.
fn summarise(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("fixture is readable");
    let options = ReadOptions::default();
    let prepared = match prepare(&bytes, &options) {
        Ok(prepared) => prepared,
        Err(e) => return format!("rejected: {e}\n"),
    };
    let format = match Format::detect(path, &prepared.text, None) {
        Ok(format) => format,
        Err(e) => return format!("rejected: {e}\n"),
    };
    match format.parse(&prepared.text, &options) {
        Ok((format, transcripts)) => describe(path, format, prepared.encoding, &transcripts),
        Err(e) => format!("rejected as {}: {e}\n", format.family_name()),
    }
}

fn describe(path: &Path, format: Format, encoding: &str, transcripts: &[RawTranscript<'_>]) -> String {
    let mut out = format!("format: {}\nencoding: {encoding}\ntranscripts: {}\n", format.name(), transcripts.len());
    for transcript in transcripts {
        let mut lines = Vec::new();
        let mut previous_seq = -1;
        let mut words = 0;
        let stats = normalise(&transcript.snippets, |s| {
            assert!(s.seq > previous_seq, "{}: seq increases", path.display());
            previous_seq = s.seq;
            assert!(s.start_ms <= s.end_ms, "{}: start <= end after normalisation at seq {}", path.display(), s.seq);
            assert_no_markup(path, s.text);
            for w in s.words() {
                words += 1;
                assert_no_markup(path, w.word);
                if let (Some(start), Some(end)) = (w.start_ms, w.end_ms) {
                    assert!(start <= end, "{}: word start <= end", path.display());
                }
            }
            let speaker = s.speaker.map(|sp| format!("{sp}: ")).unwrap_or_default();
            lines.push(format!("[{}-{}] {speaker}{}", s.start_ms, s.end_ms, s.text.replace('\n', " / ")));
        });
        let meta = &transcript.meta;
        writeln!(out, "- language: {:?}, generated: {:?}", meta.language, meta.is_generated).unwrap();
        writeln!(out, "  segments: {}, timed words: {words}, repaired: {stats:?}", lines.len()).unwrap();
        let shown: Vec<&String> = if lines.len() <= 8 {
            lines.iter().collect()
        } else {
            lines.iter().take(5).chain(lines.iter().skip(lines.len() - 3)).collect()
        };
        for line in shown {
            writeln!(out, "  {line}").unwrap();
        }
    }
    out
}

/// No tags or character references may be left in stored text.
fn assert_no_markup(path: &Path, text: &str) {
    for entity in ["&amp;", "&lt;", "&gt;", "&nbsp;", "&quot;", "&#"] {
        assert!(!text.contains(entity), "{}: entity {entity} left in {text:?}", path.display());
    }
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('<') {
        let next = bytes.get(i + 1).copied().unwrap_or(b' ');
        let closes = text[i..].find('>').is_some_and(|close| !text[i..i + close].contains(' ') || next == b'/');
        assert!(!(next.is_ascii_alphabetic() || next == b'/') || !closes, "{}: tag left in {text:?}", path.display());
    }
}

#[test]
fn every_external_fixture_is_read_or_rejected_with_a_reason() {
    let files = fixture_files();
    assert!(files.len() > 100, "the external fixtures are there ({} files)", files.len());
    for path in files {
        let relative = path.strip_prefix(external()).expect("under external/").to_string_lossy().replace('/', "__");
        let name: String = relative
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' { c } else { '_' })
            .collect();
        let name = if name.len() > 100 { format!("{}_{}", &name[..60], &name[name.len() - 30..]) } else { name };
        insta::assert_snapshot!(name, summarise(&path));
    }
}

/// Runs one input through every reader that could be chosen for it; errors are fine, panics are not.
fn read_leniently_and_strictly(path: &Path, bytes: &[u8]) {
    for strict in [false, true] {
        let options = ReadOptions { strict, ..ReadOptions::default() };
        let Ok(prepared) = prepare(bytes, &options) else { continue };
        let detected = Format::detect(path, &prepared.text, None).ok();
        for format in detected.into_iter().chain(Format::ALL) {
            if let Ok((_, transcripts)) = format.parse(&prepared.text, &options) {
                for transcript in &transcripts {
                    normalise(&transcript.snippets, |s| {
                        assert!(s.start_ms <= s.end_ms);
                        s.words().for_each(drop);
                    });
                }
            }
        }
    }
}

#[test]
fn truncated_and_corrupted_files_never_crash_a_reader() {
    for path in fixture_files() {
        let bytes = std::fs::read(&path).expect("fixture is readable");
        let len = bytes.len();
        for cut in [1, 2, 3, 7, len / 3, len / 2, len.saturating_sub(3), len.saturating_sub(1)] {
            read_leniently_and_strictly(&path, &bytes[..cut.min(len)]);
        }
        let mut corrupted = bytes.clone();
        for i in (0..len).step_by(len / 7 + 1) {
            corrupted[i] = corrupted[i].wrapping_add(0x80);
        }
        read_leniently_and_strictly(&path, &corrupted);
    }
}
