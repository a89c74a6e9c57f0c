//! Archives on a real S3-compatible server: moto, which `tests/run` installs, starts on loopback and
//! points these tests at (`VERBATIM_TEST_S3_BUCKET`, `AWS_ENDPOINT`, fake credentials).

use std::process::Command;

use crate::common::*;

/// A fresh archive URL in the test bucket, or `None` when the user chose to skip S3 tests.
fn s3_archive(name: &str) -> Option<String> {
    match std::env::var("VERBATIM_TEST_S3_BUCKET") {
        Ok(bucket) => {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            Some(format!("s3://{bucket}/{name}-{}-{nanos}", std::process::id()))
        }
        Err(_) if std::env::var_os("VERBATIM_SKIP_S3_TESTS").is_some() => {
            eprintln!("SKIPPED {name}: no S3 server (VERBATIM_SKIP_S3_TESTS is set)");
            None
        }
        Err(_) => panic!(
            "{name} needs an S3 server: run `tests/run`, which starts one, or set VERBATIM_SKIP_S3_TESTS=1 to skip it knowingly"
        ),
    }
}

/// The object `key` under `archive` as an HTTP URL on the test server.
fn http_url(archive: &str, key: &str) -> String {
    let endpoint = std::env::var("AWS_ENDPOINT").expect("tests/run sets AWS_ENDPOINT");
    format!("{endpoint}/{}/{key}", archive.trim_start_matches("s3://"))
}

/// Whether the object at `url` exists.
fn lock_held(url: &str) -> bool {
    let output = signed_curl().args(["-o", "/dev/null", "-w", "%{http_code}", "-I", url]).output().expect("curl runs");
    String::from_utf8_lossy(&output.stdout) == "200"
}

/// curl with requests signed with the test credentials (SigV4), as the server requires.
fn signed_curl() -> Command {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let key = std::env::var("AWS_ACCESS_KEY_ID").expect("tests/run sets AWS_ACCESS_KEY_ID");
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").expect("tests/run sets AWS_SECRET_ACCESS_KEY");
    let mut command = Command::new("curl");
    command.args(["-s", "--aws-sigv4", &format!("aws:amz:{region}:s3"), "--user", &format!("{key}:{secret}")]);
    command
}

