//! The results the fixtures' origin projects state in their own tests (webvtt-py's
//! `tests/test_webvtt_parser.py`), asserted against verbatim's readers.

use std::path::{Path, PathBuf};

use verbatim_formats::{Format, FormatError, ReadOptions, prepare};
use verbatim_model::RawSnippet;

fn webvtt_py(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/external/webvtt-py").join(name)
}

fn read(name: &str, strict: bool) -> Result<Vec<RawSnippet<'static>>, FormatError> {
    let path = webvtt_py(name);
    let bytes = std::fs::read(&path).expect("fixture exists");
    let options = ReadOptions { strict, ..ReadOptions::default() };
    let prepared = prepare(&bytes, &options)?;
    let format = Format::detect(&path, &prepared.text, None)?;
    let (_, transcripts) = format.parse(&prepared.text, &options)?;
    Ok(transcripts.into_iter().flat_map(|t| t.snippets).map(RawSnippet::into_owned).collect())
}

fn captions(name: &str) -> Vec<RawSnippet<'static>> {
    read(name, false).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn end(snippet: &RawSnippet<'_>) -> f64 {
    ((snippet.start + snippet.duration) * 1000.0).round() / 1000.0
}

#[test]
fn sample_has_16_captions_with_the_stated_times() {
    let sample = captions("sample.vtt");
    assert_eq!(sample.len(), 16);
    assert_eq!((sample[2].start, end(&sample[2])), (11.89, 16.32));
}

#[test]
fn one_caption() {
    let one = captions("one_caption.vtt");
    assert_eq!(one.len(), 1);
    assert_eq!((one[0].start, end(&one[0]), one[0].text.as_ref()), (0.5, 7.0, "Caption text #1"));
}

#[test]
fn caption_counts() {
    for (name, count) in [
        ("missing_caption_text.vtt", 5),
        ("metadata_headers.vtt", 2),
        ("metadata_headers_multiline.vtt", 2),
        ("comments.vtt", 3),
        ("styles.vtt", 1),
        ("captions_with_bom.vtt", 4),
        ("invalid_timeframe_in_cue_text.vtt", 4),
    ] {
        assert_eq!(captions(name).len(), count, "{name}");
    }
    assert_eq!(captions("invalid_timeframe_in_cue_text.vtt")[1].text, "");
}

#[test]
fn comments_are_skipped_and_lines_kept() {
    let vtt = captions("comments.vtt");
    assert_eq!(vtt[0].text, "- Ta en kopp varmt te.\n- Det är inte varmt.");
    assert_eq!(vtt[2].text, "- Ta en kopp");
}

#[test]
fn cue_tags_are_cleaned() {
    let vtt = captions("cue_tags.vtt");
    assert_eq!(vtt[1].text, "Like a big-a pizza pie");
    assert_eq!(vtt[2].text, "That's amore");
}

#[test]
fn empty_lines_are_not_included() {
    let vtt = captions("netflix_chicas_del_cable.vtt");
    assert_eq!(vtt[0].text, "[Alba] En 1928,");
    assert_eq!(vtt[vtt.len() - 2].text, "Diez años no son suficientes\npara olvidarte...");
}

#[test]
fn youtube_dl_files() {
    assert_eq!(captions("youtube_dl.vtt")[2].text, "this will happen is I'm telling");
}

#[test]
fn malformed_files_are_rejected_in_strict_mode() {
    for name in ["invalid.vtt", "empty.vtt", "invalid_timeframe.vtt", "missing_timeframe.vtt"] {
        assert!(read(name, true).is_err(), "{name} is rejected with --strict");
    }
    assert!(read("empty.vtt", false).is_err(), "an empty file is never a transcript");
}

// pysubs2's `tests/test_subrip.py` (fixtures written out from its string literals).

fn pysubs2(name: &str) -> Vec<(i64, i64, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/external/pysubs2-extracted").join(name);
    let bytes = std::fs::read(&path).expect("fixture exists");
    let options = ReadOptions::default();
    let prepared = prepare(&bytes, &options).expect("decodes");
    let format = Format::detect(&path, &prepared.text, None).expect("detected");
    let (_, transcripts) = format.parse(&prepared.text, &options).expect("parses");
    let ms = |s: f64| (s * 1000.0).round() as i64;
    transcripts[0].snippets.iter().map(|s| (ms(s.start), ms(s.start + s.duration), s.text.to_string())).collect()
}

#[test]
fn pysubs2_simple_and_malformed_reads_give_the_same_events() {
    let expected =
        vec![(0, 60_000, "An example subtitle.".to_string()), (60_000, 120_000, "Subtitle number\ntwo.".to_string())];
    assert_eq!(pysubs2("test_subrip__test_simple_read.srt"), expected);
    // No line number, no empty line, leading whitespace, bad time stamp format.
    assert_eq!(pysubs2("test_subrip__test_read_malformed.srt"), expected);
}

#[test]
fn pysubs2_position_is_ignored_and_markup_removed() {
    assert_eq!(
        pysubs2("test_subrip__test_read_position_styling.srt"),
        vec![
            (10_500, 13_000, "Elephant's Dream".to_string()),
            (15_000, 18_000, "At the left we can see...".to_string())
        ]
    );
    assert_eq!(pysubs2("test_subrip__test_read_tags.srt")[0].2, "italic bold underline strikethrough");
}
