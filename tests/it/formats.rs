//! Every reader end to end through `verbatim ingest`, on small fixtures of our own
//! (`tests/fixtures/formats/`) covering what the external ones miss.

use std::path::Path;

use crate::common::*;

fn formats_archive(dir: &Path) -> std::path::PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats");
    let archive = dir.join("a");
    run_ok(&["ingest", "-q", &fixtures.to_string_lossy(), "--archive", &archive.to_string_lossy()]);
    archive
}

#[test]
fn every_format_is_ingested_with_its_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let archive = formats_archive(dir.path());
    let docs = sql_rows(
        &archive,
        "SELECT doc_id, format, encoding, language, is_generated, n_segments, n_timed_words FROM documents ORDER BY doc_id",
    );
    assert_eq!(
        docs,
        [
            "bundle/physics#aBcDeFgHiJk.en,jsonl,UTF-8,en,false,2,0",
            "bundle/physics#aBcDeFgHiJk.en.auto,jsonl,UTF-8,en,true,2,0",
            "encodings/compressed.vtt,webvtt,UTF-8,,,1,0",
            "encodings/cr-only,srt,UTF-8,,,2,0",
            "encodings/latin1,srt,windows-1252,,,2,0",
            "encodings/utf16be,srt,UTF-16BE,,,2,0",
            "stt/assemblyai,assemblyai-json,UTF-8,en_us,true,2,3",
            "stt/whisper-cpp,whisper-json,UTF-8,en,true,2,0",
            "stt/whisperx,whisper-json,UTF-8,en,true,2,7",
            "yt-dlp/dQw4w9WgXcQ.en,webvtt,UTF-8,en,true,3,10",
        ]
    );
}

#[test]
fn yt_dlp_auto_captions_store_each_line_once_with_words_and_sidecar_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let archive = formats_archive(dir.path());
    let doc = "doc_id = 'yt-dlp/dQw4w9WgXcQ.en'";
    let lines = sql_rows(&archive, &format!("SELECT start_ms, end_ms, text FROM segments WHERE {doc} ORDER BY seq"));
    assert_eq!(lines, ["160,2869,hi everybody I'm Mary", "2879,5510,and I lead", "5520,8000,the training events"]);
    let words = sql_rows(
        &archive,
        &format!("SELECT word, start_ms, end_ms FROM words WHERE {doc} AND seq = 1 ORDER BY word_index"),
    );
    assert_eq!(words, ["and,2879,3280", "I,3280,3439", "lead,3439,5510"]);
    let meta = sql_value(
        &archive,
        &format!("SELECT concat_ws('|', video_id, title, channel, published_at) FROM documents WHERE {doc}"),
    );
    assert_eq!(meta, "dQw4w9WgXcQ|Advanced computing webinar|HPC Training|2023-10-12");
}

#[test]
fn speakers_and_texts_are_clean_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let archive = formats_archive(dir.path());
    let speakers = sql_rows(
        &archive,
        "SELECT doc_id, seq, speaker, text FROM segments WHERE speaker IS NOT NULL ORDER BY doc_id, seq",
    );
    assert_eq!(
        speakers,
        [
            "encodings/compressed.vtt,0,Ana,Compressed & fine",
            "stt/assemblyai,0,A,Hello there.",
            "stt/assemblyai,1,B,Hi.",
            "stt/whisperx,0,SPEAKER_00,We are in New York City.",
            "stt/whisperx,1,SPEAKER_01,Really?",
        ]
    );
    let decoded = sql_rows(
        &archive,
        "SELECT doc_id, text FROM segments WHERE doc_id LIKE 'encodings/%' AND seq = 0 ORDER BY doc_id",
    );
    assert_eq!(
        decoded,
        [
            "encodings/compressed.vtt,Compressed & fine",
            "encodings/cr-only,Grüße aus Zürich",
            "encodings/latin1,\"Grüße aus Zürich, très élégant, à la française\"",
            "encodings/utf16be,Grüße aus Zürich",
        ]
    );
    let unaligned =
        sql_value(&archive, "SELECT count(*) FROM words WHERE doc_id = 'stt/whisperx' AND start_ms IS NULL");
    assert_eq!(unaligned, "1", "WhisperX words it could not align keep no times");
}

#[test]
fn a_growing_bundle_adds_only_its_new_transcripts() {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats/bundle/physics.jsonl");
    let bundle = dir.path().join("physics.jsonl");
    std::fs::copy(&source, &bundle).unwrap();
    let archive = dir.path().join("a");
    let archive_arg = archive.to_string_lossy().into_owned();
    run_ok(&["ingest", "-q", &bundle.to_string_lossy(), "--archive", &archive_arg]);
    let mut text = std::fs::read_to_string(&bundle).unwrap();
    text.push_str("{\"video_id\": \"zYxWvUtSrQp\", \"language_code\": \"de\", \"snippets\": [{\"text\": \"Hallo\", \"start\": 0, \"duration\": 1}]}\n");
    std::fs::write(&bundle, text).unwrap();
    let output = run(&["ingest", &bundle.to_string_lossy(), "--archive", &archive_arg]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("added 1 documents, 1 segments"));
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM documents"), "3");
}