/// Runs a signed curl that must succeed; returns what it printed.
fn curl(args: &[&str]) -> String {
    let output = signed_curl().arg("-f").args(args).output().expect("curl runs");
    assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn a_cluster_reads_an_s3_archive_with_the_same_settings_as_local_mode() {
    let Some(archive) = s3_archive("cluster") else { return };
    let dir = tempfile::tempdir().unwrap();
    ingest_sample(&archive);
    // Executors and scheduler inherit the AWS_* settings tests/run exports, as a user's would.
    let cluster = crate::cluster::Cluster::start(dir.path(), 2);
    for args in [
        &["run", "top-words", "-p", "limit=10", "-q", "--format", "csv"][..],
        &["run", "search", "-p", "phrase=national supercomputing", "-q", "--format", "csv"][..],
    ] {
        let local = run_on(&archive, args);
        let remote = crate::cluster::stdout_of(&cluster.run(&archive, args), &format!("{args:?} on the cluster"));
        assert!(local.lines().count() > 1, "{args:?} finds nothing");
        assert_eq!(remote, local, "{args:?}");
    }
}

#[test]
fn an_s3_archive_ingests_queries_verifies_and_reruns_add_nothing() {
    let Some(archive) = s3_archive("roundtrip") else { return };
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    ingest_sample(&local);

    ingest_sample(&archive);
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM segments"), "1568");
    let digest = "SELECT count(*), sum(start_ms), sum(length(text)), max(text) FROM segments";
    assert_eq!(sql_value(&archive, digest), sql_value(&local, digest), "the same rows as a local archive");
    let top = run_ok(&["run", "-q", "top-words", "--archive", &archive, "--format", "csv"]);
    let local_top = run_ok(&["run", "-q", "top-words", "--archive", &local.to_string_lossy(), "--format", "csv"]);
    assert_eq!(top, local_top);

    ingest_sample(&archive);
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents"), "1", "a re-run adds nothing");
    let verify = run(&["verify", "--deep", "--archive", &archive]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(String::from_utf8_lossy(&verify.stderr).contains("segments 1568"));
}

#[test]
fn a_chunk_lost_from_s3_fails_the_query_naming_its_url() {
    let Some(archive) = s3_archive("lost-chunk") else { return };
    ingest_sample(&archive);
    let manifest: serde_json::Value =
        serde_json::from_str(&curl(&[&http_url(&archive, "_verbatim/manifests/00000000000000000001.json")]))
            .expect("manifest JSON");
    let chunk = manifest["tables"]["segments"][0]["path"].as_str().expect("a segments file").to_string();
    curl(&["-X", "DELETE", &http_url(&archive, &chunk)]);

    for args in [
        vec!["sql", "-q", "--archive", &archive, "SELECT count(*) FROM segments"],
        vec!["info", "--archive", &archive],
        vec!["verify", "-q", "--archive", &archive],
    ] {
        let output = run(&args);
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(1), "{args:?}: {said}");
        assert!(said.contains(&format!("{archive}/{chunk}: missing")), "{args:?}: {said}");
    }
}

fn ingest_command(corpus: &std::path::Path, archive: &str) -> Command {
    let mut command = verbatim();
    command.args(["ingest", "-q", "--chunk-size", "48KiB", "-j", "2"]).arg(corpus).args(["--archive", archive]);
    command
}

#[test]
fn an_s3_ingest_killed_at_several_points_and_rerun_equals_a_clean_run() {
    let Some(archive) = s3_archive("killed") else { return };
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, "2MB", 23);
    let clean = s3_archive("clean").expect("server present");
    let started = std::time::Instant::now();
    let output = ingest_command(&corpus, &clean).output().unwrap();
    // Each killed attempt gets a seventh of a clean run's time, so six of them stop part-way.
    let slice = started.elapsed() / 7;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let expected = archive_contents(&clean);

    let mut kills = 0;
    for attempt in 1..=6 {
        let mut child = ingest_command(&corpus, &archive).spawn().unwrap();
        std::thread::sleep(slice);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // Whatever was committed is readable and consistent after every kill.
        if run(&["info", "--archive", &archive]).status.success() {
            let duplicates =
                "SELECT count(*) FROM (SELECT doc_id, seq FROM segments GROUP BY doc_id, seq HAVING count(*) > 1)";
            assert_eq!(sql_value(&archive, duplicates), "0", "no duplicated segments after kill {attempt}");
        }
    }
    assert!(kills >= 5, "the ingest was interrupted part-way ({kills} kills)");
    let finish = ingest_command(&corpus, &archive).output().unwrap();
    assert!(finish.status.success(), "{}", String::from_utf8_lossy(&finish.stderr));
    assert_eq!(archive_contents(&archive), expected, "a re-run gives exactly the archive of one clean run");
    run_ok(&["verify", "-q", "--deep", "--archive", &archive]);
}

#[test]
fn a_second_writer_on_an_s3_archive_waits_for_the_first_or_gives_up_as_busy() {
    let Some(archive) = s3_archive("two-writers") else { return };
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, "2MB", 29);
    let mut first = ingest_command(&corpus, &archive).spawn().unwrap();
    // Wait until the first writer holds the lock.
    let lock = http_url(&archive, "_verbatim/lock");
    let started = std::time::Instant::now();
    while !lock_held(&lock) && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let busy = ingest_command(&sample(), &archive).args(["--wait", "0s"]).output().unwrap();
    let said = String::from_utf8_lossy(&busy.stderr);
    assert_eq!(busy.status.code(), Some(4), "a writer that will not wait exits as busy: {said}");
    assert!(said.contains("is busy: locked by run"), "{said}");
    // A writer that waits commits after the first: neither commit is lost.
    let waiting = ingest_command(&sample(), &archive).args(["--wait", "5m"]).output().unwrap();
    let first_status = first.wait().unwrap();
    assert!(first_status.success());
    assert!(waiting.status.success(), "{}", String::from_utf8_lossy(&waiting.stderr));
    let documents: u64 = sql_value(&archive, "SELECT count(*) FROM documents").parse().unwrap();
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents WHERE doc_id = 'python-for-hpc'"), "1");
    assert!(documents > 1, "the first writer's documents are there too ({documents})");
    run_ok(&["verify", "-q", "--archive", &archive]);
}

