//! Phrase search: answers from the phrase indexes equal a scan of the text, find phrases across
//! caption breaks, survive compaction, and a lost index fails the search naming it.

use std::path::Path;

use crate::common::*;

/// Real speech, cut into captions by `verbatim gen --speech`.
fn speech_corpus(dir: &Path, size: &str) -> std::path::PathBuf {
    let corpus = dir.join("speech");
    let speech = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/corpora/oxide-and-friends");
    run_ok(&["gen", "-q", "--speech", &speech.to_string_lossy(), "--size", size, "--out", &corpus.to_string_lossy()]);
    corpus
}

fn files_ending(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries.filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(suffix)).count()
    })
}

/// The hits of `phrase` as CSV: every column of `search` but the version they were read from
/// (archives compared here are at different versions).
fn search_csv(archive: &Path, phrase: &str) -> String {
    let sql = format!(
        "SELECT doc_id, seq, word_index, hit_words, start, text, speaker, before, after, left_context, hit, \
         right_context, content_hash FROM search('{}')",
        phrase.replace('\'', "''")
    );
    run_ok(&["sql", "-q", "--archive", &archive.to_string_lossy(), "--format", "csv", &sql])
}

const PHRASES: [&str; 6] = ["open source", "the", "we were talking about", "Rust", "it's a", "hubris"];

#[test]
fn the_index_and_a_scan_give_the_same_hits_and_compaction_writes_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = speech_corpus(dir.path(), "3MB");
    let (indexed, scanned) = (dir.path().join("indexed"), dir.path().join("scanned"));
    run_on(&indexed, &["ingest", "-q", &corpus.to_string_lossy(), "--chunk-size", "512KiB"]);
    run_on(
        &scanned,
        &[
            "ingest",
            "-q",
            &corpus.to_string_lossy(),
            "--chunk-size",
            "512KiB",
            "--no-phrase-index",
            "--compact",
            "never",
        ],
    );
    let chunks = files_ending(&indexed.join("segments"), ".parquet");
    assert!(chunks > 1, "several chunks to search");
    assert_eq!(files_ending(&indexed.join("segments"), ".phrases"), chunks, "one index per chunk");
    assert_eq!(files_ending(&scanned.join("segments"), ".phrases"), 0);
    // With an index, documents' word counts come from the index builder; without, from counting
    // each caption: the same numbers, equal to the words of their segments.
    let counts = "SELECT string_agg(doc_id || ':' || n_words, ',' ORDER BY doc_id) FROM documents";
    assert_eq!(sql_value(&indexed, counts), sql_value(&scanned, counts), "n_words with and without the index");
    let mismatched = "SELECT count(*) FROM documents d LEFT JOIN (SELECT doc_id, sum(word_count(text)) AS w \
                      FROM segments GROUP BY doc_id) s USING (doc_id) WHERE d.n_words <> coalesce(s.w, 0)";
    assert_eq!(sql_value(&indexed, mismatched), "0", "n_words is the words of the segments");

    for phrase in PHRASES {
        let hits = search_csv(&indexed, phrase);
        assert_eq!(hits, search_csv(&scanned, phrase), "{phrase}: the index and the scan agree");
        assert!(hits.lines().count() > 1, "{phrase} is found");
        let matching = phrase_match_rows(&indexed, phrase);
        assert_eq!(matching, phrase_match_rows(&scanned, phrase), "{phrase}: phrase_match with and without indexes");
        assert!(!matching.is_empty(), "{phrase} is in some caption");
    }
    // `phrase_match` filters read only the rows the indexes name: the filter runs on the captions
    // where the phrase starts, not on every caption.
    let rows: u64 = sql_value(&indexed, "SELECT count(*) FROM segments").parse().unwrap();
    let filtered = |archive: &Path| -> f64 {
        let plan = run_on(archive, &["sql", "-q", &format!("EXPLAIN ANALYZE {}", phrase_match_sql("hubris"))]);
        let (matched, pruned) = (metric(&plan, "pushdown_rows_matched"), metric(&plan, "pushdown_rows_pruned"));
        matched + pruned
    };
    let (from_indexes, from_scan) = (filtered(&indexed), filtered(&scanned));
    assert!(from_scan > 0.99 * rows as f64, "without indexes every caption is filtered: {from_scan} of {rows}");
    assert!(from_indexes * 100.0 < rows as f64, "{from_indexes} of {rows} captions filtered with indexes");
    // A scan that stops after a limit reads a few chunks, and is not narrowed first.
    let first = format!("{} LIMIT 5", phrase_match_sql("open source"));
    let plan = |sql: &str| run_on(&indexed, &["sql", "-q", &format!("EXPLAIN {sql}")]);
    assert!(plan(&phrase_match_sql("open source")).contains("PhraseIndexedScanExec"), "narrowed");
    assert!(!plan(&first).contains("PhraseIndexedScanExec"), "not narrowed under a limit: {}", plan(&first));
    assert_eq!(sql_rows(&indexed, &first), sql_rows(&scanned, &first));
    assert_eq!(sql_rows(&indexed, &first).len(), 5);
    // Hits across caption breaks: the phrase starts in one caption and ends in the next.
    let across = "SELECT count(DISTINCT doc_id || ':' || seq) FROM search('open source') \
                  WHERE NOT phrase_match(text, 'open source')";
    let within = "SELECT count(*) FROM segments WHERE phrase_match(text, 'open source')";
    let (across, within) = (sql_value(&indexed, across), sql_value(&indexed, within));
    assert!(across.parse::<u64>().unwrap() > 0, "some hits run across captions ({across}, {within} within)");
    let captions = "SELECT count(DISTINCT doc_id || ':' || seq) FROM search('open source')";
    let all = sql_value(&indexed, captions).parse::<u64>().unwrap();
    assert_eq!(all, across.parse::<u64>().unwrap() + within.parse::<u64>().unwrap());
    // Hits join with documents, and a limit and context apply.
    let joined =
        "SELECT count(*) FROM search('open source', 3, 5) s JOIN documents d USING (doc_id) WHERE d.n_segments > 0";
    assert_eq!(sql_value(&indexed, joined), "5");

    // Compacting the archive without indexes writes them, and the answers stay.
    run_on(&scanned, &["compact", "-q"]);
    let chunks = files_ending(&scanned.join("segments"), ".parquet");
    let indexes = files_ending(&scanned.join("segments"), ".phrases");
    run_on(&scanned, &["vacuum", "-q", "--retention", "0s"]);
    assert!(indexes > 0 && indexes == files_ending(&scanned.join("segments"), ".phrases"), "{indexes} of {chunks}");
    assert_eq!(
        files_ending(&scanned.join("segments"), ".phrases"),
        files_ending(&scanned.join("segments"), ".parquet")
    );
    for phrase in PHRASES {
        assert_eq!(search_csv(&scanned, phrase), search_csv(&indexed, phrase), "{phrase} after compaction");
        assert_eq!(phrase_match_rows(&scanned, phrase), phrase_match_rows(&indexed, phrase), "{phrase} compacted");
    }
}

