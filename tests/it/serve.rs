//! `verbatim serve` answered by a real Flight SQL client: ADBC's driver into pyarrow and pandas,
//! run from the Python that `tests/run` installs them into (`VERBATIM_TEST_PYTHON`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// The Python with the Flight SQL client, or `None` when the user chose to skip these tests.
fn client_python(test: &str) -> Option<String> {
    match std::env::var("VERBATIM_TEST_PYTHON") {
        Ok(python) => Some(python),
        Err(_) if std::env::var_os("VERBATIM_SKIP_PYTHON_TESTS").is_some() => {
            eprintln!("SKIPPED {test}: no Flight SQL client (VERBATIM_SKIP_PYTHON_TESTS is set)");
            None
        }
        Err(_) => panic!(
            "{test} needs Python with adbc-driver-flightsql: run `tests/run`, which installs it, or set VERBATIM_SKIP_PYTHON_TESTS=1 to skip it knowingly"
        ),
    }
}

/// A running `verbatim serve`, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(archive: &Path, token: &str) -> Server {
        Server::start_with(archive, token, &[])
    }

    fn start_with(archive: &Path, token: &str, extra: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = verbatim()
            .args(["serve", "-q", "--bind", &format!("127.0.0.1:{port}"), "--token", token, "-m", "1GiB", "--archive"])
            .arg(archive)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "serve did not listen within 30s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Server { child, port }
    }

    /// The Python client for `statements` with `token`, ready to run.
    fn client(&self, python: &str, token: &str, statements: &[&str]) -> Command {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/flight_client.py");
        let mut command = Command::new(python);
        command.arg(script).arg(format!("grpc://127.0.0.1:{}", self.port)).arg(token).args(statements);
        command
    }

    /// CPU seconds the server has used so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / 100.0
    }

    /// Runs `statements` through the Python client with `token`; one JSON answer per statement.
    fn query(&self, python: &str, token: &str, statements: &[&str]) -> Vec<Value> {
        let output = self.client(python, token, statements).output().expect("python runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "the Flight SQL client failed: {stderr}");
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The rows of `sql` run locally, as JSON objects without null values (as the client prints them).
fn local_rows(archive: &Path, sql: &str) -> Vec<Value> {
    run_on(archive, &["sql", "-q", "--format", "ndjson", sql])
        .lines()
        .map(|line| {
            let mut row: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
            row.retain(|_, value| !value.is_null());
            Value::Object(row)
        })
        .collect()
}

fn rows_of(answer: &Value) -> Vec<Value> {
    answer["rows"].as_array().unwrap_or_else(|| panic!("not rows: {answer}")).clone()
}

#[test]
fn a_notebook_client_gets_the_same_rows_as_local_queries() {
    let Some(python) = client_python("a_notebook_client_gets_the_same_rows_as_local_queries") else { return };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let top_words = run_ok(&["run", "top-words", "-p", "limit=10", "-p", "stopwords=english", "--print-sql"]);
    let top_words: String = top_words.lines().filter(|line| !line.starts_with("--")).collect::<Vec<_>>().join("\n");
    let statements = [
        top_words.as_str(),
        "SELECT doc_id, seq, start, text, before, after FROM search('national supercomputing', 1)",
        "SELECT count(*) AS segments, sum(length(text)) AS chars FROM segments",
    ];
    let server = Server::start(&archive, "s3cret");
    let answers = server.query(&python, "s3cret", &statements);
    assert_eq!(answers.len(), statements.len());
    for (sql, answer) in statements.iter().zip(&answers) {
        let expected = local_rows(&archive, sql);
        assert!(!expected.is_empty(), "{sql} finds nothing");
        assert_eq!(rows_of(answer), expected, "{sql}");
        assert_eq!(answer["pandas_shape"][0].as_u64(), Some(expected.len() as u64), "{sql}: {answer}");
    }
}

#[test]
fn the_server_is_read_only_checks_its_token_and_sees_new_snapshots() {
    let Some(python) = client_python("the_server_is_read_only_checks_its_token_and_sees_new_snapshots") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let server = Server::start(&archive, "s3cret");

    let refused = server.query(&python, "wrong", &["SELECT 1"]);
    let error = refused[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("Bearer"), "a wrong token was not refused: {}", refused[0]);

    let copy_target = dir.path().join("stolen.csv");
    let statements = [
        format!("COPY (SELECT * FROM segments) TO '{}' STORED AS CSV", copy_target.display()),
        "CREATE EXTERNAL TABLE passwd (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
        "SELECT count(*) AS n FROM documents".to_string(),
    ];
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    let answers = server.query(&python, "s3cret", &statements);
    for answer in &answers[..3] {
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains("read-only"), "not refused as read-only: {answer}");
    }
    assert!(!copy_target.exists(), "COPY wrote a file");
    assert_eq!(rows_of(&answers[3]), vec![serde_json::json!({"n": 1})]);

    // A snapshot committed while the server runs is what the next query reads.
    let second = write(dir.path(), "more/second.json", r#"[{"text": "a second talk", "start": 0.0, "duration": 1.5}]"#);
    run_on(&archive, &["ingest", "-q", &second.to_string_lossy()]);
    let answers = server.query(&python, "s3cret", &["SELECT count(*) AS n FROM documents"]);
    assert_eq!(rows_of(&answers[0]), vec![serde_json::json!({"n": 2})]);
}

/// The words of 1568³ rows: hours of work that reads nothing after its first batches, in operators
/// that make many batches from one (DataFusion alone would not stop them at once).
const RUNAWAY: &str =
    "SELECT count(*) AS n FROM (SELECT unnest(tokenize(a.text)) FROM segments a, segments b, segments c)";

#[test]
fn deep_expressions_and_runaway_queries_neither_crash_nor_freeze_the_server() {
    let Some(python) = client_python("deep_expressions_and_runaway_queries_neither_crash_nor_freeze_the_server") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let mut server = Server::start_with(&archive, "s3cret", &["--query-timeout", "4s"]);

    // An expression 2,000 levels deep is an error, and the server lives on.
    let deep = format!("SELECT {} AS x", vec!["1"; 2_000].join(" + "));
    let answers = server.query(&python, "s3cret", &[&deep, "SELECT 1 AS one"]);
    assert!(answers[0]["error"].as_str().unwrap_or_default().contains("nests more than 1000 levels"), "{}", answers[0]);
    assert_eq!(rows_of(&answers[1]), vec![serde_json::json!({"one": 1})]);

    // A runaway query leaves room for others, stops when its client goes, and times out.
    let mut runaway = server.client(&python, "s3cret", &[RUNAWAY]).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let asked = Instant::now();
    let answers = server.query(&python, "s3cret", &["SELECT 2 AS two"]);
    assert_eq!(rows_of(&answers[0]), vec![serde_json::json!({"two": 2})]);
    assert!(asked.elapsed() < Duration::from_secs(5), "a new query waited {:?}", asked.elapsed());
    runaway.kill().unwrap();
    runaway.wait().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let before = server.cpu_seconds();
    std::thread::sleep(Duration::from_secs(2));
    let burnt = server.cpu_seconds() - before;
    assert!(burnt < 0.5, "the query of a killed client burnt {burnt:.2} CPU seconds in 2 s");

    let asked = Instant::now();
    let answers = server.query(&python, "s3cret", &[RUNAWAY]);
    let error = answers[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("time limit of 4s"), "{}", answers[0]);
    assert!(asked.elapsed() < Duration::from_secs(9), "the time limit took {:?}", asked.elapsed());

    // SIGTERM while a query runs: the server drains and stops within seconds.
    let mut running = server.client(&python, "s3cret", &[RUNAWAY]).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let signalled = Instant::now();
    // SAFETY: kill(2) on the server's pid, which this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) }, 0);
    let status = server.child.wait().unwrap();
    assert!(signalled.elapsed() < Duration::from_secs(8), "SIGTERM took {:?}", signalled.elapsed());
    assert!(status.success() || status.code().is_some(), "{status:?}");
    let _ = running.kill();
    let _ = running.wait();
}
