//! Ingestion: the sample, re-runs, bad input, document ids, locking.

use std::path::Path;

use crate::common::*;

#[test]
fn the_sample_gives_1568_segments_with_normalised_ends() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    let output = run(&["ingest", &sample().to_string_lossy(), "--archive", &archive.to_string_lossy()]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("added 1 documents, 1568 segments"), "{stderr}");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM segments WHERE doc_id = 'python-for-hpc'"), "1568");
    let overlaps = "SELECT count(*) FROM (SELECT end_ms, lead(start_ms) OVER (PARTITION BY doc_id ORDER BY seq) AS next FROM segments) WHERE end_ms > next";
    assert_eq!(sql_value(&archive, overlaps), "0");
}

#[test]
fn ingesting_the_same_sources_again_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, archive) = generated_archive(dir.path(), "300KB", 3);
    let archive_arg = archive.to_string_lossy();
    let before = archive_contents(&archive);
    let info_before = run_ok(&["info", "--archive", &archive_arg]);
    let output = run(&["ingest", &corpus.to_string_lossy(), "--archive", &archive_arg]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("added 0 documents, 0 segments"), "{stderr}");
    assert_eq!(archive_contents(&archive), before);
    assert!(stderr.contains("6 files unchanged"), "{stderr}");
    let info = run_ok(&["info", "--archive", &archive_arg]);
    assert_eq!(info, info_before, "a re-run commits nothing");
}

#[test]
fn bad_files_are_rejected_with_location_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("in");
    write(&corpus, "good.json", r#"[{"text": "hello world", "start": 0.5, "duration": 1.0}]"#);
    write(
        &corpus,
        "broken.json",
        "[\n  {\"text\": \"a\", \"start\": 1, \"duration\": 2},\n  {\"text\": \"b\" \"start\": 2}\n]",
    );
    write(&corpus, "empty.json", "");
    write(
        &corpus,
        "nan.json",
        r#"[{"text": "x", "start": 1.0, "duration": NaN}, {"text": "y", "start": 2.0, "duration": 1.0}]"#,
    );
    write(
        &corpus,
        "cli.json",
        "Could not retrieve a transcript for the video abc!\n[[{\"text\":\"a\",\"start\":0,\"duration\":1}],[{\"text\":\"b\",\"start\":0,\"duration\":1}]]",
    );
    write(&corpus, "notes.txt", "not a transcript, and not picked up from a folder");
    write(&corpus, "turns.txt", "[Host] [00:01] Welcome back.\n[Guest] [00:04] Thanks.\n");
    let archive = dir.path().join("a");
    let output = run(&["ingest", &corpus.to_string_lossy(), "--archive", &archive.to_string_lossy()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "rejects give exit status 3: {stderr}");
    assert!(stderr.contains("broken.json:3:16: json: expected `,` or `}`"), "{stderr}");
    assert!(stderr.contains("empty.json: json: empty file"), "{stderr}");

    let docs = sql_rows(&archive, "SELECT doc_id, n_segments FROM documents ORDER BY doc_id");
    assert_eq!(
        docs,
        ["cli#1,1", "cli#2,1", "good,1", "nan,2", "turns,2"],
        "speaker turns are picked up, notes are not"
    );
    let nan =
        sql_rows(&archive, "SELECT seq, start_ms, end_ms, duration_ms FROM segments WHERE doc_id = 'nan' ORDER BY seq");
    assert_eq!(nan, ["0,1000,2000,", "1,2000,3000,1000"], "NaN duration: raw NULL, end at the next start");
    let rejects = sql_rows(&archive, "SELECT doc_id, line, \"column\", reason FROM rejects ORDER BY doc_id");
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    assert!(rejects[0].starts_with("broken,3,16,\"json: expected `,` or `}`"), "{rejects:?}");
    assert!(rejects[1].starts_with("empty,,,json: empty file"), "{rejects:?}");

    // Running again reports the bad files again but records them once.
    let again = run(&["ingest", &corpus.to_string_lossy(), "--archive", &archive.to_string_lossy()]);
    assert_eq!(again.status.code(), Some(3));
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM rejects"), "2");
}

#[test]
fn document_ids_are_relative_paths_and_names_give_video_ids_and_languages() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("in");
    let transcript = r#"[{"text": "a", "start": 0, "duration": 1}]"#;
    write(&corpus, "a/talk.json", transcript);
    write(&corpus, "b/talk.json", &transcript.replace("\"a\"", "\"b\""));
    write(&corpus, "ch/dQw4w9WgXcQ.en-GB.json", transcript);
    write(&corpus, "ch/Never Gonna [dQw4w9WgXcQ].json", &transcript.replace("\"a\"", "\"c\""));
    let archive = dir.path().join("a");
    run_ok(&["ingest", "-q", &corpus.to_string_lossy(), "--archive", &archive.to_string_lossy()]);
    let docs = sql_rows(&archive, "SELECT doc_id, video_id, language FROM documents ORDER BY doc_id");
    assert_eq!(
        docs,
        ["a/talk,,", "b/talk,,", "ch/Never Gonna [dQw4w9WgXcQ],dQw4w9WgXcQ,", "ch/dQw4w9WgXcQ.en-GB,dQw4w9WgXcQ,en-GB"]
    );
    let link = sql_value(&archive, "SELECT youtube_link(d.video_id, 61500) FROM documents d WHERE language = 'en-GB'");
    assert_eq!(link, "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=61s");
}

