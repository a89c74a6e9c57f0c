//! Nightly jobs: changed sources replace their documents in one commit, vanished ones are pruned
//! under the given roots only, a run appears in one commit, and the history (`log`, `--as-of`,
//! `vacuum`) keeps what readers of older snapshots need for the retention period.

use std::path::Path;

use crate::common::*;

/// A corpus of the bundled sample, a WhisperX file (with word timings) and a generated channel.
fn corpus(dir: &Path) -> std::path::PathBuf {
    let corpus = dir.join("corpus");
    generate(&corpus.join("gen"), "200KB", 5);
    std::fs::copy(sample(), corpus.join("talk.json")).unwrap();
    let whisperx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats/stt/whisperx.json");
    std::fs::copy(whisperx, corpus.join("whisper.json")).unwrap();
    corpus
}

fn ingest(corpus: &Path, archive: &Path, extra: &[&str]) -> String {
    let output = verbatim().arg("ingest").arg(corpus).arg("--archive").arg(archive).args(extra).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// Every table's rows of the documents other than `except`, in a fixed order.
fn others(archive: &Path, except: &str) -> Vec<String> {
    let mut rows = sql_rows(
        archive,
        &format!(
            "SELECT doc_id, seq, start_ms, end_ms, text FROM segments WHERE doc_id <> '{except}' ORDER BY doc_id, seq"
        ),
    );
    rows.extend(sql_rows(
        archive,
        &format!("SELECT doc_id, seq, word_index, word FROM words WHERE doc_id <> '{except}' ORDER BY doc_id, seq, word_index"),
    ));
    rows.extend(sql_rows(
        archive,
        &format!("SELECT doc_id, n_segments, content_hash FROM documents WHERE doc_id <> '{except}' ORDER BY doc_id"),
    ));
    rows
}

#[test]
fn a_changed_source_replaces_its_document_in_one_commit_and_leaves_the_others_alone() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let archive = dir.path().join("archive");
    ingest(&corpus, &archive, &[]);
    let words_before = sql_value(&archive, "SELECT count(*) FROM words WHERE doc_id = 'whisper'");
    assert_ne!(words_before, "0", "the WhisperX file has word timings");
    let untouched = others(&archive, "whisper");

    // A Whisper model is re-run: the transcript's first word changes.
    let path = corpus.join("whisper.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let first_word =
        sql_value(&archive, "SELECT word FROM words WHERE doc_id = 'whisper' ORDER BY seq, word_index LIMIT 1");
    let changed = text.replacen(&format!("\"{first_word}\""), "\"Verbatim\"", 1);
    assert_ne!(changed, text, "the word is in the file");
    std::fs::write(&path, changed).unwrap();
    let said = ingest(&corpus, &archive, &[]);
    assert!(said.contains("1 changed") && said.contains("replaced 1 documents"), "{said}");

    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents WHERE doc_id = 'whisper'"), "1");
    let first = "SELECT word FROM words WHERE doc_id = 'whisper' ORDER BY seq, word_index LIMIT 1";
    assert_eq!(sql_value(&archive, first), "Verbatim", "the new version is visible");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM words WHERE doc_id = 'whisper'"), words_before);
    let duplicates = "SELECT count(*) FROM (SELECT doc_id, seq FROM segments GROUP BY doc_id, seq HAVING count(*) > 1)";
    assert_eq!(sql_value(&archive, duplicates), "0", "the old version is gone");
    assert_eq!(others(&archive, "whisper"), untouched, "other documents are untouched");

    // The older snapshot still answers as it did, until vacuum.
    let log = run_on(&archive, &["log", "--json"]);
    let commits: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(commits.len(), 2, "one commit per run: {log}");
    assert_eq!(commits[1]["documents_removed"], 1, "{log}");
    assert!(commits[1]["files_removed"].as_u64().unwrap() >= 2, "{log}");
    let old = run_on(&archive, &["sql", "-q", "--as-of", "1", "--format", "csv", first]);
    assert_eq!(old.lines().nth(1), Some(first_word.as_str()));
    run_on(&archive, &["verify", "-q"]);

    // With the default retention, the replaced files are kept for readers of the older snapshot.
    let kept = run(&["vacuum", "--archive", &archive.to_string_lossy()]);
    assert!(String::from_utf8_lossy(&kept.stderr).contains("deleted 0 files"));
    let vacuum = run(&["vacuum", "--retention", "0s", "--archive", &archive.to_string_lossy()]);
    let said = String::from_utf8_lossy(&vacuum.stderr);
    assert!(vacuum.status.success() && !said.contains("deleted 0 files") && said.contains("1 manifests"), "{said}");
    let gone = run(&["sql", "--as-of", "1", "--archive", &archive.to_string_lossy(), "SELECT 1"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("has no snapshot v1 (kept: v2 to v2"));
    assert_eq!(sql_value(&archive, first), "Verbatim");
    let verify = run(&["verify", "--archive", &archive.to_string_lossy()]);
    assert!(verify.status.success());
    assert!(!String::from_utf8_lossy(&verify.stderr).contains("not listed"), "vacuum left no stray file");
}

#[test]
fn prune_removes_vanished_sources_under_the_given_roots_only() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(sample(), elsewhere.join("kept.json")).unwrap();
    let archive = dir.path().join("archive");
    ingest(&corpus, &archive, &[]);
    ingest(&elsewhere, &archive, &[]);
    let documents: u64 = sql_value(&archive, "SELECT count(*) FROM documents").parse().unwrap();

    std::fs::remove_file(corpus.join("talk.json")).unwrap();
    let without = ingest(&corpus, &archive, &[]);
    assert!(without.contains("nothing to commit"), "without --prune nothing is removed: {without}");
    let report = dir.path().join("report.json");
    ingest(&corpus, &archive, &["--prune", "--report", &report.to_string_lossy()]);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["documents"]["removed"], 1, "{report}");
    assert_eq!(report["sources"]["unchanged"], report["sources"]["seen"], "{report}");
    assert_eq!(report["version_after"].as_u64(), report["version_before"].as_u64().map(|v| v + 1), "{report}");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents WHERE doc_id = 'talk'"), "0");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM segments WHERE doc_id = 'talk'"), "0");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents WHERE doc_id = 'kept'"), "1", "outside the roots");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents").parse::<u64>().unwrap(), documents - 1);
}

