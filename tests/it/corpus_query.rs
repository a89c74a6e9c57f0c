//! The corpus query language on real speech: random queries answered from the phrase indexes
//! equal the answers of a scan, and phrases equal an independent brute-force count.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{run, run_ok, sql_rows};

fn speech_archive(dir: &Path, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let corpus = dir.join("speech");
    if !corpus.exists() {
        let speech = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/corpora/oxide-and-friends");
        run_ok(&[
            "gen",
            "-q",
            "--speech",
            &speech.to_string_lossy(),
            "--size",
            "2MB",
            "--out",
            &corpus.to_string_lossy(),
        ]);
    }
    let archive = dir.join(name);
    let mut args = vec!["ingest", "-q", "--chunk-size", "256KiB"];
    args.extend(extra);
    let (corpus, target) = (corpus.to_string_lossy().to_string(), archive.to_string_lossy().to_string());
    args.extend([corpus.as_str(), "--archive", target.as_str()]);
    run_ok(&args);
    archive
}

/// A small deterministic generator (xorshift), so a failure names a query that can be rerun.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &'a [String]) -> &'a str {
        &items[self.below(items.len())]
    }
}

/// A random sequence of one to three words, prefixes, patterns and `*`.
fn sequence(random: &mut Random, frequent: &[String], rarer: &[String]) -> String {
    let length = 1 + random.below(3);
    let mut terms: Vec<String> = Vec::new();
    for at in 0..length {
        let word = if random.below(3) == 0 { random.pick(rarer) } else { random.pick(frequent) }.to_string();
        let term = match random.below(10) {
            0 if at > 0 => "*".to_string(),
            1 => format!("{}*", word.chars().take(3).collect::<String>()),
            2 => format!("/{}.?/", word.chars().take(4).collect::<String>()),
            _ => word,
        };
        terms.push(term);
    }
    if length == 1 && terms[0] == "*" {
        terms[0] = random.pick(frequent).to_string();
    }
    let text = terms.join(" ");
    if length > 1 && random.below(2) == 0 { format!("({text})") } else { text }
}

/// A random query: a sequence, or two joined by an operator, maybe nested once more.
fn query(random: &mut Random, frequent: &[String], rarer: &[String], depth: usize) -> String {
    if depth == 0 || random.below(4) == 0 {
        return sequence(random, frequent, rarer);
    }
    let left = query(random, frequent, rarer, depth - 1);
    let right = sequence(random, frequent, rarer);
    let operator = match random.below(7) {
        0 => format!("NEAR/{}", random.below(6)),
        1 => format!("ORDERED/{}", random.below(6)),
        2 => "AND".to_string(),
        3 => format!("AND/{}", 1 + random.below(3)),
        4 => "NOT".to_string(),
        5 => format!("NOT/{}", 1 + random.below(3)),
        _ => "OR".to_string(),
    };
    format!("({left} {operator} {right})")
}