#[test]
fn a_file_named_twice_or_through_a_link_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let talk = write(dir.path(), "in/talk.json", r#"[{"text": "once", "start": 0, "duration": 1}]"#);
    std::os::unix::fs::symlink(&talk, dir.path().join("in/link.json")).unwrap();
    let archive = dir.path().join("a");
    // The folder (which holds the file and a link to it) and the file itself.
    let folder = dir.path().join("in");
    let output =
        run(&["ingest", &folder.to_string_lossy(), &talk.to_string_lossy(), "--archive", &archive.to_string_lossy()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("added 1 documents, 1 segments"), "{stderr}");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM segments"), "1");
}

#[test]
fn two_sources_with_one_document_id_keep_the_first_and_reject_the_second() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "x/talk.json", r#"[{"text": "a", "start": 0, "duration": 1}]"#);
    let b = write(dir.path(), "y/talk.json", r#"[{"text": "b", "start": 0, "duration": 1}]"#);
    let archive = dir.path().join("a");
    let output = run(&[
        "ingest",
        "-j",
        "1",
        &a.to_string_lossy(),
        &b.to_string_lossy(),
        "--archive",
        &archive.to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("document id talk is also produced by"));
    assert_eq!(sql_value(&archive, "SELECT text FROM segments"), "a");
}

#[test]
fn a_subtitle_in_two_formats_keeps_the_first_run_after_run() {
    // talk.srt and talk.vtt in one folder both give the id `talk`: the first in name order keeps
    // it on every run, with both workers, and the other stays a reject (they used to take turns
    // replacing each other, a new version every night).
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("subs");
    write(&folder, "talk.srt", "1\n00:00:00,000 --> 00:00:01,000\nfrom the srt\n");
    write(&folder, "talk.vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nfrom the vtt\n");
    let archive = dir.path().join("a");
    let (folder_arg, archive_arg) = (folder.to_string_lossy().into_owned(), archive.to_string_lossy().into_owned());
    let mut first_ingested = None;
    for night in 0..3 {
        let output = run(&["ingest", "-j", "2", &folder_arg, "--archive", &archive_arg]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "night {night}: {stderr}");
        assert!(stderr.contains("talk.vtt") && stderr.contains("document id talk is also produced by"), "{stderr}");
        assert_eq!(sql_value(&archive, "SELECT text FROM segments"), "from the srt", "night {night}");
        let ingested = sql_value(&archive, "SELECT CAST(ingested_at AS VARCHAR) FROM documents");
        assert_eq!(first_ingested.get_or_insert_with(|| ingested.clone()), &ingested, "night {night}: replaced");
    }
}

#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8_is_ingested_not_skipped() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("subs");
    std::fs::create_dir_all(&folder).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.json");
    std::fs::write(folder.join(name), r#"[{"text": "latin-1 name", "start": 0, "duration": 1}]"#).unwrap();
    let archive = dir.path().join("a");
    let output = run(&["ingest", &folder.to_string_lossy(), "--archive", &archive.to_string_lossy()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(sql_value(&archive, "SELECT text FROM segments"), "latin-1 name");
    assert_eq!(sql_value(&archive, "SELECT doc_id FROM documents"), "caf\u{fffd}");
}

#[test]
fn a_live_lock_stops_a_second_writer_and_a_dead_one_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    let archive_arg = archive.to_string_lossy().into_owned();
    ingest_sample(&archive_arg);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
    let lock = |pid: u32, host: &str, expires_at: &str| {
        let text = format!(
            r#"{{"run_id": "other", "pid": {pid}, "host": "{host}", "since": "2026-01-01T00:00:00Z", "expires_at": "{expires_at}"}}"#
        );
        write(&archive, "_verbatim/lock", &text);
    };
    lock(std::process::id(), &host, "2999-01-01T00:00:00Z");
    let started = std::time::Instant::now();
    let output = run(&["ingest", &sample().to_string_lossy(), "--archive", &archive_arg, "--wait", "2s"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "archive busy: {stderr}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(2), "it waited as long as --wait says");
    assert!(stderr.contains("is locked by run other") && stderr.contains("waiting up to 2s"), "{stderr}");
    assert!(stderr.contains("is busy: locked by run other"), "{stderr}");
    assert!(Path::new(&archive).join("_verbatim/lock").exists(), "someone else's lock is left alone");
    // Reading is never blocked by the lock.
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents"), "1");

    // A holder on this host that is gone, and one on another host whose lease ran out.
    lock(dead_pid(), &host, "2999-01-01T00:00:00Z");
    ingest_sample(&archive_arg);
    assert!(!Path::new(&archive).join("_verbatim/lock").exists());
    lock(std::process::id(), "another-host", "2026-01-01T00:01:00Z");
    ingest_sample(&archive_arg);
    assert!(!Path::new(&archive).join("_verbatim/lock").exists());
}

/// A process id that is not running: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn empty_whitespace_and_bom_only_bundles_are_rejects_and_the_good_files_are_committed() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::copy(sample(), corpus.join("talk.json")).unwrap();
    for (name, text) in [("empty.jsonl", ""), ("blank.jsonl", "  \n\t\r\n"), ("bom.jsonl", "\u{feff}")] {
        write(&corpus, name, text);
    }
    let archive = dir.path().join("a");
    let output = verbatim().args(["ingest"]).arg(&corpus).arg("--archive").arg(&archive).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    for name in ["empty.jsonl", "blank.jsonl", "bom.jsonl"] {
        assert!(stderr.contains(&format!("{name}: jsonl: the file holds no transcript")), "{stderr}");
    }
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM segments"), "1568");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM rejects"), "3");
}

#[test]
fn endless_and_special_files_stop_at_their_share_of_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.json");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
    let archive = dir.path().join("a");
    let mut command = verbatim();
    command.args(["ingest", "--memory-limit", "64MiB", "/dev/zero"]).arg(sample()).arg("--archive").arg(&archive);
    if made {
        command.arg(&fifo);
        // A writer that never stops: the reader must give up at the limit, not grow without bound.
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            if let Ok(mut pipe) = std::fs::OpenOptions::new().write(true).open(&fifo) {
                let chunk = vec![b' '; 1 << 16];
                while std::io::Write::write_all(&mut pipe, &chunk).is_ok() {}
            }
        });
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("/dev/zero: file is more than") && stderr.contains("raise the memory limit"), "{stderr}");
    if made {
        assert!(stderr.contains("pipe.json: file is more than"), "{stderr}");
    }
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM segments"), "1568");
}