#[test]
fn store_settings_come_from_the_config_file_when_the_environment_has_none() {
    let Some(archive) = s3_archive("config") else { return };
    let dir = tempfile::tempdir().unwrap();
    let endpoint = std::env::var("AWS_ENDPOINT").expect("tests/run sets AWS_ENDPOINT");
    let config = write(
        dir.path(),
        "verbatim.toml",
        &format!("[storage]\naws_endpoint = \"{endpoint}\"\naws_allow_http = \"true\"\n"),
    );
    let output = verbatim()
        .env("VERBATIM_CONFIG", &config)
        .env_remove("AWS_ENDPOINT")
        .env_remove("AWS_ALLOW_HTTP")
        .args(["ingest", "-q", &sample().to_string_lossy(), "--archive", &archive])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM segments"), "1568");
}

#[test]
fn sources_on_s3_ingest_like_a_local_folder_and_prune_follows_their_keys() {
    let Some(prefix) = s3_archive("sources") else { return };
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, "300KB", 31);
    let mut keys = Vec::new();
    for channel in std::fs::read_dir(&corpus).unwrap() {
        for file in std::fs::read_dir(channel.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let key = path.strip_prefix(&corpus).unwrap().to_string_lossy().into_owned();
            curl(&["-T", &path.to_string_lossy(), &http_url(&prefix, &format!("talks/{key}"))]);
            keys.push(key);
        }
    }
    keys.sort();
    let local = dir.path().join("local");
    run_on(&local, &["ingest", "-q", &corpus.to_string_lossy()]);
    let from_s3 = dir.path().join("from-s3");
    let talks = format!("{prefix}/talks/");
    run_on(&from_s3, &["ingest", "-q", &talks]);
    assert_eq!(archive_contents(&from_s3), archive_contents(&local), "the same documents, ids and rows");
    let source = sql_value(&from_s3, "SELECT min(source) FROM documents");
    assert_eq!(source, format!("{prefix}/talks/{}", keys[0]), "sources are recorded as URLs");

    // A glob over keys, into an archive on the same store.
    let archive = format!("{prefix}/archive");
    run_on(&archive, &["ingest", "-q", &format!("{prefix}/talks/*/*.json")]);
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents"), keys.len().to_string());

    // An object deleted from the prefix is pruned from the archive, with --prune only.
    curl(&["-X", "DELETE", &http_url(&prefix, &format!("talks/{}", keys[0]))]);
    run_on(&from_s3, &["ingest", "-q", "--prune", &talks]);
    assert_eq!(sql_value(&from_s3, "SELECT count(*) FROM documents"), (keys.len() - 1).to_string());
    let missing = run(&["ingest", "--archive", &from_s3.to_string_lossy(), &format!("{prefix}/nothing/")]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nothing/: no such file or directory"));
}

