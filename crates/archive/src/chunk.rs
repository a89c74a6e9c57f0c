//! Writing one chunk file: zstd Parquet streamed to the object store, with row groups sized by
//! their encoded bytes so that a writer's memory stays within its share of the budget; a
//! `segments` chunk also writes its phrase index when it finishes.
//!
//! A [`ChunkWriter`] is synchronous (it is driven from parsing threads) and blocks on the tokio
//! runtime only for uploads, through a buffered multipart writer.

use std::sync::Arc;

use arrow::array::RecordBatch;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use tokio_util::io::SyncIoBridge;

use crate::phrase_index::{self, PositionsBuilder};
use crate::{Archive, ArchiveError, FileEntry, IndexFile, Table};

/// The zstd level chunks are written with unless told otherwise.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// The size a chunk file is cut at (at the next document boundary) unless told otherwise.
pub const DEFAULT_CHUNK_BYTES: u64 = 128 << 20;

/// How chunk files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSettings {
    /// zstd compression level (1-22).
    pub zstd_level: i32,
    /// A row group is closed when its encoded size reaches this many bytes.
    pub row_group_bytes: usize,
    /// A row group is closed when it reaches this many rows.
    pub row_group_rows: usize,
    /// Bytes buffered before an upload part is sent (also the part size).
    pub upload_buffer_bytes: usize,
    /// Write a phrase index beside each `segments` chunk.
    pub phrase_index: bool,
}

impl Default for ChunkSettings {
    fn default() -> Self {
        ChunkSettings {
            zstd_level: DEFAULT_ZSTD_LEVEL,
            row_group_bytes: 64 << 20,
            row_group_rows: 1 << 20,
            upload_buffer_bytes: 8 << 20,
            phrase_index: true,
        }
    }
}

impl ChunkSettings {
    /// The Parquet writer properties for `table`.
    pub fn writer_properties(&self, table: Table) -> Result<WriterProperties, ArchiveError> {
        let level = ZstdLevel::try_new(self.zstd_level).map_err(ArchiveError::parquet("zstd level"))?;
        let mut builder = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(self.row_group_rows.max(1)))
            .set_max_row_group_bytes(Some(self.row_group_bytes.max(1)))
            .set_statistics_enabled(EnabledStatistics::Page)
            // Small pages: a search reads a few rows of the text, and decodes only their pages.
            .set_data_page_row_count_limit(DATA_PAGE_ROWS)
            .set_created_by(format!("verbatim {}", env!("CARGO_PKG_VERSION")));
        for column in free_text_columns(table) {
            // Free text rarely repeats and its min/max prune nothing: dictionary pages and statistics
            // would cost time and memory for nothing.
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(*column), false)
                .set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::None);
        }
        for column in rising_columns(table) {
            // Positions and times rise along a document: delta coding stores each in a few bits,
            // which leaves zstd little to do, where a dictionary of them would overflow and fall back.
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(*column), false)
                .set_column_encoding(ColumnPath::from(*column), Encoding::DELTA_BINARY_PACKED);
        }
        Ok(builder.build())
    }
}

/// Integer columns that rise along a document (positions and times), delta coded.
fn rising_columns(table: Table) -> &'static [&'static str] {
    match table {
        Table::Segments => &["seq", "start_ms", "end_ms"],
        Table::Words => &["seq", "word_index", "start_ms", "end_ms"],
        Table::Documents | Table::Rejects => &[],
    }
}

/// Rows per data page at most: a search reading a hit's captions decodes about this many texts.
const DATA_PAGE_ROWS: usize = 4096;

fn free_text_columns(table: Table) -> &'static [&'static str] {
    match table {
        Table::Segments => &["text"],
        Table::Documents => &["content_hash", "source", "title"],
        Table::Words => &[],
        Table::Rejects => &["reason"],
    }
}

type Sink = SyncIoBridge<BufWriter>;

/// Writes one Parquet chunk of a table to the object store (and, for `segments`, its phrase index).
pub struct ChunkWriter {
    table: Table,
    relative_path: String,
    writer: ArrowWriter<Sink>,
    rows: u64,
    phrases: Option<PhraseIndexWriter>,
}

/// What a `segments` chunk needs to write its phrase index when it finishes.
struct PhraseIndexWriter {
    positions: PositionsBuilder,
    store: Arc<dyn ObjectStore>,
    object: Path,
    relative_path: String,
    upload_buffer_bytes: usize,
    runtime: tokio::runtime::Handle,
}

