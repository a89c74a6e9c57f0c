//! Row builders that turn model values into record batches of the archive's schemas.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use verbatim_model::{NormaliseStats, Segment, TranscriptMeta, Word};

use crate::{ArchiveError, Table};

/// Accumulates `segments` rows; [`SegmentRows::take_batch`] empties it into a batch.
#[derive(Debug, Default)]
pub struct SegmentRows {
    doc_id: StringBuilder,
    seq: Int32Builder,
    start_ms: Int64Builder,
    end_ms: Int64Builder,
    duration_ms: Int64Builder,
    text: StringBuilder,
    speaker: StringBuilder,
    bytes: usize,
}

impl SegmentRows {
    /// Appends one segment of document `doc_id`.
    pub fn push(&mut self, doc_id: &str, segment: &Segment<'_>) {
        self.doc_id.append_value(doc_id);
        self.seq.append_value(segment.seq);
        self.start_ms.append_value(segment.start_ms);
        self.end_ms.append_value(segment.end_ms);
        self.duration_ms.append_option(segment.duration_ms);
        self.text.append_value(segment.text);
        self.speaker.append_option(segment.speaker);
        self.bytes += doc_id.len() + segment.text.len() + 40;
    }

    /// Rows buffered.
    pub fn len(&self) -> usize {
        self.seq.len()
    }

    /// Whether no rows are buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate memory held by the buffered rows.
    pub fn approx_bytes(&self) -> usize {
        self.bytes
    }

    /// The buffered rows as a batch; the builder is empty afterwards.
    pub fn take_batch(&mut self) -> Result<RecordBatch, ArchiveError> {
        self.bytes = 0;
        // The next batch will be about as large: give the builders that capacity up front, so that
        // they do not grow (copying and faulting in fresh pages) value by value.
        let rows = self.len();
        let (doc_bytes, text_bytes) = (self.doc_id.values_slice().len(), self.text.values_slice().len());
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.doc_id.finish()),
            Arc::new(self.seq.finish()),
            Arc::new(self.start_ms.finish()),
            Arc::new(self.end_ms.finish()),
            Arc::new(self.duration_ms.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.speaker.finish()),
        ];
        self.reserve(rows, doc_bytes, text_bytes);
        batch(Table::Segments, columns)
    }

    fn reserve(&mut self, rows: usize, doc_bytes: usize, text_bytes: usize) {
        self.doc_id = StringBuilder::with_capacity(rows, doc_bytes);
        self.seq = Int32Builder::with_capacity(rows);
        self.start_ms = Int64Builder::with_capacity(rows);
        self.end_ms = Int64Builder::with_capacity(rows);
        self.duration_ms = Int64Builder::with_capacity(rows);
        self.text = StringBuilder::with_capacity(rows, text_bytes);
    }
}

/// Accumulates `words` rows; [`WordRows::take_batch`] empties it into a batch.
#[derive(Debug, Default)]
pub struct WordRows {
    doc_id: StringBuilder,
    seq: Int32Builder,
    word_index: Int32Builder,
    start_ms: Int64Builder,
    end_ms: Int64Builder,
    word: StringBuilder,
    confidence: Float64Builder,
    speaker: StringBuilder,
    bytes: usize,
}

impl WordRows {
    /// Appends one word of segment `seq` of document `doc_id`.
    pub fn push(&mut self, doc_id: &str, seq: i32, word: &Word<'_>) {
        self.doc_id.append_value(doc_id);
        self.seq.append_value(seq);
        self.word_index.append_value(word.index);
        self.start_ms.append_option(word.start_ms);
        self.end_ms.append_option(word.end_ms);
        self.word.append_value(word.word);
        self.confidence.append_option(word.confidence);
        self.speaker.append_option(word.speaker);
        self.bytes += doc_id.len() + word.word.len() + 48;
    }

    /// Rows buffered.
    pub fn len(&self) -> usize {
        self.seq.len()
    }

    /// Whether no rows are buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate memory held by the buffered rows.
    pub fn approx_bytes(&self) -> usize {
        self.bytes
    }

    /// The buffered rows as a batch; the builder is empty afterwards.
    pub fn take_batch(&mut self) -> Result<RecordBatch, ArchiveError> {
        self.bytes = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.doc_id.finish()),
            Arc::new(self.seq.finish()),
            Arc::new(self.word_index.finish()),
            Arc::new(self.start_ms.finish()),
            Arc::new(self.end_ms.finish()),
            Arc::new(self.word.finish()),
            Arc::new(self.confidence.finish()),
            Arc::new(self.speaker.finish()),
        ];
        batch(Table::Words, columns)
    }
}

/// One `documents` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRow {
    /// Document id (path relative to the source folder, without extension).
    pub doc_id: String,
    /// YouTube video id, when known.
    pub video_id: Option<String>,
    /// The file it came from.
    pub source: String,
    /// The format it was read as.
    pub format: String,
    /// Language tag, when known.
    pub language: Option<String>,
    /// Number of segments.
    pub n_segments: i64,
    /// Number of words (see `verbatim_model::words`).
    pub n_words: i64,
    /// End of the last segment in milliseconds.
    pub duration_ms: i64,
    /// Hash of the source file's bytes (hex).
    pub content_hash: String,
    /// When it was ingested, in milliseconds since the Unix epoch.
    pub ingested_at_ms: i64,
    /// Title, channel, publication date and whether the captions were generated, when known.
    pub meta: TranscriptMeta,
    /// The text encoding the file was decoded from.
    pub encoding: String,
    /// Number of timed words (rows in `words`).
    pub n_timed_words: i64,
    /// What normalisation repaired.
    pub repairs: NormaliseStats,
}