#[test]
fn a_writer_whose_lock_was_taken_over_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, "12MB", 3);
    let archive = dir.path().join("a");
    let child = verbatim()
        .args(["ingest", "-j", "1", "--chunk-size", "256KiB"])
        .arg(&corpus)
        .arg("--archive")
        .arg(&archive)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock = archive.join("_verbatim/lock");
    let started = std::time::Instant::now();
    while !lock.exists() && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // Another writer takes the lock over (as if this one had stalled past its lease).
    let foreign = r#"{"run_id": "other", "pid": 1, "host": "elsewhere", "since": "2026-01-01T00:00:00Z", "expires_at": "2999-01-01T00:00:00Z"}"#;
    std::fs::write(&lock, foreign).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lost the write lock"), "{stderr}");
    assert!(
        !archive.join("_verbatim/manifests").exists()
            || std::fs::read_dir(archive.join("_verbatim/manifests")).unwrap().next().is_none(),
        "nothing was committed"
    );
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), foreign, "the other writer's lock is left alone");
}

#[test]
fn an_archive_under_a_non_ascii_path_keeps_its_phrase_indexes_beside_its_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("Vorträge_ø");
    let archive_arg = archive.to_string_lossy();
    ingest_sample(&archive);
    let indexes: Vec<_> = std::fs::read_dir(archive.join("segments"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".phrases"))
        .collect();
    assert!(!indexes.is_empty(), "no phrase index beside the chunks");
    assert!(!dir.path().join("Vortr%C3%A4ge_%C3%B8").exists(), "the root was encoded twice");
    let verified = run(&["verify", "--archive", &archive_arg]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    let corpus = dir.path().join("more");
    write(&corpus, "extra.json", r#"[{"text": "quantum marmalade centre", "start": 0.5, "duration": 1.0}]"#);
    let output = run(&["ingest", &corpus.to_string_lossy(), "--archive", &archive_arg]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(sql_value(&archive, "SELECT doc_id FROM search('quantum marmalade')"), "extra");
    let verified = run(&["verify", "--archive", &archive_arg]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
}

#[test]
fn an_empty_srt_or_a_cueless_webvtt_is_a_reject_as_in_every_other_format() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("in");
    write(&corpus, "empty.srt", "");
    write(&corpus, "blank.srt", "\n \n");
    write(&corpus, "header.vtt", "WEBVTT\n\nNOTE nothing said\n");
    write(&corpus, "good.srt", "1\n00:00:01,000 --> 00:00:02,500\nhello there\n");
    let archive = dir.path().join("a");
    let output = run(&["ingest", &corpus.to_string_lossy(), "--archive", &archive.to_string_lossy()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("empty.srt") && stderr.contains("blank.srt") && stderr.contains("header.vtt"), "{stderr}");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents"), "1");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM rejects"), "3");
}