#[test]
fn a_backfill_may_commit_as_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, "600KB", 8);
    let archive = dir.path().join("archive");
    ingest(&corpus, &archive, &["--chunk-size", "32KiB", "-j", "1", "--commit-every", "0s"]);
    let commits = run_on(&archive, &["log", "--json"]).lines().count();
    assert!(commits > 2, "intermediate commits ({commits})");
    let single = dir.path().join("single");
    ingest(&corpus, &single, &["--chunk-size", "32KiB", "-j", "1"]);
    assert_eq!(run_on(&single, &["log", "--json"]).lines().count(), 1);
    assert_eq!(archive_contents(&archive), archive_contents(&single));
}

/// The files of a generated corpus, sorted.
fn corpus_files(corpus: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut folders = vec![corpus.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { folders.push(path) } else { files.push(path.to_string_lossy().into_owned()) }
        }
    }
    files.sort();
    files
}

/// Ingests `files` as `nights` runs, file i in run i % nights, so every run's documents interleave
/// with the others' (their ranges overlap); returns what each run said.
fn nightly_runs(files: &[String], nights: usize, archive: &Path, extra: &[&str]) -> Vec<String> {
    (0..nights)
        .map(|night| {
            let tonight: Vec<&str> = files.iter().skip(night).step_by(nights).map(String::as_str).collect();
            let output =
                verbatim().arg("ingest").args(&tonight).arg("--archive").arg(archive).args(extra).output().unwrap();
            let said = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(output.status.success(), "{said}");
            said
        })
        .collect()
}

#[test]
fn compaction_merges_overlapping_runs_into_document_order_with_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus.join("gen"), "1500KB", 17);
    let whisperx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats/stt/whisperx.json");
    let mut files = corpus_files(&corpus);
    files.push(whisperx.to_string_lossy().into_owned());
    let archive = dir.path().join("nightly");
    nightly_runs(&files, 8, &archive, &["--compact", "never"]);
    let single = dir.path().join("single");
    nightly_runs(&files, 1, &single, &[]);
    let expected = archive_contents(&single);
    assert_eq!(archive_contents(&archive), expected);
    let info = run_on(&archive, &["info"]);
    assert!(info.contains("8 overlapping sorted runs"), "{info}");
    let pauses = "EXPLAIN SELECT doc_id, max(start_ms - previous) FROM (SELECT doc_id, start_ms, \
                  lag(end_ms) OVER (PARTITION BY doc_id ORDER BY seq) AS previous FROM segments) GROUP BY doc_id";
    assert!(run_on(&archive, &["sql", "-q", pauses]).contains("SortExec"), "overlapping runs need a sort");

    // A small budget forces several merge passes; the answer is the same.
    let output = verbatim()
        .args(["compact", "-m", "24MiB", "--chunk-size", "256KiB", "--archive"])
        .arg(&archive)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && said.contains("in document order"), "{said}");
    assert!(!said.contains(" 1 pass(es)"), "the budget allowed fewer chains than there were: {said}");
    assert_eq!(archive_contents(&archive), expected, "compaction changes no row");
    let info = run_on(&archive, &["info"]);
    assert!(info.contains("in document order (1 sorted run)"), "{info}");
    assert!(!run_on(&archive, &["sql", "-q", pauses]).contains("SortExec"), "the order is declared again");
    let words = "SELECT count(*) FROM words w JOIN segments s ON w.doc_id = s.doc_id AND w.seq = s.seq";
    assert_eq!(sql_value(&archive, words), sql_value(&single, words), "words still line up with their segments");
    // The snapshot before compaction is still readable, until vacuum.
    assert_eq!(
        sql_value(&archive, "SELECT count(*) FROM segments"),
        sql_value(&single, "SELECT count(*) FROM segments")
    );
    let before = run_on(&archive, &["sql", "-q", "--as-of", "8", "--format", "csv", "SELECT count(*) FROM segments"]);
    assert_eq!(before.lines().nth(1).unwrap(), sql_value(&single, "SELECT count(*) FROM segments"));
    run_on(&archive, &["verify", "-q", "--deep"]);
    let again = verbatim().args(["compact", "--chunk-size", "256KiB", "--archive"]).arg(&archive).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to compact"));
}

