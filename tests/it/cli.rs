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
    assert!(stderr.contains("no saved query \"top-wordz\"; saved queries: channel-stats, cooccurrence, doc-stats, kwic, ngrams, pauses, search, speakers, term-trend, top-words"), "{stderr}");

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
