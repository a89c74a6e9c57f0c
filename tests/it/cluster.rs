//! A real cluster on loopback: a `verbatim scheduler` process and two `verbatim executor`
//! processes, started by each test on free ports and killed when it ends. Every saved query must
//! give the same output on the cluster as in one process; an executor killed in the middle of a
//! long aggregation must not change the answer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Scheduler and executors, stopped (killed) on drop.
pub(crate) struct Cluster {
    scheduler_port: u16,
    scheduler: Child,
    executors: Vec<Child>,
    logs: PathBuf,
}

impl Cluster {
    /// Starts a scheduler and `executors` executors with two task slots each; returns once all
    /// executors have registered.
    pub(crate) fn start(dir: &Path, executors: usize) -> Cluster {
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let scheduler_port = free_port();
        let scheduler =
            Cluster::spawn(&logs, "scheduler", &["scheduler", "--bind", &format!("127.0.0.1:{scheduler_port}")]);
        let mut cluster = Cluster { scheduler_port, scheduler, executors: Vec::new(), logs };
        for n in 0..executors {
            let work = dir.join(format!("work-{n}"));
            let child = Cluster::spawn(
                &cluster.logs,
                &format!("executor-{n}"),
                &[
                    "executor",
                    "--scheduler",
                    &format!("127.0.0.1:{scheduler_port}"),
                    // Port 0: the executor takes a free port itself, leaving no gap for another
                    // process to take it between choosing and binding.
                    "--bind",
                    "127.0.0.1:0",
                    "--slots",
                    "2",
                    "--memory-limit",
                    "1GiB",
                    "--work-dir",
                    &work.to_string_lossy(),
                ],
            );
            cluster.executors.push(child);
        }
        cluster.wait_for_executors(executors);
        cluster
    }

    fn spawn(logs: &Path, name: &str, args: &[&str]) -> Child {
        let log = std::fs::File::create(logs.join(format!("{name}.log"))).unwrap();
        verbatim()
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"))
    }

    fn address(&self) -> String {
        format!("df://127.0.0.1:{}", self.scheduler_port)
    }

