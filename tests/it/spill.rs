//! Bounded memory: a high-cardinality aggregation under a tiny limit spills and stays correct;
//! an operator that cannot spill fails with an error naming the setting to raise.

use crate::common::*;

#[test]
fn a_high_cardinality_aggregation_spills_under_a_tiny_limit_and_is_correct() {
    let dir = tempfile::tempdir().unwrap();
    let (_, archive) = generated_archive(dir.path(), "6MB", 11);
    let archive_arg = archive.to_string_lossy().into_owned();
    let total = sql_value(&archive, "SELECT count(*) FROM segments");
    let total: u64 = total.parse().unwrap();
    assert!(total > 50_000, "{total}");

    // Every (doc_id, seq) is its own group: as many groups as rows.
    let query = "SELECT count(*), sum(n) FROM (SELECT doc_id, seq, count(*) AS n FROM segments GROUP BY doc_id, seq)";
    let spill = dir.path().join("spill");
    let spill = spill.to_string_lossy();
    let tiny = |sql: &str| {
        run_ok(&[
            "sql",
            "-q",
            "--archive",
            &archive_arg,
            "--format",
            "csv",
            "--memory-limit",
            "6MiB",
            "--spill-dir",
            &spill,
            sql,
        ])
    };
    assert_eq!(tiny(query), format!("count(*),sum(n)\n{total},{total}\n"));
    let plan = tiny(&format!("EXPLAIN ANALYZE {query}"));
    let spilled: u64 = plan
        .split("spilled_rows=")
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit() && c != '.').next())
        .filter_map(|n| n.parse::<f64>().ok())
        .map(|n| n as u64)
        .sum();
    assert!(spilled > 0, "EXPLAIN ANALYZE reports spilled rows: {plan}");
}

#[test]
fn an_operator_that_cannot_spill_says_which_setting_to_raise() {
    let dir = tempfile::tempdir().unwrap();
    let (_, archive) = generated_archive(dir.path(), "3MB", 5);
    let archive_arg = archive.to_string_lossy().into_owned();
    // A hash join's build side cannot spill in DataFusion 55.
    let join = "SELECT count(*) FROM segments a JOIN segments b ON a.text = b.text";
    let output = run(&["sql", "--archive", &archive_arg, "--memory-limit", "2MiB", join]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("needs more memory than --memory-limit 2.0 MiB allows"), "{stderr}");
    assert!(stderr.contains("raise --memory-limit"), "{stderr}");
}
