//! Helpers: run the binary, query an archive, build corpora.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The sample transcript bundled with the repository.
pub fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/python-for-hpc.json")
}

/// A `verbatim` command that ignores any config file and environment settings of the machine.
pub fn verbatim() -> Command {
    isolated(Command::new(env!("CARGO_BIN_EXE_verbatim")))
}

/// `command` (verbatim, or a script that runs it) without the machine's config file and
/// `VERBATIM_*` settings.
pub fn isolated(mut command: Command) -> Command {
    command.env("VERBATIM_CONFIG", Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/empty-config.toml"));
    for var in [
        "VERBATIM_ARCHIVE",
        "VERBATIM_MEMORY_LIMIT",
        "VERBATIM_FORMAT",
        "VERBATIM_SPILL_DIR",
        "VERBATIM_QUERIES",
        "VERBATIM_CLUSTER",
    ] {
        command.env_remove(var);
    }
    command
}

/// Runs `verbatim ARGS` and returns its output.
pub fn run(args: &[&str]) -> Output {
    verbatim().args(args).output().expect("verbatim runs")
}

/// Runs `verbatim ARGS`, asserting success; returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let output = run(args);
    assert!(output.status.success(), "verbatim {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// Runs `verbatim ARGS --archive ARCHIVE`, asserting success; returns stdout. `archive` is a path
/// or a URL.
pub fn run_on(archive: &(impl AsRef<OsStr> + ?Sized), args: &[&str]) -> String {
    let output = verbatim().args(args).arg("--archive").arg(archive).output().expect("verbatim runs");
    assert!(output.status.success(), "verbatim {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// Ingests the bundled sample into `archive` (a path or a URL).
pub fn ingest_sample(archive: &(impl AsRef<OsStr> + ?Sized)) {
    run_on(archive, &["ingest", "-q", &sample().to_string_lossy()]);
}

/// The CSV rows (without header) of `sql` over `archive` (a path or a URL).
pub fn sql_rows(archive: &(impl AsRef<OsStr> + ?Sized), sql: &str) -> Vec<String> {
    let out = run_on(archive, &["sql", "-q", "--format", "csv", sql]);
    out.lines().skip(1).map(str::to_string).collect()
}

/// A single value of `sql` over `archive`.
pub fn sql_value(archive: &(impl AsRef<OsStr> + ?Sized), sql: &str) -> String {
    let rows = sql_rows(archive, sql);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0].clone()
}

/// Generates a corpus of `size` with `seed` into `dir`.
pub fn generate(dir: &Path, size: &str, seed: u64) {
    run_ok(&["gen", "-q", "--out", &dir.to_string_lossy(), "--size", size, "--seed", &seed.to_string()]);
}

/// Generates a corpus of `size` with `seed` in `dir/corpus` and ingests it into `dir/a`;
/// returns (corpus, archive).
pub fn generated_archive(dir: &Path, size: &str, seed: u64) -> (PathBuf, PathBuf) {
    let corpus = dir.join("corpus");
    generate(&corpus, size, seed);
    let archive = dir.join("a");
    run_ok(&["ingest", "-q", &corpus.to_string_lossy(), "--archive", &archive.to_string_lossy()]);
    (corpus, archive)
}

/// Writes `text` to `dir/name`, creating folders.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
    std::fs::write(&path, text).expect("write");
    path
}

/// Everything an archive holds, as sorted text, without the run-dependent columns.
pub fn archive_contents(archive: &(impl AsRef<OsStr> + ?Sized)) -> Vec<String> {
    let mut all =
        sql_rows(archive, "SELECT doc_id, seq, start_ms, end_ms, duration_ms, text FROM segments ORDER BY doc_id, seq");
    all.extend(sql_rows(
        archive,
        "SELECT doc_id, video_id, format, language, n_segments, n_words, duration_ms, content_hash FROM documents ORDER BY doc_id",
    ));
    all.extend(sql_rows(archive, "SELECT doc_id, line, \"column\", reason, content_hash FROM rejects ORDER BY doc_id"));
    all
}