    /// The scheduler's REST API answer at `path`.
    fn api(&self, path: &str) -> String {
        let url = format!("http://127.0.0.1:{}{path}", self.scheduler_port);
        let output = Command::new("curl").args(["-s", "-f", &url]).output().expect("curl runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn wait_for_executors(&mut self, count: usize) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if self.api("/api/executors").matches("\"id\"").count() >= count {
                return;
            }
            if let Ok(Some(status)) = self.scheduler.try_wait() {
                panic!("the scheduler exited with {status}:\n{}", self.log("scheduler"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "{count} executors did not register within 60s:\n{}\n{}",
            self.log("scheduler"),
            (0..self.executors.len()).map(|n| self.log(&format!("executor-{n}"))).collect::<Vec<_>>().join("\n")
        );
    }

    fn log(&self, name: &str) -> String {
        format!("--- {name}:\n{}", std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default())
    }

    /// `verbatim ARGS --archive ARCHIVE --cluster ADDRESS`; `archive` is a path or a URL.
    pub(crate) fn run(&self, archive: &(impl AsRef<std::ffi::OsStr> + ?Sized), args: &[&str]) -> Output {
        verbatim()
            .args(args)
            .arg("--archive")
            .arg(archive)
            .args(["--cluster", &self.address()])
            .output()
            .expect("verbatim runs")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain(std::iter::once(&mut self.scheduler)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The saved queries with parameters that find something in the sample and the generated corpus.
fn saved_query_runs() -> Vec<Vec<&'static str>> {
    vec![
        vec!["run", "top-words", "-p", "limit=30", "-p", "stopwords=english"],
        vec!["run", "ngrams", "-p", "n=3", "-p", "limit=25"],
        vec!["run", "doc-stats"],
        vec!["run", "channel-stats"],
        vec!["run", "pauses", "-p", "limit=15"],
        vec!["run", "speakers"],
        vec!["run", "search", "-p", "phrase=the data"],
        vec!["run", "kwic", "-p", "phrase=python", "-p", "limit=50"],
        vec!["run", "term-trend", "-p", "term=data"],
        vec!["run", "cooccurrence", "-p", "term=python"],
    ]
}

pub(crate) fn stdout_of(output: &Output, what: &str) -> String {
    assert!(output.status.success(), "{what} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

#[test]
fn every_saved_query_and_search_gives_the_same_output_on_a_cluster_as_locally() {
    let dir = tempfile::tempdir().unwrap();
    let sample_archive = dir.path().join("sample");
    ingest_sample(&sample_archive);
    // Small chunks: searches and scans span many files, split among tasks and executors.
    let corpus = dir.path().join("corpus");
    generate(&corpus, "3MB", 5);
    let generated = dir.path().join("gen");
    run_ok(&[
        "ingest",
        "-q",
        &corpus.to_string_lossy(),
        "--archive",
        &generated.to_string_lossy(),
        "--chunk-size",
        "200KiB",
    ]);
    let chunks = std::fs::read_dir(generated.join("segments"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "parquet"));
    assert!(chunks.count() >= 4, "the generated archive should have several chunks");
    let cluster = Cluster::start(dir.path(), 2);
    for archive in [&sample_archive, &generated] {
        let mut runs = saved_query_runs();
        runs.push(vec![
            "sql",
            "SELECT h.doc_id, h.seq, h.before, d.title FROM search_hits('data', 2) h JOIN documents d USING (doc_id) ORDER BY 1, 2",
        ]);
        runs.push(vec![
            "sql",
            "SELECT count(*), count(DISTINCT doc_id || ':' || seq) FROM search_hits('the', 0)",
            "-j",
            "4",
        ]);
        runs.push(vec!["sql", "SELECT count(*), sum(n_words) FROM documents"]);
        for args in runs {
            let mut args = args.clone();
            args.extend(["-q", "--format", "csv"]);
            let local = run_on(archive, &args);
            let remote = stdout_of(&cluster.run(archive, &args), &format!("{args:?} on the cluster"));
            assert!(local.lines().count() > 1, "{args:?} finds nothing in {}", archive.display());
            assert_eq!(remote, local, "{args:?} on {}", archive.display());
        }
    }
    // The jobs ran on the cluster: the scheduler lists them.
    assert!(cluster.api("/api/jobs").matches("\"job_id\"").count() >= 20, "{}", cluster.api("/api/jobs"));
    // Corpus statistics run in one process: on a cluster they are refused, saying so.
    let refused = cluster.run(&sample_archive, &["run", "collocations", "-p", "term=python", "-q"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("collocations(...) runs in one process"), "{stderr}");
}

/// Files under `dir`, recursively.
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.flatten().map(|entry| if entry.path().is_dir() { files_under(&entry.path()) } else { 1 }).sum()
}

#[test]
fn an_executor_killed_during_a_long_aggregation_does_not_change_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (_, archive) = generated_archive(dir.path(), "30MB", 9);
    // Eight partitions: every stage has more tasks than one executor's two slots.
    let args = ["run", "ngrams", "-p", "n=3", "-p", "stopwords=", "-p", "limit=40", "-q", "--format", "csv", "-j", "8"];
    let local = run_on(&archive, &args);
    let mut cluster = Cluster::start(dir.path(), 2);
    let started = Instant::now();
    let mut query = verbatim()
        .args(args)
        .arg("--archive")
        .arg(&archive)
        .args(["--cluster", &cluster.address()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the first executor seen holding shuffle output of the running job: its tasks and the
    // output others would read from it are lost, and must be run again on the other executor.
    let victim = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no executor wrote shuffle output: {}",
            cluster.api("/api/jobs")
        );
        assert!(query.try_wait().unwrap().is_none(), "the query finished before an executor could be killed");
        if let Some(n) = (0..2).find(|n| files_under(&dir.path().join(format!("work-{n}"))) > 0) {
            break n;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    cluster.executors[victim].kill().unwrap();
    cluster.executors[victim].wait().unwrap();
    let killed_at = started.elapsed();
    let output = query.wait_with_output().unwrap();
    let remote = stdout_of(&output, "ngrams on the cluster with an executor killed");
    assert_eq!(remote, local, "the answer changed when executor {victim} was killed at {killed_at:?}");
    eprintln!("executor {victim} killed at {killed_at:?}; the query finished at {:?}", started.elapsed());
    // The scheduler has dropped the dead executor.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.api("/api/executors").matches("\"id\"").count() != 1 {
        assert!(Instant::now() < deadline, "the killed executor is still listed: {}", cluster.api("/api/executors"));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_unreachable_scheduler_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let port = free_port();
    let output = verbatim()
        .args(["sql", "SELECT 1", "--archive"])
        .arg(&archive)
        .args(["--cluster", &format!("df://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot reach the scheduler at 127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn a_file_missing_from_the_archive_fails_a_cluster_query_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let cluster = Cluster::start(dir.path(), 1);
    let segments: Vec<PathBuf> = std::fs::read_dir(archive.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    std::fs::remove_file(&segments[0]).unwrap();
    let output = cluster.run(&archive, &["sql", "SELECT count(*) FROM segments"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a query over a missing file succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let name = segments[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(stderr.contains(&name), "{stderr}");
}

/// The Slurm batch script run with `srun` and `scontrol` replaced by shims that run each task on
/// this machine, two "nodes" being the loopback addresses 127.0.0.1 and 127.0.0.2.
fn slurm_job(dir: &Path, archive: &Path, query: &[&str]) -> (Output, u16, u16) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = format!("{}:{}", root.join("tests/support/slurm").display(), std::env::var("PATH").unwrap_or_default());
    let (scheduler_port, executor_port) = (free_port(), free_port());
    let output = isolated(Command::new("bash"))
        .arg(root.join("deploy/slurm/verbatim-cluster.sbatch"))
        .arg(archive)
        .args(query)
        .env("PATH", path)
        .env("SLURM_JOB_ID", "4242")
        .env("SLURM_JOB_NODELIST", "127.0.0.1,127.0.0.2")
        .env("VERBATIM", env!("CARGO_BIN_EXE_verbatim"))
        .env("VERBATIM_SCHEDULER_PORT", scheduler_port.to_string())
        .env("VERBATIM_EXECUTOR_PORT", executor_port.to_string())
        .env("VERBATIM_WORK_ROOT", dir.join("node-local"))
        .env("VERBATIM_BIND_NODENAME", "1")
        .env("VERBATIM_EXECUTOR_MEMORY", "512MiB")
        .env("RUST_LOG", "warn")
        .output()
        .expect("bash runs the batch script");
    (output, scheduler_port, executor_port)
}

/// Whether something still listens on `address`.
fn listening(address: &str) -> bool {
    std::net::TcpStream::connect(address).is_ok()
}

#[test]
fn the_slurm_script_starts_a_cluster_runs_the_query_and_stops_everything() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let expected = run_on(&archive, &["run", "top-words", "-p", "limit=5", "-q", "--format", "csv"]);
    let (output, scheduler_port, executor_port) =
        slurm_job(dir.path(), &archive, &["run", "top-words", "-p", "limit=5", "-q", "--format", "csv"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected, "{stderr}");
    assert!(stderr.contains("2 executors ready"), "{stderr}");
    assert!(!dir.path().join("node-local/verbatim-4242").exists(), "the executors' work folders were left behind");
    for address in [
        format!("127.0.0.1:{scheduler_port}"),
        format!("127.0.0.1:{executor_port}"),
        format!("127.0.0.2:{executor_port}"),
    ] {
        assert!(!listening(&address), "{address} still listens after the job");
    }
}

#[test]
fn the_slurm_script_stops_the_cluster_when_the_query_fails() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let (output, scheduler_port, executor_port) =
        slurm_job(dir.path(), &archive, &["sql", "SELECT no_such_column FROM segments"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no_such_column"), "{stderr}");
    assert!(!listening(&format!("127.0.0.1:{scheduler_port}")), "the scheduler still runs");
    assert!(!listening(&format!("127.0.0.2:{executor_port}")), "an executor still runs");
}

/// A number from the clock, different every run: the moments of the random kills (printed, so a
/// failing trial can be told apart).
fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    nanos ^ (std::process::id() as u64) << 20
}

/// The next number of a xorshift sequence.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn executors_killed_at_random_moments_never_leave_a_query_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let (_, archive) = generated_archive(dir.path(), "12MB", 17);
    let args = ["run", "ngrams", "-p", "n=2", "-p", "stopwords=", "-p", "limit=25", "-q", "--format", "csv", "-j", "8"];
    let local = run_on(&archive, &args);
    let mut seed = clock_seed() | 1;
    for trial in 0..4 {
        let trial_dir = dir.path().join(format!("trial-{trial}"));
        let mut cluster = Cluster::start(&trial_dir, 2);
        let victim = (next(&mut seed) % 2) as usize;
        let delay = Duration::from_millis(500 + next(&mut seed) % 5_000);
        eprintln!("trial {trial}: executor {victim} is killed {delay:?} after the query starts");
        let started = Instant::now();
        let query = verbatim()
            .args(args)
            .arg("--archive")
            .arg(&archive)
            .args(["--cluster", &cluster.address(), "--query-timeout", "240s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        cluster.executors[victim].kill().unwrap();
        cluster.executors[victim].wait().unwrap();
        let output = query.wait_with_output().unwrap();
        let took = started.elapsed();
        // Within the executor timeout, the stall limit and a rerun; never the query time limit.
        assert!(took < Duration::from_secs(200), "trial {trial} took {took:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            assert_eq!(String::from_utf8_lossy(&output.stdout), local, "trial {trial}: the answer changed");
        } else {
            assert!(stderr.contains("was lost") && stderr.contains("127.0.0.1"), "trial {trial}: {stderr}");
        }
        eprintln!("trial {trial}: {} after {took:?}", if output.status.success() { "same answer" } else { "failed" });
    }
}

#[test]
fn ctrl_c_on_a_cluster_query_cancels_its_job() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let cluster = Cluster::start(dir.path(), 1);
    let runaway = "SELECT count(*) FROM (SELECT unnest(tokenize(a.text)) FROM segments a, segments b, segments c)";
    let query = verbatim()
        .args(["sql", "-q", runaway, "--archive"])
        .arg(&archive)
        .args(["--cluster", &cluster.address()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !cluster.api("/api/jobs").contains("\"Running\"") {
        assert!(started.elapsed() < Duration::from_secs(60), "no job ran: {}", cluster.api("/api/jobs"));
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: kill(2) on the client this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(query.id() as i32, libc::SIGINT) }, 0);
    let output = query.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.api("/api/jobs").contains("\"Running\"") {
        assert!(Instant::now() < deadline, "the job still runs: {}", cluster.api("/api/jobs"));
        std::thread::sleep(Duration::from_millis(200));
    }
}
