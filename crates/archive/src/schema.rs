//! The archive's tables and their Arrow schemas. Strings are stored as plain Parquet UTF-8 so that
//! any Parquet reader (DataFusion, DuckDB, Polars, Spark) reads the tables as they are.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The tables of an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per caption: `doc_id, seq, start_ms, end_ms, duration_ms, text, speaker`.
    Segments,
    /// One row per transcript: identity, metadata, counts, content hash, what was repaired.
    Documents,
    /// One row per timed word, for files that have word timings.
    Words,
    /// One row per file that could not be read, with the reason.
    Rejects,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 4] = [Table::Segments, Table::Documents, Table::Words, Table::Rejects];

    /// The table's name, also its folder in the archive and its SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Segments => "segments",
            Table::Documents => "documents",
            Table::Words => "words",
            Table::Rejects => "rejects",
        }
    }

    /// The table's Arrow schema.
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Segments => SEGMENTS.clone(),
            Table::Documents => DOCUMENTS.clone(),
            Table::Words => WORDS.clone(),
            Table::Rejects => REJECTS.clone(),
        }
    }
}

fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

static SEGMENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("seq", DataType::Int32, false),
        Field::new("start_ms", DataType::Int64, false),
        Field::new("end_ms", DataType::Int64, false),
        Field::new("duration_ms", DataType::Int64, true),
        Field::new("text", DataType::Utf8, false),
        Field::new("speaker", DataType::Utf8, true),
    ]))
});

static DOCUMENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("video_id", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("language", DataType::Utf8, true),
        Field::new("n_segments", DataType::Int64, false),
        Field::new("n_words", DataType::Int64, false),
        Field::new("duration_ms", DataType::Int64, false),
        Field::new("content_hash", DataType::Utf8, false),
        Field::new("ingested_at", utc_millis(), false),
        Field::new("title", DataType::Utf8, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("published_at", DataType::Utf8, true),
        Field::new("is_generated", DataType::Boolean, true),
        Field::new("encoding", DataType::Utf8, true),
        Field::new("n_timed_words", DataType::Int64, true),
        Field::new("n_overlaps_clipped", DataType::Int64, true),
        Field::new("n_bad_times", DataType::Int64, true),
        Field::new("n_out_of_order", DataType::Int64, true),
        Field::new("n_empty", DataType::Int64, true),
    ]))
});

static WORDS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("seq", DataType::Int32, false),
        Field::new("word_index", DataType::Int32, false),
        Field::new("start_ms", DataType::Int64, true),
        Field::new("end_ms", DataType::Int64, true),
        Field::new("word", DataType::Utf8, false),
        Field::new("confidence", DataType::Float64, true),
        Field::new("speaker", DataType::Utf8, true),
    ]))
});

static REJECTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("doc_id", DataType::Utf8, true),
        Field::new("line", DataType::Int64, true),
        Field::new("column", DataType::Int64, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("content_hash", DataType::Utf8, true),
        Field::new("rejected_at", utc_millis(), false),
    ]))
});
