//! The interactive shell, driven through a pseudo-terminal (tests/support/pty_shell.py, run with
//! python3, which `tests/run` needs anyway), and SQL piped on stdin.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::*;

fn at_a_terminal(archive: &str, state: &std::path::Path, typed: &str) -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pty_shell.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([env!("CARGO_BIN_EXE_verbatim"), archive, &state.to_string_lossy()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("this test needs python3 (tests/run needs it too)");
    child.stdin.take().unwrap().write_all(typed.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_shell_runs_multi_line_statements_dot_commands_and_survives_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let slow = "SELECT count(*) FROM (SELECT unnest(tokenize(a.text)) FROM segments a, segments b);";
    let typed = format!(
        ".tables\n.schema documents\nSELECT count(*) AS n\nFROM segments;\n.mode csv\n.timer on\n{slow}\n^C\nSELECT 40 + 2 AS answer;\n.bogus\nSELECT 'half\n^C\nSELECT 7 AS seven;\n^D\n"
    );
    let shown = at_a_terminal(&archive.to_string_lossy(), &dir.path().join("state"), &typed);
    assert!(shown.contains("documents\nrejects\nsegments\nwords"), "{shown}");
    assert!(shown.contains("content_hash") && shown.contains("published_at"), ".schema: {shown}");
    assert!(shown.contains("...> FROM segments;"), "a statement continues on the next line: {shown}");
    assert!(shown.contains("1568"), "{shown}");
    assert!(shown.contains("cancelled"), "Ctrl-C cancels the running statement: {shown}");
    assert!(shown.contains("answer\n42\n1 rows in"), "csv mode with the timer, after the cancel: {shown}");
    assert!(shown.contains("unknown command .bogus"), "{shown}");
    assert!(shown.contains("seven\n7"), "Ctrl-C drops the half-typed statement: {shown}");
    assert!(shown.trim_end().ends_with("EXIT 0"), "Ctrl-D leaves: {shown}");
    let history = std::fs::read_to_string(dir.path().join("state/verbatim/history")).unwrap();
    assert!(history.contains("SELECT 40 + 2 AS answer;"), "{history}");
}

#[test]
fn sql_piped_on_stdin_runs_without_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let mut child = verbatim()
        .args(["sql", "-q", "--format", "csv", "--archive", &archive.to_string_lossy()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"SELECT count(*) AS n FROM segments;\nSELECT 'two' AS t;\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "n\n1568\nt\ntwo\n");
}

/// The `MARK <what> <seconds>` records of a pty session, in order.
fn marks(shown: &str, what: &str) -> Vec<f64> {
    let prefix = format!("MARK {what} ");
    shown.lines().filter_map(|line| line.strip_prefix(&prefix)).map(|value| value.parse().unwrap()).collect()
}

#[test]
fn ctrl_c_stops_a_cpu_bound_join_within_a_second_and_history_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    // The words of 1568³ rows: hours of work that reads nothing after its first batches, in
    // operators that make many batches from one (DataFusion alone would not stop them at once).
    let runaway = "SELECT count(*) FROM (SELECT unnest(tokenize(a.text)) FROM segments a, segments b, segments c);";
    let typed = format!(
        "{runaway}\n^SLEEP 3\n^C\n^WAITFOR cancelled\n^SLEEP 1\n^CPU\n^SLEEP 2\n^CPU\nSELECT 7 AS seven;\n{runaway}\n^SLEEP 2\n^KILL\n"
    );
    let shown = at_a_terminal(&archive.to_string_lossy(), &dir.path().join("state"), &typed);
    let waited = marks(&shown, "waited");
    assert!(waited.len() == 1 && waited[0] < 1.0, "Ctrl-C took {waited:?} s to cancel: {shown}");
    let cpu = marks(&shown, "cpu");
    assert!(cpu.len() == 2 && cpu[1] - cpu[0] < 0.3, "CPU seconds went on after the cancel: {cpu:?}: {shown}");
    assert!(shown.contains("seven\n-----\n    7"), "the shell answers after the cancel: {shown}");
    assert!(shown.trim_end().ends_with("EXIT 137"), "{shown}");
    let history = std::fs::read_to_string(dir.path().join("state/verbatim/history")).unwrap();
    assert_eq!(history.matches(runaway).count(), 2, "statements of a killed session are kept: {history}");
}