#[test]
fn selections_beyond_half_the_memory_pool_read_their_chunks_whole() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = speech_corpus(dir.path(), "16MB");
    let archive = dir.path().join("archive");
    run_on(&archive, &["ingest", "-q", &corpus.to_string_lossy(), "--chunk-size", "512KiB"]);
    let count = "SELECT count(*) FROM segments WHERE phrase_match(text, 'the')";
    let explain = format!("EXPLAIN ANALYZE {count}");
    // Rows the filter ran on: those selected, plus every row of the chunks read whole.
    let filtered = |limit: &str| {
        let plan = run_on(&archive, &["sql", "-q", "--memory-limit", limit, &explain]);
        metric(&plan, "pushdown_rows_matched") + metric(&plan, "pushdown_rows_pruned")
    };
    let (tight, roomy) = (filtered("1MiB"), filtered("1GiB"));
    assert!(tight > roomy, "under 1 MiB some chunks are read whole: {tight} rows filtered against {roomy}");
    let answer = |limit: &str| run_on(&archive, &["sql", "-q", "--memory-limit", limit, "--format", "csv", count]);
    let narrowed = answer("1GiB");
    assert_eq!(answer("1MiB"), narrowed, "the same count, narrowed or read whole");
    assert!(narrowed.lines().nth(1).and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n > 10_000));
}

