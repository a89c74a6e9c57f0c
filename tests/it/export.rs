//! `verbatim export`: documents written as SRT, WebVTT, youtube-transcript-api JSON and text read
//! back through verbatim's own readers give the same segments; re-cut cues keep every word.

use std::path::Path;

use crate::common::*;

const SEGMENTS: &str = "SELECT doc_id, seq, start_ms, end_ms, text, speaker FROM segments ORDER BY doc_id, seq";

/// An archive of the sample, a WhisperX file (speakers, word timings) and a podcast episode
/// (speaker turns).
fn archive(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let archive = dir.join("archive");
    run_on(
        &archive,
        &[
            "ingest",
            "-q",
            &sample().to_string_lossy(),
            &root.join("tests/fixtures/formats/stt/whisperx.json").to_string_lossy(),
            &root.join("tests/fixtures/external/oxide-and-friends").to_string_lossy(),
        ],
    );
    archive
}

#[test]
fn every_format_reads_back_as_the_same_segments() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path());
    let expected = sql_rows(&archive, SEGMENTS);
    assert!(expected.iter().any(|row| row.ends_with(",SPEAKER_01")), "speakers are part of the test");
    for format in ["srt", "vtt", "json"] {
        let folder = dir.path().join(format!("out-{format}"));
        run_on(
            &archive,
            &["export", "-q", "--where", "true", "--format", format, "--output", &format!("{}/", folder.display())],
        );
        assert!(folder.join(format!("whisperx.{format}")).is_file());
        let back = dir.path().join(format!("back-{format}"));
        run_on(&back, &["ingest", "-q", &folder.to_string_lossy()]);
        assert_eq!(sql_rows(&back, SEGMENTS), expected, "{format} round trip");
    }
    let text =
        run_ok(&["export", "--doc", "python-for-hpc", "--format", "txt", "--archive", &archive.to_string_lossy()]);
    let texts = sql_rows(&archive, "SELECT text FROM segments WHERE doc_id = 'python-for-hpc' ORDER BY seq");
    assert_eq!(text.lines().count(), texts.len());
    assert_eq!(text.lines().next(), Some("Hi everybody. I'm Mary Thomas and"));
}

#[test]
fn srt_and_webvtt_follow_their_conventions() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path());
    let a = archive.to_string_lossy();
    let srt = run_ok(&["export", "--doc", "whisperx", "--archive", &a]);
    assert!(
        srt.starts_with("1\n00:00:00,031 --> 00:00:02,512\n[SPEAKER_00]: We are in New York City.\n\n2\n"),
        "{srt}"
    );
    let vtt = run_ok(&["export", "--doc", "whisperx", "--format", "vtt", "--archive", &a]);
    assert!(
        vtt.starts_with("WEBVTT\n\n00:00:00.031 --> 00:00:02.512\n<v SPEAKER_00>We are in New York City.\n"),
        "{vtt}"
    );
    let file = dir.path().join("one.srt");
    run_ok(&["export", "-q", "--doc", "whisperx", "--output", &file.to_string_lossy(), "--archive", &a]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), srt);
}

#[test]
fn recut_cues_respect_the_limits_and_keep_every_word() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path());
    let a = archive.to_string_lossy();
    for (doc, limit) in [("whisperx", "10"), ("python-for-hpc", "32"), ("Adversarial-Machine-Learning", "42")] {
        let srt = run_ok(&["export", "--doc", doc, "--max-chars", limit, "--max-duration", "4", "--archive", &a]);
        let cues: Vec<&str> = srt.split("\n\n").filter(|c| !c.trim().is_empty()).collect();
        let limit: usize = limit.parse().unwrap();
        let mut words = Vec::new();
        for cue in &cues {
            let lines: Vec<&str> = cue.lines().collect();
            let text = lines[2..].join(" ");
            let text = text.split_once("]: ").map_or(text.as_str(), |(_, t)| t).to_string();
            let longest_word = text.split_whitespace().map(|w| w.chars().count()).max().unwrap_or(0);
            assert!(text.chars().count() <= limit.max(longest_word), "{doc}: {text:?} is over {limit}");
            words.extend(text.split_whitespace().map(str::to_string));
        }
        let original = sql_rows(&archive, &format!("SELECT text FROM segments WHERE doc_id = '{doc}' ORDER BY seq"));
        let original: Vec<String> = original
            .iter()
            .flat_map(|t| {
                t.trim_matches('"').replace("\"\"", "\"").split_whitespace().map(str::to_string).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(words, original, "{doc}: every word, in order");
        assert!(cues.len() > 1);
    }
}

#[test]
fn unknown_documents_and_ambiguous_destinations_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path());
    let a = archive.to_string_lossy();
    let missing = run(&[
        "export",
        "--doc",
        "whisperx",
        "--doc",
        "nope",
        "--output",
        &dir.path().join("x").to_string_lossy(),
        "--archive",
        &a,
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no document \"nope\""));
    let several = run(&["export", "--where", "true", "--archive", &a]);
    assert!(String::from_utf8_lossy(&several.stderr).contains("give --output FOLDER"));
    let none = run(&[
        "export",
        "--where",
        "channel = 'nobody'",
        "--output",
        &dir.path().join("y").to_string_lossy(),
        "--archive",
        &a,
    ]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("no document matches"));
}
