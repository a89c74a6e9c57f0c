//! The command line as a user meets it: help, saved queries, formats, errors.

use crate::common::*;

#[test]
fn help_lists_every_command() {
    let help = run_ok(&["--help"]);
    for command in ["ingest", "sql", "run", "info", "gen", "demo"] {
        assert!(help.contains(command), "{help}");
    }
    assert!(run_ok(&["ingest", "--help"]).contains("--memory-limit"));
}

#[test]
fn run_list_shows_saved_queries_with_their_parameters() {
    let list = run_ok(&["run", "--list"]);
    assert!(list.contains("top-words") && list.contains("search") && list.contains("doc-stats"), "{list}");
    assert!(list.contains("--param phrase=<text> (required)"), "{list}");
    let sql = run_ok(&["run", "top-words", "--print-sql", "--param", "limit=7", "--param", "stopwords=it's"]);
    assert!(sql.contains("LIMIT 7") && sql.contains("'it''s'"), "{sql}");
}

#[test]
fn unknown_queries_formats_and_missing_archives_give_short_errors() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("nothing-here");
    let archive = archive.to_string_lossy();
    let output = run(&["run", "top-wordz", "--archive", &archive]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("no saved query \"top-wordz\"; saved queries: channel-stats, collocations, cooccurrence, doc-stats, frequencies, keyness, kwic, ngrams, pauses, search, speakers, term-trend, top-words"), "{stderr}");

    let output = run(&["sql", "--archive", &archive, "SELECT 1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no verbatim archive at") && stderr.contains("verbatim ingest"), "{stderr}");

    let output = run(&["sql", "--archive", &archive, "--format", "xml", "SELECT 1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--format \"xml\": unknown format; use one of table, csv"), "{stderr}");

    let output = run(&["sql", "SELECT 1"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("no archive given"));
}

#[test]
fn archive_comes_from_the_environment_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let from_env = verbatim()
        .env("VERBATIM_ARCHIVE", &archive)
        .args(["sql", "-q", "--format", "csv", "SELECT count(*) AS n FROM segments"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&from_env.stdout), "n\n1568\n");
    let config = write(dir.path(), "config/verbatim.toml", "archive = \"a\"\nformat = \"csv\"\n");
    let from_config = verbatim()
        .env("VERBATIM_CONFIG", &config)
        .args(["sql", "-q", "SELECT count(*) AS n FROM documents"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&from_config.stdout), "n\n1\n");
    let bad = write(dir.path(), "bad.toml", "archiv = \"a\"\n");
    let output = verbatim().env("VERBATIM_CONFIG", &bad).args(["sql", "SELECT 1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown key \"archiv\" (settings: archive, memory_limit"), "{stderr}");
}

#[test]
fn results_stream_to_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    let archive = archive.to_string_lossy();
    ingest_sample(&*archive);
    let sql = "SELECT seq, text FROM segments ORDER BY seq LIMIT 2";
    let csv = run_ok(&["sql", "-q", "--archive", &archive, "--format", "csv", sql]);
    assert_eq!(csv, "seq,text\n0,Hi everybody. I'm Mary Thomas and\n1,I lead and coordinate a lot of the HPC\n");
    let json = run_ok(&["sql", "-q", "--archive", &archive, "--format", "json", sql]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed[1]["text"], "I lead and coordinate a lot of the HPC");
    let ndjson = run_ok(&["sql", "-q", "--archive", &archive, "--format", "ndjson", sql]);
    assert_eq!(ndjson.lines().count(), 2);
    let table = run_ok(&["sql", "-q", "--archive", &archive, sql]);
    assert!(table.starts_with("seq | text\n----+-"), "{table}");

    let parquet = dir.path().join("out.parquet");
    run_ok(&[
        "sql",
        "-q",
        "--archive",
        &archive,
        "--format",
        "parquet",
        "--output",
        &parquet.to_string_lossy(),
        "SELECT * FROM segments",
    ]);
    // The written file is plain Parquet: query it back through a fresh session.
    let n = run_ok(&[
        "sql",
        "-q",
        "--archive",
        &archive,
        "--format",
        "csv",
        &format!(
            "CREATE EXTERNAL TABLE out STORED AS PARQUET LOCATION '{}'; SELECT count(*) AS n FROM out",
            parquet.display()
        ),
    ]);
    assert_eq!(n, "n\n1568\n");
}

#[test]
fn demo_runs_the_whole_pipeline_on_the_bundled_sample() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("demo");
    let output = run(&["demo", "--archive", &archive.to_string_lossy()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("python      |    68"), "{stdout}");
    assert!(stdout.contains("python-for-hpc | 01:26:00 |       1568 |    9898 |            115.1"), "{stdout}");
}

#[test]
fn saved_query_parameters_stay_literals_whatever_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let queries = dir.path().join("queries");
    write(
        &queries,
        "pair.sql",
        "-- Segments whose text is one of two values.\n-- @param a text : one\n-- @param b text : another\nSELECT count(*) AS n, ${a} AS a, ${b} AS b FROM segments WHERE text = ${a} OR text = ${b};\n",
    );
    let (a, b) = ("${b}", " OR true OR ");
    let args = |extra: &[&str]| {
        let mut args =
            vec!["run", "pair", "--queries", queries.to_str().unwrap(), "--archive", archive.to_str().unwrap()];
        args.extend(["--param", "a=${b}", "--param", "b= OR true OR "]);
        args.extend(extra.iter().copied());
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let sql = run_ok(&args(&["--print-sql"]).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(sql.contains("WHERE text = '${b}' OR text = ' OR true OR '"), "{sql}");
    let rows = run_ok(&args(&["-q", "--format", "csv"]).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(rows.lines().nth(1), Some(format!("0,{a},{b}").as_str()), "no segment matches either literal: {rows}");
}

#[test]
fn an_expression_too_deep_to_plan_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let deep = format!("SELECT {} AS x", vec!["1"; 20_000].join(" + "));
    let output = run(&["sql", "--archive", &archive.to_string_lossy(), &deep]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nests more than 1000 levels deep"), "{stderr}");
    let fine = format!("SELECT {} AS x", vec!["1"; 900].join(" + "));
    assert_eq!(sql_value(&archive, &fine), "900");
}

#[test]
fn a_failed_query_leaves_its_output_file_as_it_was_and_a_closed_stderr_keeps_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let out = dir.path().join("results/out.csv");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, "yesterday's results\n").unwrap();
    let runaway = "SELECT a.text FROM segments a, segments b, segments c";
    let a = archive.to_string_lossy();
    let failed = run(&[
        "sql",
        "-q",
        "--archive",
        &a,
        "--query-timeout",
        "1s",
        "--format",
        "csv",
        "-o",
        &out.to_string_lossy(),
        runaway,
    ]);
    assert_eq!(failed.status.code(), Some(1), "{}", String::from_utf8_lossy(&failed.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "yesterday's results\n");
    assert_eq!(std::fs::read_dir(out.parent().unwrap()).unwrap().count(), 1, "no temporary file is left");
    run_ok(&["sql", "-q", "--archive", &a, "--format", "csv", "-o", &out.to_string_lossy(), "SELECT 42 AS answer"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "answer\n42\n");

    // stderr closed before anything is written (`2>&1 | head -1` that has exited): the exit
    // status is still the command's (3: the empty folder is unlistable), not a panic's 101.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut child = verbatim()
        .args(["ingest", "--archive", &a])
        .arg(&empty)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(3));
}