fn phrase_match_sql(phrase: &str) -> String {
    format!(
        "SELECT doc_id, seq FROM segments WHERE phrase_match(text, '{}') AND seq >= 0 ORDER BY doc_id, seq",
        phrase.replace('\'', "''")
    )
}

/// The captions `phrase_match` keeps, as `doc_id,seq` lines.
fn phrase_match_rows(archive: &Path, phrase: &str) -> Vec<String> {
    sql_rows(archive, &phrase_match_sql(phrase))
}

/// The value of a scan metric in an `EXPLAIN ANALYZE` plan (shown as `123` or `41.39 K`).
fn metric(plan: &str, name: &str) -> f64 {
    let at = plan.find(&format!("{name}=")).unwrap_or_else(|| panic!("no {name} in {plan}")) + name.len() + 1;
    let shown: String = plan[at..].chars().take_while(|&c| c != ',' && c != ']').collect();
    let (number, scale) = match shown.split_once(' ') {
        Some((number, "K")) => (number, 1e3),
        Some((number, "M")) => (number, 1e6),
        _ => (shown.as_str(), 1.0),
    };
    number.parse::<f64>().unwrap_or_else(|_| panic!("{name}={shown}")) * scale
}

#[test]
fn a_lost_or_damaged_index_fails_the_search_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    ingest_sample(&archive);
    let a = archive.to_string_lossy().to_string();
    let index = std::fs::read_dir(archive.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "phrases"))
        .expect("the sample's chunk has an index");
    let name = index.file_name().unwrap().to_string_lossy().to_string();

    let bytes = std::fs::read(&index).unwrap();
    let mut damaged = bytes.clone();
    let at = damaged.len() - 20;
    damaged[at] ^= 0x55;
    std::fs::write(&index, &damaged).unwrap();
    for sql in
        ["SELECT count(*) FROM search('python')", "SELECT count(*) FROM segments WHERE phrase_match(text, 'python')"]
    {
        let output = run(&["sql", "-q", "--archive", &a, sql]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{sql}: {stderr}");
        assert!(stderr.contains(&name), "{sql} names the index: {stderr}");
    }
    let verify = run(&["verify", "-q", "--archive", &a]);
    let shown = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(!verify.status.success() && shown.contains(&name), "verify names the index: {shown}");

    std::fs::remove_file(&index).unwrap();
    let output = run(&["sql", "-q", "--archive", &a, "SELECT count(*) FROM search('python')"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&name) && stderr.contains("missing"), "names the lost index: {stderr}");

    let output =
        run(&["sql", "-q", "--archive", &a, "SELECT count(*) FROM segments WHERE phrase_match(text, 'python')"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.code() == Some(1) && stderr.contains(&name), "phrase_match names the lost index: {stderr}");

    std::fs::write(&index, &bytes).unwrap();
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM search('python')"), "68");
    let within = sql_value(&archive, "SELECT count(*) FROM segments WHERE phrase_match(text, 'python')");
    assert!(within.parse::<u64>().unwrap() > 0, "{within}");
}

#[test]
fn search_without_a_limit_is_in_document_and_caption_order() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = speech_corpus(dir.path(), "3MB");
    let archive = dir.path().join("archive");
    // Small chunks: the hits come from many files, read by several partitions.
    run_ok(&[
        "ingest",
        "-q",
        &corpus.to_string_lossy(),
        "--archive",
        &archive.to_string_lossy(),
        "--chunk-size",
        "256KiB",
    ]);
    let ordered = sql_rows(&archive, "SELECT doc_id, seq FROM search('the') ORDER BY doc_id, seq");
    assert!(ordered.len() > 1000, "{} hits", ordered.len());
    for _ in 0..3 {
        let rows = run_ok(&[
            "sql",
            "-q",
            "-j",
            "4",
            "--format",
            "csv",
            "--archive",
            &archive.to_string_lossy(),
            "SELECT doc_id, seq FROM search('the')",
        ]);
        let rows: Vec<String> = rows.lines().skip(1).map(str::to_string).collect();
        let first_difference = rows.iter().zip(&ordered).position(|(row, expected)| row != expected);
        assert!(
            rows.len() == ordered.len() && first_difference.is_none(),
            "search() is documented as ordered by document and caption; row {first_difference:?} differs"
        );
    }
}
