//! Damaged and incomplete archives: every command fails naming the file and what is wrong, never
//! answers with fewer rows, never commits on top of lost data, and never deletes data of unknown
//! origin.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

/// An archive of the bundled sample, in `dir/name`.
fn sample_archive(dir: &Path, name: &str) -> PathBuf {
    let archive = dir.join(name);
    ingest_sample(&archive);
    archive
}

/// The committed `segments` file of a one-chunk archive.
fn segments_file(archive: &Path) -> PathBuf {
    let files: Vec<_> = std::fs::read_dir(archive.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

fn manifest_names(archive: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(archive.join("_verbatim/manifests"))
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn delete_manifests(archive: &Path) {
    for manifest in manifest_names(archive) {
        std::fs::remove_file(archive.join("_verbatim/manifests").join(manifest)).unwrap();
    }
}

fn table_files(archive: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for table in ["segments", "documents", "words", "rejects"] {
        if let Ok(entries) = std::fs::read_dir(archive.join(table)) {
            names.extend(entries.map(|e| format!("{table}/{}", e.unwrap().file_name().to_string_lossy())));
        }
    }
    names.sort();
    names
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Ways a committed file or the manifest gets damaged, and what the error must say.
enum Damage {
    Missing,
    Emptied,
    Truncated,
    ReplacedByOtherRows,
    FooterCorruptedInPlace,
    CorruptManifest,
}

impl Damage {
    const ALL: [Damage; 6] = [
        Damage::Missing,
        Damage::Emptied,
        Damage::Truncated,
        Damage::ReplacedByOtherRows,
        Damage::FooterCorruptedInPlace,
        Damage::CorruptManifest,
    ];

    /// Damages `archive`; `other` is a sound archive with other rows. Returns (the file named, the problem).
    fn apply(&self, archive: &Path, other: &Path) -> (PathBuf, &'static str) {
        let file = segments_file(archive);
        match self {
            Damage::Missing => {
                std::fs::remove_file(&file).unwrap();
                (file, "missing")
            }
            Damage::Emptied => {
                std::fs::write(&file, b"").unwrap();
                (file, "size differs from the manifest: 0 bytes")
            }
            Damage::Truncated => {
                let bytes = std::fs::read(&file).unwrap();
                std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
                (file, "size differs from the manifest")
            }
            Damage::ReplacedByOtherRows => {
                std::fs::copy(segments_file(other), &file).unwrap();
                (file, "size differs from the manifest")
            }
            Damage::FooterCorruptedInPlace => {
                let mut bytes = std::fs::read(&file).unwrap();
                let end = bytes.len() - 8;
                bytes[end - 300..end].fill(7);
                std::fs::write(&file, &bytes).unwrap();
                (file, "unreadable footer")
            }
            Damage::CorruptManifest => {
                let manifest = archive.join("_verbatim/manifests").join(&manifest_names(archive)[0]);
                std::fs::write(&manifest, b"{\"format\": \"verbatim-archive\", \"tables\": [").unwrap();
                (manifest, "corrupt archive metadata")
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Damage::Missing => "missing",
            Damage::Emptied => "emptied",
            Damage::Truncated => "truncated",
            Damage::ReplacedByOtherRows => "replaced",
            Damage::FooterCorruptedInPlace => "footer corrupted",
            Damage::CorruptManifest => "corrupt manifest",
        }
    }
}

#[test]
fn every_command_fails_on_a_damaged_archive_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other");
    let corpus = dir.path().join("corpus");
    generate(&corpus, "200KB", 3);
    run_ok(&["ingest", "-q", &corpus.to_string_lossy(), "--archive", &other.to_string_lossy()]);
    let more = write(dir.path(), "more/extra.srt", "1\n00:00:01,000 --> 00:00:02,000\nmore words\n");

    for (n, damage) in Damage::ALL.iter().enumerate() {
        let archive = sample_archive(dir.path(), &format!("a{n}"));
        let (named, problem) = damage.apply(&archive, &other);
        let named = named.to_string_lossy().into_owned();
        let a = archive.to_string_lossy().into_owned();
        let manifests_before = manifest_names(&archive);
        let commands: [(&str, Vec<&str>); 5] = [
            ("sql", vec!["sql", "-q", "--archive", &a, "SELECT count(*), max(text) FROM segments"]),
            ("run", vec!["run", "-q", "top-words", "--archive", &a]),
            ("info", vec!["info", "--archive", &a]),
            ("ingest", vec!["ingest", "-q", more.to_str().unwrap(), "--archive", &a]),
            ("verify", vec!["verify", "-q", "--archive", &a]),
        ];
        for (command, args) in commands {
            let output = run(&args);
            let said = text(&output);
            assert_eq!(output.status.code(), Some(1), "{} / {command} must fail: {said}", damage.name());
            assert!(said.contains(&named), "{} / {command} names {named}: {said}", damage.name());
            assert!(said.contains(problem), "{} / {command} says {problem:?}: {said}", damage.name());
        }
        assert_eq!(manifest_names(&archive), manifests_before, "{}: nothing committed on top", damage.name());
    }
}

#[test]
fn verify_passes_a_sound_archive_and_deep_finds_a_corrupt_page() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_archive(dir.path(), "a");
    let a = archive.to_string_lossy().into_owned();
    let output = run(&["verify", "--deep", "--archive", &a]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("segments 1568") && text(&output).contains("0 problems"), "{}", text(&output));

    // Garble data pages at the start of the file: the footer still reads, the data does not.
    let file = segments_file(&archive);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[2000..6000].fill(0x5a);
    std::fs::write(&file, &bytes).unwrap();
    let shallow = run(&["verify", "-q", "--archive", &a]);
    assert_eq!(shallow.status.code(), Some(0), "footers, sizes and rows still match: {}", text(&shallow));
    let deep = run(&["verify", "-q", "--deep", "--archive", &a]);
    assert_eq!(deep.status.code(), Some(1), "{}", text(&deep));
    let named = file.to_string_lossy();
    assert!(text(&deep).contains(&*named) && text(&deep).contains("data does not decode"), "{}", text(&deep));
    // A query that decodes the damaged pages fails naming the file too.
    let query = run(&["sql", "-q", "--archive", &a, "SELECT sum(seq), sum(start_ms), max(doc_id) FROM segments"]);
    assert_eq!(query.status.code(), Some(1), "{}", text(&query));
    assert!(text(&query).contains(&*named), "{}", text(&query));
}

#[test]
fn losing_the_manifests_deletes_nothing_and_recover_rebuilds_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_archive(dir.path(), "a");
    let a = archive.to_string_lossy().into_owned();
    let expected = archive_contents(&archive);
    let files = table_files(&archive);
    delete_manifests(&archive);
    let more = write(dir.path(), "more/extra.srt", "1\n00:00:01,000 --> 00:00:02,000\nmore words\n");
    for args in [
        vec!["ingest", "-q", more.to_str().unwrap(), "--archive", &a],
        vec!["sql", "-q", "--archive", &a, "SELECT count(*) FROM segments"],
        vec!["info", "--archive", &a],
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", text(&output));
        assert!(text(&output).contains("has lost manifests: it has 3 table files"), "{}", text(&output));
    }
    assert_eq!(table_files(&archive), files, "no table file was deleted");

    let verify = run(&["verify", "-q", "--archive", &a]);
    assert_eq!(verify.status.code(), Some(1));
    for file in &files {
        assert!(text(&verify).contains(&format!("{file}: not listed in any manifest")), "{}", text(&verify));
    }
    run_ok(&["recover", "-q", "--archive", &a]);
    assert_eq!(archive_contents(&archive), expected, "the recovered snapshot holds what was committed");
    run_ok(&["verify", "-q", "--deep", "--archive", &a]);
    let second = run_ok(&["recover", "--archive", &a]);
    assert!(second.contains("nothing to recover"), "{second}");
    run_ok(&["ingest", "-q", more.to_str().unwrap(), "--archive", &a]);
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents"), "2");
}

#[test]
fn recover_after_replacements_and_compaction_brings_back_only_the_newest_copies() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, "400KB", 12);
    let talk = corpus.join("talk.json");
    std::fs::copy(sample(), &talk).unwrap();
    let archive = dir.path().join("a");
    let a = archive.to_string_lossy().into_owned();
    run_ok(&["ingest", "-q", &corpus.to_string_lossy(), "--archive", &a]);
    // A changed source (copy-on-write rewrite), then a compaction: older copies of every document
    // stay in the store for the retention period.
    let changed = std::fs::read_to_string(&talk).unwrap().replacen("\"text\": \"", "\"text\": \"Changed: ", 1);
    std::fs::write(&talk, changed).unwrap();
    run_ok(&["ingest", "-q", &corpus.to_string_lossy(), "--archive", &a, "--compact", "always"]);
    let expected = archive_contents(&archive);
    assert!(run_ok(&["log", "--archive", &a]).contains(" compact "));
    delete_manifests(&archive);

    let output = run(&["recover", "--archive", &a]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("an older copy (every document in it has a newer one)"), "{}", text(&output));
    assert_eq!(archive_contents(&archive), expected, "no replaced or merged copy comes back");
    run_ok(&["verify", "-q", "--archive", &a]);
    // The older copies are recorded as removed, so vacuum deletes them.
    run_ok(&["vacuum", "-q", "--retention", "0s", "--archive", &a]);
    let left = table_files(&archive);
    assert!(
        left.len() == 3 && left.iter().all(|f| f.contains("-compact-")),
        "only the compacted chunk is left: {left:?}"
    );
    assert!(left.iter().any(|f| f.ends_with(".phrases")), "with its phrase index: {left:?}");
    assert_eq!(archive_contents(&archive), expected);
}

