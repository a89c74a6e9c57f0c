//! Crash safety: an ingest killed (SIGKILL) at any moment leaves a readable archive with no
//! partial or duplicated data, and running the same command again gives exactly the archive of
//! one clean run.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::*;

fn manifests(archive: &Path) -> usize {
    std::fs::read_dir(archive.join("_verbatim/manifests")).map(|d| d.count()).unwrap_or(0)
}

/// Chunk files that runs have staged (finished, not yet committed), per their run records.
fn staged_files(archive: &Path) -> usize {
    let Ok(records) = std::fs::read_dir(archive.join("_verbatim/runs")) else { return 0 };
    records
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .filter_map(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .map(|record| record["staged"].as_array().map_or(0, Vec::len))
        .sum()
}

fn spawn_ingest(corpus: &Path, archive: &Path) -> Child {
    verbatim()
        .args(["ingest", "-q", "--chunk-size", "48KiB", "-j", "2"])
        .arg(corpus)
        .arg("--archive")
        .arg(archive)
        .spawn()
        .expect("verbatim starts")
}

/// Kills `child` once `ready` holds (or after `timeout`); false if it had already finished.
fn kill_when(child: &mut Child, timeout: Duration, ready: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return false;
        }
        if ready() || started.elapsed() > timeout {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn assert_consistent(archive: &Path) {
    let duplicates = "SELECT count(*) FROM (SELECT doc_id, seq FROM segments GROUP BY doc_id, seq HAVING count(*) > 1)";
    assert_eq!(sql_value(archive, duplicates), "0", "no duplicated segments");
    let docs = "SELECT count(*) FROM (SELECT doc_id FROM documents GROUP BY doc_id HAVING count(*) > 1)";
    assert_eq!(sql_value(archive, docs), "0", "no duplicated documents");
    let partial = "SELECT count(*) FROM documents d LEFT JOIN (SELECT doc_id, count(*) AS n FROM segments GROUP BY doc_id) s \
                   ON s.doc_id = d.doc_id WHERE coalesce(s.n, 0) <> d.n_segments";
    assert_eq!(sql_value(archive, partial), "0", "every committed document is complete");
}

#[test]
fn a_killed_ingest_leaves_a_readable_archive_and_a_rerun_completes_it_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, "3MB", 21);
    write(&corpus, "channel-00/broken.json", "[{\"text\": \"cut off");

    let clean = dir.path().join("clean");
    let output = verbatim()
        .args(["ingest", "-q", "--chunk-size", "48KiB"])
        .arg(&corpus)
        .arg("--archive")
        .arg(&clean)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    let expected = archive_contents(&clean);
    assert_eq!(manifests(&clean), 1, "a run's work appears in one commit");

    let crashed = dir.path().join("crashed");
    let mut kills = 0;
    // First kill at once (before any chunk), then each time right after a run staged a new chunk:
    // every re-run adopts what the killed runs finished and goes on from there.
    let mut child = spawn_ingest(&corpus, &crashed);
    if kill_when(&mut child, Duration::from_millis(20), || false) {
        kills += 1;
    }
    for _ in 0..4 {
        let before = staged_files(&crashed);
        let mut child = spawn_ingest(&corpus, &crashed);
        if !kill_when(&mut child, Duration::from_secs(60), || staged_files(&crashed) > before) {
            break;
        }
        kills += 1;
        if crashed.join("_verbatim/archive.json").exists() {
            assert_consistent(&crashed);
        }
    }
    assert!(kills >= 3, "the ingest was interrupted part-way ({kills} kills)");
    assert!(staged_files(&crashed) > 0, "the killed runs left finished chunks staged");

    let report = dir.path().join("report.json");
    let finish = verbatim()
        .args(["ingest", "-q", "--chunk-size", "48KiB", "--report"])
        .arg(&report)
        .arg(&corpus)
        .arg("--archive")
        .arg(&crashed)
        .output()
        .unwrap();
    assert_eq!(finish.status.code(), Some(3), "{}", String::from_utf8_lossy(&finish.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(report["documents"]["resumed"].as_u64().unwrap() > 0, "the re-run adopted finished chunks: {report}");
    assert_consistent(&crashed);
    assert_eq!(archive_contents(&crashed), expected, "a re-run gives exactly the archive of one clean run");

    // No leftovers of the killed runs remain in the table folders.
    for table in ["segments", "documents", "rejects"] {
        let listed: usize =
            sql_value(&crashed, &format!("SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 0)")).parse().unwrap();
        assert_eq!(listed, 0);
        for entry in std::fs::read_dir(crashed.join(table)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let indexed = name.strip_suffix(".phrases").map(|stem| crashed.join(table).join(format!("{stem}.parquet")));
            assert!(
                name.ends_with(".parquet") || indexed.is_some_and(|chunk| chunk.exists()),
                "stray file {table}/{name}"
            );
        }
    }
    let info = run_ok(&["info", "--archive", &crashed.to_string_lossy()]);
    let files_on_disk: usize = ["segments", "documents", "rejects"]
        .iter()
        .flat_map(|t| std::fs::read_dir(crashed.join(t)).unwrap())
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".parquet"))
        .count();
    let files_listed: usize = info
        .lines()
        .skip(3)
        .filter(|l| !l.starts_with("chunks"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        .sum();
    assert_eq!(files_on_disk, files_listed, "every chunk on disk is committed: {info}");
}

#[test]
fn leftovers_of_killed_runs_are_removed_by_the_next_writer_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    let archive_arg = archive.to_string_lossy().into_owned();
    ingest_sample(&archive_arg);
    // A run killed mid-way leaves its record, an unfinished multipart upload (object_store stages
    // it as `<name>#<n>`) and a finished but uncommitted chunk.
    let dead_run = "01938a2e-7c41-7b3a-9f00-0123456789ab";
    let record = format!("{{\"run_id\": \"{dead_run}\", \"pid\": 1, \"started_at\": \"2026-01-01T00:00:00Z\"}}");
    write(&archive, &format!("_verbatim/runs/{dead_run}.json"), &record);
    let staging = write(&archive, &format!("segments/{dead_run}-000000-0000.parquet#1"), "partial upload");
    let uncommitted = write(&archive, &format!("documents/{dead_run}-000000-0000.parquet"), "not in any manifest");
    // A file nothing explains (copied in by hand) is not provably a leftover, so it stays.
    let unknown = write(&archive, "documents/copied-in-by-hand.parquet", "unknown origin");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents"), "1", "readers ignore them all");
    let verify = run(&["verify", "--archive", &archive_arg]);
    assert_eq!(verify.status.code(), Some(0), "unlisted files are noted, not problems");
    assert!(String::from_utf8_lossy(&verify.stderr).contains("copied-in-by-hand.parquet: not listed in any manifest"));
    ingest_sample(&archive_arg);
    assert!(!staging.exists() && !uncommitted.exists(), "the dead run's leftovers are removed");
    assert!(!archive.join(format!("_verbatim/runs/{dead_run}.json")).exists(), "and its record");
    assert!(unknown.exists(), "data of unknown origin is never deleted");
    assert!(
        std::fs::read_dir(archive.join("_verbatim/runs")).unwrap().next().is_none(),
        "a finished run leaves no record"
    );
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM segments"), "1568");
}

#[test]
fn a_run_killed_while_replacing_changed_documents_is_redone_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, "3MB", 44);
    let crashed = dir.path().join("crashed");
    let ingest = |archive: &std::path::Path| {
        let (corpus, archive) = (corpus.to_string_lossy(), archive.to_string_lossy());
        run_ok(&["ingest", "-q", "--chunk-size", "48KiB", &corpus, "--archive", &archive]);
    };
    ingest(&crashed);
    // Every other file changes (a model re-run), so chunks mix new versions and new-looking copies.
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .flat_map(|channel| std::fs::read_dir(channel.unwrap().path()).unwrap())
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    for file in files.iter().step_by(2) {
        let text = std::fs::read_to_string(file).unwrap().replacen("\"text\": \"", "\"text\": \"Again: ", 1);
        std::fs::write(file, text).unwrap();
    }
    let clean = dir.path().join("clean");
    ingest(&clean);
    let expected = archive_contents(&clean);

    let mut kills = 0;
    for _ in 0..3 {
        let before = staged_files(&crashed);
        let mut child = spawn_ingest(&corpus, &crashed);
        if !kill_when(&mut child, Duration::from_secs(60), || staged_files(&crashed) > before) {
            break;
        }
        kills += 1;
        assert_consistent(&crashed);
    }
    assert!(kills >= 1, "the replacing run was interrupted");
    ingest(&crashed);
    assert_consistent(&crashed);
    assert_eq!(archive_contents(&crashed), expected, "exactly the new versions, once each");
    run_ok(&["verify", "-q", "--archive", &crashed.to_string_lossy()]);
}