#[test]
fn strict_mode_and_forced_encoding_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let loose = write(dir.path(), "in/loose.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\nfirst\n\nlost its timing\n");
    let archive = dir.path().join("a");
    let archive_arg = archive.to_string_lossy().into_owned();
    let strict = run(&["ingest", "--strict", &loose.to_string_lossy(), "--archive", &archive_arg]);
    assert_eq!(strict.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("loose.vtt:6:1: webvtt: text outside a cue"));
    let renamed = write(dir.path(), "in/captions.txt", "1\n00:00:01,000 --> 00:00:02,000\ncaf\u{e9}\n");
    std::fs::write(&renamed, b"1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9\n").unwrap();
    run_ok(&[
        "ingest",
        "-q",
        "--input-format",
        "srt",
        "--encoding",
        "iso-8859-1",
        &renamed.to_string_lossy(),
        "--archive",
        &archive_arg,
    ]);
    assert_eq!(sql_value(&archive, "SELECT text FROM segments WHERE doc_id = 'captions'"), "café");
    let bad = run(&["ingest", "--encoding", "klingon", &renamed.to_string_lossy(), "--archive", &archive_arg]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown --encoding \"klingon\""));
}

#[test]
fn podcast_speaker_turns_become_segments_with_speakers_ending_at_the_next_turn() {
    let dir = tempfile::tempdir().unwrap();
    let episode = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external/oxide-and-friends");
    let otter = write(
        dir.path(),
        "meetings/sync.txt",
        "Weekly sync\n\nAlice Smith  0:03\nHello everyone.\nLet's start.\n\nBob  1:10\nThanks, Alice.\n",
    );
    let archive = dir.path().join("archive");
    run_on(&archive, &["ingest", "-q", &episode.to_string_lossy(), &otter.to_string_lossy()]);
    let formats = sql_rows(&archive, "SELECT doc_id, format, n_segments FROM documents ORDER BY doc_id");
    assert_eq!(formats, ["Adversarial-Machine-Learning,speaker-turns,461", "sync,speaker-turns,2"]);
    let first = sql_rows(
        &archive,
        "SELECT seq, start_ms, end_ms, speaker FROM segments WHERE doc_id = 'Adversarial-Machine-Learning' ORDER BY seq LIMIT 3",
    );
    assert_eq!(first, ["0,0,0,Speaker 1", "1,0,12000,Speaker 2", "2,12000,16000,Speaker 1"]);
    let last = "SELECT start_ms, speaker FROM segments WHERE doc_id = 'Adversarial-Machine-Learning' ORDER BY seq DESC LIMIT 1";
    assert_eq!(sql_value(&archive, last), "5008000,Speaker 2", "01:23:28");
    let otter_rows =
        sql_rows(&archive, "SELECT start_ms, end_ms, speaker, text FROM segments WHERE doc_id = 'sync' ORDER BY seq");
    assert_eq!(
        otter_rows,
        ["3000,70000,Alice Smith,Hello everyone. Let's start.", "70000,70000,Bob,\"Thanks, Alice.\""]
    );
    let speakers = "SELECT count(DISTINCT speaker) FROM segments WHERE doc_id = 'Adversarial-Machine-Learning'";
    assert!(sql_value(&archive, speakers).parse::<u32>().unwrap() >= 2);
}

#[test]
fn a_real_speech_corpus_is_made_from_speaker_turns_and_ingests_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let episodes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external/oxide-and-friends");
    let corpus = dir.path().join("speech");
    run_ok(&[
        "gen",
        "-q",
        "--speech",
        &episodes.to_string_lossy(),
        "--size",
        "2500KB",
        "--out",
        &corpus.to_string_lossy(),
    ]);
    let archive = dir.path().join("archive");
    run_on(&archive, &["ingest", "-q", &corpus.to_string_lossy()]);
    let formats = sql_rows(&archive, "SELECT format, count(*) FROM documents GROUP BY format ORDER BY format");
    assert_eq!(formats.len(), 3, "JSON, WebVTT and WhisperX files: {formats:?}");
    let words = "SELECT sum(n_words) FROM documents WHERE doc_id = 'round-000/Adversarial-Machine-Learning.en'";
    let original = "SELECT sum(word_count(text)) FROM segments";
    let episode = dir.path().join("episode");
    run_on(&episode, &["ingest", "-q", &episodes.to_string_lossy()]);
    assert_eq!(sql_value(&archive, words), sql_value(&episode, original), "every word of the episode, once per copy");
    let speakers = "SELECT count(DISTINCT speaker) FROM segments WHERE speaker IS NOT NULL";
    assert_eq!(sql_value(&archive, speakers), sql_value(&episode, speakers), "speakers kept in WebVTT and WhisperX");
    assert_eq!(sql_value(&archive, "SELECT count(*) FROM rejects"), "0");
}