/// Every hit of each query, as `query number,doc,seq,word,words` rows, in one invocation.
fn hits_of(archive: &Path, queries: &[String]) -> BTreeMap<usize, Vec<String>> {
    let union = queries
        .iter()
        .enumerate()
        .map(|(n, q)| {
            format!(
                "SELECT {n} AS q, doc_id, seq, word_index, hit_words FROM search_hits('{}', 0)",
                q.replace('\'', "''")
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let mut hits: BTreeMap<usize, Vec<String>> = (0..queries.len()).map(|n| (n, Vec::new())).collect();
    for row in sql_rows(archive, &format!("SELECT * FROM ({union}) ORDER BY q, doc_id, seq, word_index")) {
        let (n, rest) = row.split_once(',').expect("a query number");
        hits.get_mut(&n.parse().expect("a number")).expect("a query").push(rest.to_string());
    }
    hits
}

#[test]
fn random_queries_from_the_indexes_equal_a_scan_and_phrases_a_brute_force_count() {
    let dir = tempfile::tempdir().unwrap();
    let indexed = speech_archive(dir.path(), "indexed", &[]);
    let scanned = speech_archive(dir.path(), "scanned", &["--no-phrase-index"]);
    let words = sql_rows(
        &indexed,
        "SELECT w FROM (SELECT unnest(tokenize(text)) AS w FROM segments) GROUP BY w ORDER BY count(*) DESC, w LIMIT 400",
    );
    let (frequent, rarer) = (words[..60].to_vec(), words[60..].to_vec());
    let mut random = Random(0x5eed_cafe_f00d);
    let queries: Vec<String> = (0..200).map(|_| query(&mut random, &frequent, &rarer, 2)).collect();
    let (from_indexes, from_scan) = (hits_of(&indexed, &queries), hits_of(&scanned, &queries));
    let mut found = 0;
    for (n, text) in queries.iter().enumerate() {
        assert_eq!(from_indexes[&n], from_scan[&n], "query {n}, {text:?}: the indexes and a scan differ");
        found += usize::from(!from_indexes[&n].is_empty());
    }
    assert!(found > queries.len() / 4, "only {found} of {} random queries found something", queries.len());

    // Phrases, counted independently: every occurrence, across caption breaks, within a document.
    let word = regex::Regex::new(r"[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*").unwrap();
    let mut documents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in sql_rows(&indexed, "SELECT doc_id, lower(text) FROM segments ORDER BY doc_id, seq") {
        let (doc, text) = row.split_once(',').unwrap();
        let text = text.trim_matches('"');
        documents.entry(doc.to_string()).or_default().extend(word.find_iter(text).map(|m| m.as_str().to_string()));
    }
    let phrases: Vec<String> = (0..30)
        .map(|i| {
            let length = 1 + i % 3;
            (0..length)
                .map(|_| random.pick(if i % 2 == 0 { &frequent } else { &rarer }).to_string())
                .collect::<Vec<_>>()
        })
        .map(|words| words.join(" "))
        .chain(["it's a", "we were talking about", "the the"].map(str::to_string))
        .collect();
    let counted = hits_of(&indexed, &phrases);
    for (n, phrase) in phrases.iter().enumerate() {
        let wanted: Vec<&str> = phrase.split(' ').collect();
        let expected: usize = documents
            .values()
            .map(|words| words.windows(wanted.len()).filter(|w| *w == wanted.as_slice()).count())
            .sum();
        assert_eq!(counted[&n].len(), expected, "{phrase:?}: hits against a brute-force count");
    }
}

#[test]
fn queries_that_do_not_parse_fail_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    crate::common::ingest_sample(&archive);
    let a = archive.to_string_lossy();
    for (query, column) in [("rust NEAR c", 6), ("(open source", 1), ("a /[/", 3), ("speaker:", 1)] {
        let sql = format!("SELECT count(*) FROM search('{query}')");
        let output = run(&["sql", "-q", "--archive", &a, &sql]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{query}: {stderr}");
        assert!(stderr.contains(&format!("column {column}:")), "{query}: {stderr}");
    }
}

#[test]
fn filters_narrow_hits_to_speakers_channels_languages_and_dates() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats");
    let sources: Vec<String> =
        ["yt-dlp", "bundle", "stt"].iter().map(|f| fixtures.join(f).to_string_lossy().to_string()).collect();
    let mut args = vec!["ingest", "-q", "--archive"];
    let target = archive.to_string_lossy().to_string();
    args.push(&target);
    args.extend(sources.iter().map(String::as_str));
    run_ok(&args);
    let docs = |query: &str| -> String {
        let sql = format!("SELECT coalesce(string_agg(doc_id, ' ' ORDER BY doc_id), '-') FROM search('{query}')");
        sql_rows(&archive, &sql).remove(0)
    };
    assert_eq!(docs("welcome"), "physics#aBcDeFgHiJk.en physics#aBcDeFgHiJk.en.auto");
    assert_eq!(docs("welcome channel:physics"), "physics#aBcDeFgHiJk.en");
    assert_eq!(docs("welcome after:2024-01-05"), "physics#aBcDeFgHiJk.en");
    assert_eq!(docs("welcome before:2024-01-05"), "-");
    assert_eq!(docs("(welcome OR training) before:2024-01-01 lang:en"), "dQw4w9WgXcQ.en");
    assert_eq!(docs("(hi OR hello OR really) speaker:b"), "assemblyai");
    assert_eq!(docs("hi* speaker:\"SPEAKER_00\""), "-");
    assert_eq!(docs("/new|really/ speaker:\"SPEAKER_01\""), "whisperx");
    assert_eq!(docs("(hi OR hello) lang:de"), "-");
}

/// The Python to run the reference with: the test venv's, else the system's (it needs no packages).
fn python() -> String {
    std::env::var("VERBATIM_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// The JSON objects of `sql`'s rows over `archive`, by their `word`.
fn rows_by_word(archive: &Path, sql: &str) -> BTreeMap<String, serde_json::Value> {
    let out = crate::common::run_on(archive, &["sql", "-q", "--format", "json", sql]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{sql}: {e}: {out}"));
    rows.into_iter().map(|row| (row["word"].as_str().expect("a word").to_string(), row)).collect()
}

#[test]
fn association_keyness_and_dispersion_equal_an_independent_python_reference() {
    let dir = tempfile::tempdir().unwrap();
    let archive = speech_archive(dir.path(), "a", &[]);
    let captions = crate::common::run_on(
        &archive,
        &[
            "sql",
            "-q",
            "--format",
            "ndjson",
            "SELECT s.doc_id, s.seq, tokenize(s.text) AS words, s.speaker, d.channel, d.language, d.published_at \
             FROM segments s JOIN documents d USING (doc_id) ORDER BY s.doc_id, s.seq",
        ],
    );
    let reference = |args: &[&str]| -> BTreeMap<String, serde_json::Value> {
        use std::io::Write;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/measures.py");
        let mut child = std::process::Command::new(python())
            .arg(&script)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python runs");
        child.stdin.take().unwrap().write_all(captions.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "the reference failed on {args:?}");
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
        map.into_iter().collect()
    };
    let speakers = sql_rows(
        &archive,
        "SELECT speaker FROM segments WHERE speaker IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2",
    );
    assert_eq!(speakers.len(), 2, "the corpus has speakers: {speakers:?}");
    let (first, second) = (format!("speaker:\"{}\"", speakers[0]), format!("speaker:\"{}\"", speakers[1]));
    let both = "lang:en".to_string();
    let collocation = ["f_xy", "f_x", "f_y", "n", "mi", "mi3", "t_score", "log_dice", "log_likelihood"];
    let key = ["f_target", "f_reference", "per_million_target", "per_million_reference", "log_likelihood", "log_ratio"];
    let frequency = ["f", "per_million", "documents", "dp"];
    let cases: Vec<(String, Vec<&str>, &[&str])> = vec![
        ("SELECT * FROM collocations('the', 5)".into(), vec!["collocations", "the", "5", ""], &collocation),
        (
            format!("SELECT * FROM collocations('i think', 3, '{first}')"),
            vec!["collocations", "i think", "3", &first],
            &collocation,
        ),
        (format!("SELECT * FROM keyness('{first}', '')"), vec!["keyness", &first, ""], &key),
        (format!("SELECT * FROM keyness('{first}', '{second}')"), vec!["keyness", &first, &second], &key),
        ("SELECT * FROM frequencies()".into(), vec!["frequencies", ""], &frequency),
        (format!("SELECT * FROM frequencies('{both}')"), vec!["frequencies", &both], &frequency),
    ];
    for (sql, args, measures) in cases {
        let (ours, theirs) = (rows_by_word(&archive, &sql), reference(&args));
        assert!(ours.len() > 20, "{sql}: only {} rows", ours.len());
        assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "{sql}: the words");
        for (word, row) in &ours {
            for measure in measures {
                let (a, b) = (row[measure].as_f64().unwrap(), theirs[word][measure].as_f64().unwrap());
                assert!(
                    (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                    "{sql}: {word} {measure}: {a} here, {b} in the reference"
                );
            }
        }
    }
}
