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

/// Runs `command` with its output to files in `dir`; its exit status and peak RSS in bytes.
// The child is reaped by wait4(2), which also gives its peak RSS, not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn peak_rss(mut command: std::process::Command, dir: &Path) -> (i32, u64, String) {
    let stderr_path = dir.join("stderr.txt");
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for the child this test spawned (not reaped elsewhere) and fills `usage`.
    let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(waited, child.id() as i32);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    (libc::WEXITSTATUS(status), usage.ru_maxrss as u64 * 1024, stderr)
}

#[test]
fn a_long_document_streams_out_within_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let captions = 2_000_000;
    let mut json = String::with_capacity(captions * 80);
    json.push('[');
    for i in 0..captions {
        if i > 0 {
            json.push(',');
        }
        let text = format!("caption number {i} of a very long recording");
        json.push_str(&format!(r#"{{"text": "{text}", "start": {}.0, "duration": 1.5}}"#, i * 2));
    }
    json.push(']');
    let source = write(dir.path(), "long/marathon.json", &json);
    drop(json);
    let archive = dir.path().join("archive");
    run_on(&archive, &["ingest", "-q", &source.to_string_lossy()]);

    let limit = 256u64 << 20;
    let out = dir.path().join("marathon.srt");
    let mut export = verbatim();
    export.args(["export", "-q", "--doc", "marathon", "-m", "256MiB", "--max-duration", "7", "--output"]);
    export.arg(&out).arg("--archive").arg(&archive);
    let (status, peak, stderr) = peak_rss(export, dir.path());
    assert_eq!(status, 0, "{stderr}");
    let srt = std::fs::read_to_string(&out).unwrap();
    let cues: Vec<&str> = srt.split("\n\n").filter(|cue| !cue.is_empty()).collect();
    let words: usize =
        cues.iter().map(|cue| cue.lines().skip(2).map(|l| l.split_whitespace().count()).sum::<usize>()).sum();
    assert_eq!(words, captions * 8, "every word is kept");
    assert!(srt.ends_with("of a very long recording\n\n"));
    for cue in &cues {
        let times = cue.lines().nth(1).unwrap();
        let (start, end) = times.split_once(" --> ").unwrap();
        assert!(srt_ms(end) - srt_ms(start) <= 7000, "{cue}");
    }
    eprintln!("export of {captions} captions peaked at {} MiB under a 256 MiB limit", peak >> 20);
    assert!(peak < limit * 5 / 4, "export peaked at {} MiB under a 256 MiB limit", peak >> 20);
}

/// Milliseconds of an SRT time stamp `HH:MM:SS,mmm`.
fn srt_ms(stamp: &str) -> i64 {
    let (clock, ms) = stamp.split_once(',').unwrap();
    let parts: Vec<i64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
    ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + ms.parse::<i64>().unwrap()
}