/// One `rejects` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectRow {
    /// The file that could not be read.
    pub source: String,
    /// The document id it would have had.
    pub doc_id: Option<String>,
    /// 1-based line of the problem, when known.
    pub line: Option<i64>,
    /// 1-based column of the problem, when known.
    pub column: Option<i64>,
    /// Why it was rejected.
    pub reason: String,
    /// Hash of the file's bytes, when they could be read.
    pub content_hash: Option<String>,
    /// When it was rejected, in milliseconds since the Unix epoch.
    pub rejected_at_ms: i64,
}

/// Builds a `documents` batch from rows.
pub fn documents_batch(rows: &[DocumentRow]) -> Result<RecordBatch, ArchiveError> {
    let mut doc_id = StringBuilder::new();
    let mut video_id = StringBuilder::new();
    let mut source = StringBuilder::new();
    let mut format = StringBuilder::new();
    let mut language = StringBuilder::new();
    let mut n_segments = Int64Builder::new();
    let mut n_words = Int64Builder::new();
    let mut duration_ms = Int64Builder::new();
    let mut content_hash = StringBuilder::new();
    let mut ingested_at = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut title = StringBuilder::new();
    let mut channel = StringBuilder::new();
    let mut published_at = StringBuilder::new();
    let mut is_generated = BooleanBuilder::new();
    let mut encoding = StringBuilder::new();
    let mut counts: [Int64Builder; 5] = Default::default();
    for row in rows {
        title.append_option(row.meta.title.as_deref());
        channel.append_option(row.meta.channel.as_deref());
        published_at.append_option(row.meta.published_at.as_deref());
        is_generated.append_option(row.meta.is_generated);
        encoding.append_value(&row.encoding);
        let repairs = &row.repairs;
        let bad_times = repairs.bad_starts + repairs.bad_durations + repairs.absurd_durations;
        let values =
            [row.n_timed_words as u64, repairs.overlaps_clipped, bad_times, repairs.out_of_order, repairs.empty_texts];
        for (builder, value) in counts.iter_mut().zip(values) {
            builder.append_value(value as i64);
        }
        doc_id.append_value(&row.doc_id);
        video_id.append_option(row.video_id.as_deref());
        source.append_value(&row.source);
        format.append_value(&row.format);
        language.append_option(row.language.as_deref());
        n_segments.append_value(row.n_segments);
        n_words.append_value(row.n_words);
        duration_ms.append_value(row.duration_ms);
        content_hash.append_value(&row.content_hash);
        ingested_at.append_value(row.ingested_at_ms);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(doc_id.finish()),
        Arc::new(video_id.finish()),
        Arc::new(source.finish()),
        Arc::new(format.finish()),
        Arc::new(language.finish()),
        Arc::new(n_segments.finish()),
        Arc::new(n_words.finish()),
        Arc::new(duration_ms.finish()),
        Arc::new(content_hash.finish()),
        Arc::new(ingested_at.finish()),
        Arc::new(title.finish()),
        Arc::new(channel.finish()),
        Arc::new(published_at.finish()),
        Arc::new(is_generated.finish()),
        Arc::new(encoding.finish()),
    ];
    let columns = columns.into_iter().chain(counts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef)).collect();
    batch(Table::Documents, columns)
}

/// Builds a `rejects` batch from rows.
pub fn rejects_batch(rows: &[RejectRow]) -> Result<RecordBatch, ArchiveError> {
    let mut source = StringBuilder::new();
    let mut doc_id = StringBuilder::new();
    let mut line = Int64Builder::new();
    let mut column = Int64Builder::new();
    let mut reason = StringBuilder::new();
    let mut content_hash = StringBuilder::new();
    let mut rejected_at = TimestampMillisecondBuilder::new().with_timezone("UTC");
    for row in rows {
        source.append_value(&row.source);
        doc_id.append_option(row.doc_id.as_deref());
        line.append_option(row.line);
        column.append_option(row.column);
        reason.append_value(&row.reason);
        content_hash.append_option(row.content_hash.as_deref());
        rejected_at.append_value(row.rejected_at_ms);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(source.finish()),
        Arc::new(doc_id.finish()),
        Arc::new(line.finish()),
        Arc::new(column.finish()),
        Arc::new(reason.finish()),
        Arc::new(content_hash.finish()),
        Arc::new(rejected_at.finish()),
    ];
    batch(Table::Rejects, columns)
}

fn batch(table: Table, columns: Vec<ArrayRef>) -> Result<RecordBatch, ArchiveError> {
    RecordBatch::try_new(table.schema(), columns)
        .map_err(|source| ArchiveError::Arrow { table: table.name(), source: Box::new(source) })
}