#[test]
fn a_relative_archive_path_with_dot_dot_works_and_errors_show_absolute_paths() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let output = verbatim()
        .current_dir(&work)
        .args(["ingest", "-q", &sample().to_string_lossy(), "--archive", "../other/./a"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let archive = dir.path().join("other/a");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM segments"), "1568");
    let file = segments_file(&archive);
    std::fs::remove_file(&file).unwrap();
    let output = verbatim().current_dir(&work).args(["info", "--archive", "../other/a"]).output().unwrap();
    let canonical = std::fs::canonicalize(dir.path()).unwrap().join("other/a/segments");
    let said = text(&output);
    assert!(
        said.contains(&file.to_string_lossy().into_owned()) || said.contains(&*canonical.to_string_lossy()),
        "{said}"
    );
}

/// The run id a chunk file's name starts with.
fn run_of(file: &Path) -> String {
    file.file_name().unwrap().to_string_lossy()[..36].to_string()
}

fn write_run_record(archive: &Path, run: &str, committed_version: Option<u64>) {
    let version = committed_version.map_or(String::new(), |v| format!(", \"committed_version\": {v}"));
    let record = format!("{{\"run_id\": \"{run}\", \"pid\": 1, \"started_at\": \"2026-01-01T00:00:00Z\"{version}}}");
    write(archive, &format!("_verbatim/runs/{run}.json"), &record);
}

#[test]
fn committed_files_of_a_killed_run_survive_the_loss_of_the_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_archive(dir.path(), "a");
    let a = archive.to_string_lossy().into_owned();
    let expected = archive_contents(&archive);
    // The run was killed after its first commit: its record says so.
    write_run_record(&archive, &run_of(&segments_file(&archive)), Some(1));
    let files = table_files(&archive);
    delete_manifests(&archive);
    let more = write(dir.path(), "more/extra.srt", "1\n00:00:01,000 --> 00:00:02,000\nmore words\n");
    for args in [
        vec!["sql", "-q", "--archive", &a, "SELECT count(*) FROM segments"],
        vec!["ingest", "-q", more.to_str().unwrap(), "--archive", &a],
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", text(&output));
        assert!(text(&output).contains("has lost manifests"), "{}", text(&output));
    }
    assert_eq!(table_files(&archive), files, "the committed files of the killed run were kept");
    run_ok(&["recover", "-q", "--archive", &a]);
    assert_eq!(archive_contents(&archive), expected);
    run_ok(&["ingest", "-q", more.to_str().unwrap(), "--archive", &a]);
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents"), "2");
}