impl PhraseIndexWriter {
    /// Uploads the index; returns its entry.
    fn finish(self) -> Result<IndexFile, ArchiveError> {
        let PhraseIndexWriter { positions, store, object, relative_path, upload_buffer_bytes, runtime } = self;
        let upload = BufWriter::with_capacity(store, object, upload_buffer_bytes).with_max_concurrency(2);
        let mut sink = std::io::BufWriter::with_capacity(1 << 20, SyncIoBridge::new_with_handle(upload, runtime));
        let io = |e: std::io::Error| ArchiveError::Parquet { path: relative_path.clone(), source: Box::new(e.into()) };
        let bytes = positions.write_to(&mut sink).map_err(io)?;
        let mut bridge = sink.into_inner().map_err(|e| io(e.into_error()))?;
        bridge.shutdown().map_err(io)?;
        Ok(IndexFile { path: relative_path, bytes })
    }
}

impl std::fmt::Debug for ChunkWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkWriter").field("path", &self.relative_path).field("rows", &self.rows).finish()
    }
}

impl ChunkWriter {
    /// A chunk of `table` at `relative_path` in `archive`; its phrase index (of a `segments`
    /// chunk) goes beside it. Both objects are built from the relative paths, never from each
    /// other's encoded form (which would encode a non-ASCII archive root twice).
    pub(crate) fn create(
        archive: &Archive,
        relative_path: String,
        table: Table,
        settings: &ChunkSettings,
        runtime: tokio::runtime::Handle,
    ) -> Result<ChunkWriter, ArchiveError> {
        let store = archive.store();
        let object = archive.object(&relative_path);
        let upload = BufWriter::with_capacity(store.clone(), object.clone(), settings.upload_buffer_bytes)
            .with_max_concurrency(2);
        let sink = SyncIoBridge::new_with_handle(upload, runtime.clone());
        let properties = settings.writer_properties(table)?;
        let writer = ArrowWriter::try_new(sink, table.schema(), Some(properties))
            .map_err(ArchiveError::parquet(&relative_path))?;
        let phrases = (table == Table::Segments && settings.phrase_index).then(|| {
            let index_relative = phrase_index::index_path(&relative_path);
            PhraseIndexWriter {
                positions: PositionsBuilder::new(),
                store,
                object: archive.object(&index_relative),
                relative_path: index_relative,
                upload_buffer_bytes: settings.upload_buffer_bytes,
                runtime,
            }
        });
        Ok(ChunkWriter { table, relative_path, writer, rows: 0, phrases })
    }

    /// The table this chunk belongs to.
    pub fn table(&self) -> Table {
        self.table
    }

    /// Appends a batch (closing row groups as they reach their size).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArchiveError> {
        self.writer.write(batch).map_err(ArchiveError::parquet(&self.relative_path))?;
        if let Some(phrases) = &mut self.phrases {
            phrases
                .positions
                .add_batch(batch)
                .map_err(|source| ArchiveError::Arrow { table: "segments", source: Box::new(source) })?;
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes of the file so far: flushed plus the estimated size of the open row group.
    pub fn bytes(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Memory held by the open row group.
    pub fn memory(&self) -> usize {
        self.writer.memory_size()
    }

    /// Each document's id and number of words, in order, when the chunk builds a phrase index
    /// (which numbers every word anyway).
    pub fn document_words(&self) -> Option<&[(Box<str>, u64)]> {
        self.phrases.as_ref().map(|p| p.positions.document_words())
    }

    /// Memory held by the phrase index being built (it grows with the chunk, until it finishes).
    pub fn index_memory(&self) -> usize {
        self.phrases.as_ref().map_or(0, |p| p.positions.memory())
    }

    /// Writes the footer and completes the upload; the file is then complete but not yet committed.
    pub fn finish(mut self) -> Result<FileEntry, ArchiveError> {
        let path = self.relative_path;
        self.writer.finish().map_err(ArchiveError::parquet(&path))?;
        let bytes = self.writer.bytes_written() as u64;
        let io = |e: std::io::Error| ArchiveError::Parquet { path: path.clone(), source: Box::new(e.into()) };
        self.writer.sync().map_err(io)?;
        self.writer.inner_mut().shutdown().map_err(io)?;
        let phrase_index = self.phrases.map(PhraseIndexWriter::finish).transpose()?;
        Ok(FileEntry { path, rows: self.rows, bytes, doc_range: None, phrase_index })
    }
}