#[test]
fn search_on_an_s3_archive_reads_its_indexes_through_a_bounded_local_cache() {
    let Some(archive) = s3_archive("search") else { return };
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    ingest_sample(&local);
    ingest_sample(&archive);
    let cache = dir.path().join("cache");
    let search = |archive: &str, cache_size: &str| {
        let config = write(
            dir.path(),
            "config.toml",
            &format!("index_cache = \"{}\"\nindex_cache_size = \"{cache_size}\"\n", cache.display()),
        );
        let args = [
            "run",
            "-q",
            "search",
            "--archive",
            archive,
            "--format",
            "csv",
            "--param",
            "phrase=national supercomputing",
        ];
        let output = verbatim().env("VERBATIM_CONFIG", config).args(args).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let cached_files =
        || -> Vec<u64> { walkdir(&cache).into_iter().map(|path| std::fs::metadata(path).unwrap().len()).collect() };
    let expected = search(&local.to_string_lossy(), "1MiB");
    assert!(expected.contains("data pipelines to,national supercomputing"), "{expected}");
    assert!(cached_files().is_empty(), "a local archive's indexes are read in place");

    // Smaller than the index: read from the store, nothing kept.
    assert_eq!(search(&archive, "1KiB"), expected);
    assert!(cached_files().is_empty());
    // Room for it: one copy of the index, the size the manifest records, reused.
    assert_eq!(search(&archive, "1MiB"), expected);
    let index_bytes: u64 = std::fs::read_dir(local.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "phrases"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(cached_files(), vec![index_bytes]);
    assert_eq!(search(&archive, "1MiB"), expected);
    assert_eq!(cached_files(), vec![index_bytes]);
}

/// Every file under `dir`.
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            files.extend(walkdir(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}

/// An HTTP proxy in front of the S3 server that refuses (403, as a revoked credential or a policy
/// would) every upload of a phrase index after the first `allowed`: a fault that no retry mends,
/// at a moment of the run chosen by `allowed`. Requests pass through unchanged otherwise.
struct FaultyProxy {
    port: u16,
}

impl FaultyProxy {
    fn start(allowed: usize) -> FaultyProxy {
        let upstream = std::env::var("AWS_ENDPOINT").expect("tests/run sets AWS_ENDPOINT");
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let uploads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, uploads) = (upstream.clone(), uploads.clone());
                std::thread::spawn(move || FaultyProxy::serve(client, &upstream, &uploads, allowed));
            }
        });
        FaultyProxy { port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Relays one client connection request by request (HTTP/1.1 without pipelining: a request is
    /// sent only when the previous response has arrived), refusing the uploads past the limit.
    fn serve(
        mut client: std::net::TcpStream,
        upstream: &str,
        uploads: &std::sync::atomic::AtomicUsize,
        allowed: usize,
    ) {
        use std::io::{BufRead, BufReader, Read, Write};
        let Ok(mut server) = std::net::TcpStream::connect(upstream) else { return };
        let (Ok(mut to_client), Ok(from_server)) = (client.try_clone(), server.try_clone()) else { return };
        std::thread::spawn(move || {
            let mut from_server = from_server;
            let _ = std::io::copy(&mut from_server, &mut to_client);
            let _ = to_client.shutdown(std::net::Shutdown::Both);
        });
        let mut reader = BufReader::new(client.try_clone().unwrap());
        loop {
            let mut head = Vec::new();
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                head.extend_from_slice(&line);
                if line == b"\r\n" {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&head).to_string();
            let length: usize = text
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let request_line = text.lines().next().unwrap_or_default();
            let is_index_upload = (request_line.starts_with("PUT ") || request_line.starts_with("POST "))
                && request_line.contains(".phrases");
            if is_index_upload && uploads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= allowed {
                let error = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
                let response = format!(
                    "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{error}",
                    error.len()
                );
                let _ = client.write_all(response.as_bytes());
                let _ = client.shutdown(std::net::Shutdown::Both);
                let _ = server.shutdown(std::net::Shutdown::Both);
                return;
            }
            if server.write_all(&head).and_then(|()| server.write_all(&body)).is_err() {
                return;
            }
        }
    }
}

#[test]
fn an_s3_ingest_that_fails_part_way_commits_nothing_and_a_rerun_finishes() {
    let Some(archive) = s3_archive("faults") else { return };
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, "1MB", 41);
    let first = dir.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::copy(sample(), first.join("talk.json")).unwrap();
    run_on(&archive, &["ingest", "-q", &first.to_string_lossy()]);
    let log_before = run_on(&archive, &["log", "--json"]);
    // Failures at several moments of the run: the first index upload, a few in, many in.
    for allowed in [0, 2, 6] {
        let proxy = FaultyProxy::start(allowed);
        let output = verbatim()
            .args(["ingest", "-q", "--chunk-size", "64KiB", "-j", "2", "--archive", &archive])
            .arg(&corpus)
            .env("AWS_ENDPOINT", proxy.endpoint())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "index uploads after {allowed} refused: {stderr}");
        assert!(stderr.contains("403") || stderr.contains("Access Denied"), "{stderr}");
        assert_eq!(run_on(&archive, &["log", "--json"]), log_before, "a failed run committed (after {allowed})");
        assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents"), "1");
    }
    run_on(&archive, &["ingest", "-q", "--chunk-size", "64KiB", "-j", "2", &corpus.to_string_lossy()]);
    let local = dir.path().join("local");
    run_on(&local, &["ingest", "-q", &first.to_string_lossy()]);
    run_on(&local, &["ingest", "-q", &corpus.to_string_lossy()]);
    assert_eq!(archive_contents(&archive), archive_contents(&local), "the rerun finished the work");
    let verified = run(&["verify", "--archive", &archive]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
}