#[test]
fn a_run_that_published_a_newer_snapshot_than_the_newest_manifest_stops_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_archive(dir.path(), "a");
    let a = archive.to_string_lossy().into_owned();
    let dead_run = "01938a2e-7c41-7b3a-9f00-0123456789ab";
    write_run_record(&archive, dead_run, Some(5));
    let files = table_files(&archive);
    let more = write(dir.path(), "more/extra.srt", "1\n00:00:01,000 --> 00:00:02,000\nmore words\n");
    for args in [
        vec!["sql", "-q", "--archive", &a, "SELECT count(*) FROM segments"],
        vec!["info", "--archive", &a],
        vec!["ingest", "-q", more.to_str().unwrap(), "--archive", &a],
        vec!["verify", "-q", "--archive", &a],
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", text(&output));
        assert!(text(&output).contains("published snapshot v5"), "{args:?}: {}", text(&output));
    }
    assert_eq!(table_files(&archive), files);
}

#[test]
fn an_archive_under_a_folder_with_non_ascii_and_reserved_characters_is_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("données #1 [x]/a");
    let a = archive.to_string_lossy().into_owned();
    ingest_sample(&a);
    assert!(archive.join("_verbatim/manifests").is_dir(), "written where it was asked");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM segments"), "1568");
    let file = segments_file(&archive);
    std::fs::remove_file(&file).unwrap();
    let output = run(&["sql", "-q", "--archive", &a, "SELECT count(*) FROM segments"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains(&*file.to_string_lossy()), "{}", text(&output));
}
