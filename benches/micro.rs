//! Micro benchmarks of the hot paths, per byte of input (`cargo bench --bench micro`):
//!
//! * `json_to_rows`: youtube-transcript-api JSON → parsed snippets → normalised segments → Arrow
//!   rows (what an ingest worker does per file, without I/O);
//! * `tokenize`: counting words (ingest) and building the `tokenize` lists (queries);
//! * `parquet_write`: encoding segment batches as zstd Parquet with the archive's settings.
//!
//! Inputs: the bundled talk transcript and generated ~50 KB transcripts (pretty, compact and
//! `ensure_ascii` styles, as `verbatim gen` writes them).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use verbatim_archive::rows::SegmentRows;
use verbatim_archive::{ChunkSettings, Table};
use verbatim_formats::youtube_json;
use verbatim_model::{normalise, words};

fn inputs() -> Vec<(String, Vec<u8>)> {
    let sample = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/python-for-hpc.json")).expect("sample");
    let mut inputs = vec![("python-for-hpc".to_string(), sample)];
    for seed in [1, 2, 3] {
        inputs.push((format!("generated-{seed}"), verbatim_gen::transcript(seed, 50_000)));
    }
    inputs
}

fn rows_of(bytes: &[u8]) -> SegmentRows {
    let mut rows = SegmentRows::default();
    for transcript in youtube_json::parse(bytes).expect("valid JSON") {
        normalise(&transcript.snippets, |segment| rows.push("doc", &segment));
    }
    rows
}

fn json_to_rows(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_to_rows");
    for (name, bytes) in inputs() {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(&name), &bytes, |b, bytes| {
            b.iter(|| black_box(rows_of(bytes).take_batch().expect("batch")))
        });
    }
    group.finish();
}

fn tokenize(c: &mut Criterion) {
    let texts: Vec<String> = inputs()
        .iter()
        .flat_map(|(_, bytes)| youtube_json::parse(bytes).expect("valid JSON"))
        .flat_map(|t| t.snippets.into_iter().map(|s| s.text.into_owned()))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let mut group = c.benchmark_group("tokenize");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("count_words", |b| {
        b.iter(|| texts.iter().map(|t| words::count_words(black_box(t))).sum::<usize>())
    });
    group.bench_function("tokenize_lowercase", |b| {
        b.iter(|| texts.iter().map(|t| words::tokenize(black_box(t)).len()).sum::<usize>())
    });
    group.finish();
}

fn parquet_write(c: &mut Criterion) {
    let mut rows = SegmentRows::default();
    let mut json_bytes = 0;
    for seed in 0..40 {
        let bytes = verbatim_gen::transcript(seed, 50_000);
        json_bytes += bytes.len();
        for transcript in youtube_json::parse(&bytes).expect("valid JSON") {
            normalise(&transcript.snippets, |segment| rows.push("channel-01/abcdefghijk.en", &segment));
        }
    }
    let batch = rows.take_batch().expect("batch");
    let mut group = c.benchmark_group("parquet_write");
    group.throughput(Throughput::Bytes(json_bytes as u64));
    for level in [1, 3] {
        let settings = ChunkSettings { zstd_level: level, ..ChunkSettings::default() };
        let properties = settings.writer_properties(Table::Segments).expect("properties");
        group.bench_function(BenchmarkId::new("zstd", level), |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(4 << 20);
                let mut writer =
                    parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(properties.clone()))
                        .expect("writer");
                writer.write(&batch).expect("write");
                writer.close().expect("close");
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, json_to_rows, tokenize, parquet_write);
criterion_main!(benches);