#[test]
fn the_nightly_job_compacts_on_its_own_once_runs_overlap_enough() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, "600KB", 23);
    let archive = dir.path().join("archive");
    let said = nightly_runs(&corpus_files(&corpus), 6, &archive, &[]);
    let compacted: Vec<usize> = (0..6).filter(|&night| said[night].contains("compacted")).map(|n| n + 1).collect();
    assert!(compacted.first().is_some_and(|&night| night >= 4), "auto compacts once 4 runs overlap: {said:?}");
    for night in &compacted {
        assert!(said[night - 1].contains("compacted 4 overlapping runs"), "{}", said[night - 1]);
    }
    let log = run_on(&archive, &["log"]);
    assert!(log.contains(" compact "), "the compaction is its own commit: {log}");
    let info = run_on(&archive, &["info"]);
    assert!(!info.contains(" 4 overlapping"), "{info}");
}

#[test]
fn prune_refuses_an_empty_root_a_fifo_and_more_than_max_delete() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    for i in 0..20 {
        write(
            &corpus,
            &format!("talk-{i:02}.json"),
            &format!(r#"[{{"text": "talk {i}", "start": 0, "duration": 1}}]"#),
        );
    }
    let archive = dir.path().join("archive");
    ingest(&corpus, &archive, &[]);
    let count = || sql_value(&archive, "SELECT count(*) FROM documents");
    let prune = |extra: &[&str]| {
        let output = verbatim()
            .args(["ingest", "--prune", "--archive"])
            .arg(&archive)
            .arg(&corpus)
            .args(extra)
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };

    // An unmounted drive: the folder is there, and empty.
    let stash = dir.path().join("stash");
    std::fs::rename(&corpus, &stash).unwrap();
    std::fs::create_dir(&corpus).unwrap();
    let (code, stderr) = prune(&["--max-delete", "100%"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("holds no transcript files") && stderr.contains("nothing was removed"), "{stderr}");
    assert_eq!(count(), "20");
    std::fs::remove_dir(&corpus).unwrap();
    std::fs::rename(&stash, &corpus).unwrap();

    // A FIFO where a transcript was: unreadable, not deleted.
    std::fs::remove_file(corpus.join("talk-00.json")).unwrap();
    let fifo = corpus.join("talk-00.json");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let (code, stderr) = prune(&[]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("talk-00.json: not a regular file (a FIFO)"), "{stderr}");
    assert_eq!(count(), "20");
    std::fs::remove_file(&fifo).unwrap();

    // Five of twenty vanished: more than the default 10%, so none go, and the status says so.
    for i in 1..5 {
        std::fs::remove_file(corpus.join(format!("talk-{i:02}.json"))).unwrap();
    }
    let report = dir.path().join("report.json");
    let (code, stderr) = prune(&["--report", &report.to_string_lossy()]);
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("5 of the archive's 20 documents") && stderr.contains("--max-delete 10%"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["documents"]["removed"], 0, "{json}");
    assert_eq!(json["documents"]["prune_refused"]["vanished"], 5, "{json}");
    assert_eq!(count(), "20");

    // A FIFO that is not named like a transcript is no document of the archive: ignored.
    let made = std::process::Command::new("mkfifo").arg(corpus.join("pipe")).status().unwrap();
    assert!(made.success());

    // Told so, by count or share, in a flag or the environment, the run removes them.
    let (code, stderr) = prune(&["--max-delete", "4"]);
    assert_eq!((code, count()), (Some(5), "20".to_string()), "{stderr}");
    let output = verbatim()
        .args(["ingest", "--prune", "--archive"])
        .arg(&archive)
        .arg(&corpus)
        .env("VERBATIM_MAX_DELETE", "25%")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(count(), "15");
}
