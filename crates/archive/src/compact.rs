//! Compaction: rewrites the chunks of an archive written by many runs into chunks of a target size
//! in document order again, so that the query layer can declare the order and per-document
//! queries stream instead of sorting.
//!
//! Every chunk's three files (`segments`, `words`, `documents`, sharing a name) hold consecutive
//! documents in order, and a run's chunks have disjoint ranges: the chunks form a few sorted
//! chains (about one per run since the last compaction). Compaction is a k-way merge of the chains
//! a whole document at a time (a document never spans chunks): it streams one row group per input
//! file and per table, picks the chain whose next document has the smallest id, copies that
//! document's rows, and cuts a new chunk at the first document boundary past the target size.
//! When the chains are more than the memory budget can stream at once, the smallest are merged
//! first into one (an intermediate pass). The commit removes the inputs and adds the outputs in one
//! manifest; readers of the previous snapshot keep its files until vacuum.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use futures::StreamExt;
use parquet::arrow::async_reader::ParquetRecordBatchStream;
use serde::Serialize;

use crate::archive::file_name;
use crate::integrity::read_footer;
use crate::keys::{chains, sorted_runs};
use crate::manifest::{Changes, Manifest};
use crate::store_reader::StoreReader;
use crate::transaction::Operation;
use crate::{Archive, ArchiveError, ArchiveWriter, ChunkFactory, ChunkWriter, DocRange, FileEntry, Table};

/// The tables whose files make up a chunk, in the order they are merged.
const CHUNK_TABLES: [Table; 3] = [Table::Documents, Table::Segments, Table::Words];

/// How a compaction runs.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Target size of an output chunk's `segments` file, in bytes.
    pub target_bytes: u64,
    /// The memory budget: its compaction shares bound how many chains are merged at once, the
    /// output row groups and the output phrase index.
    pub budget: verbatim_model::MemoryBudget,
    /// Write a phrase index beside each output `segments` chunk.
    pub phrase_index: bool,
    /// Where the compaction counts its work as it goes, for a progress display.
    pub progress: Option<Arc<CompactProgress>>,
}

/// A running compaction's work so far.
#[derive(Debug, Default)]
pub struct CompactProgress {
    /// Rows of the chunks being compacted, over all tables.
    pub rows_in: AtomicU64,
    /// Rows written so far, over all tables and merge passes.
    pub rows_written: AtomicU64,
    /// The merge pass running (from 1).
    pub pass: AtomicU64,
}

/// How fragmented an archive is, and whether compaction would help.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Fragmentation {
    /// Chunks (groups of same-named files) with a document range.
    pub chunks: usize,
    /// Chunks without a range (their rows are not known to be in order): left as they are.
    pub unordered_chunks: usize,
    /// Sorted chains among the ranged chunks: 1 when the archive is in document order.
    pub sorted_runs: usize,
    /// Chunks whose `segments` file is smaller than half the target size.
    pub small_chunks: usize,
}

impl Fragmentation {
    /// Whether compaction would restore document order (more than one sorted run).
    pub fn overlaps(&self) -> bool {
        self.sorted_runs > 1
    }

    /// Whether compaction would change anything: overlapping runs, or several small chunks.
    pub fn worth_compacting(&self) -> bool {
        self.overlaps() || self.small_chunks > 1
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    /// The archive's state before.
    pub before: Fragmentation,
    /// Files read (all tables).
    pub files_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Files written (all tables).
    pub files_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Rows copied, over all tables.
    pub rows: u64,
    /// Merge passes (more than one when the chains did not fit the budget at once).
    pub passes: u64,
    /// The version committed, or `None` when there was nothing to do.
    pub version: Option<u64>,
    /// Wall time.
    pub elapsed: Duration,
}

/// A chunk: the files of one name in the three tables, with its document range.
#[derive(Debug, Clone)]
struct Chunk {
    range: DocRange,
    files: Vec<(Table, FileEntry)>,
}

impl Chunk {
    fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, f)| f.bytes).sum()
    }

    fn file(&self, table: Table) -> Option<&FileEntry> {
        self.files.iter().find(|(t, _)| *t == table).map(|(_, f)| f)
    }
}

/// The chunks of `manifest` (grouped by file name) with their ranges, and the number of chunks
/// without a range.
fn chunks_of(manifest: &Manifest) -> (Vec<Chunk>, usize) {
    let mut by_name: HashMap<&str, Vec<(Table, FileEntry)>> = HashMap::new();
    for table in CHUNK_TABLES {
        for entry in manifest.files(table) {
            by_name.entry(file_name(&entry.path)).or_default().push((table, entry.clone()));
        }
    }
    let (mut chunks, mut unordered) = (Vec::new(), 0);
    for (_, files) in by_name {
        let range = files.iter().find(|(t, _)| *t == Table::Documents).and_then(|(_, f)| f.doc_range.clone());
        let complete = files.iter().any(|(t, _)| *t == Table::Documents);
        match range.filter(|_| complete) {
            Some(range) => chunks.push(Chunk { range, files }),
            None => unordered += 1,
        }
    }
    (chunks, unordered)
}

/// How fragmented `manifest` is, for chunks of `target_bytes`.
pub fn fragmentation(manifest: &Manifest, target_bytes: u64) -> Fragmentation {
    let (chunks, unordered_chunks) = chunks_of(manifest);
    let small = |c: &&Chunk| c.file(Table::Segments).is_none_or(|f| f.bytes < target_bytes / 2);
    Fragmentation {
        chunks: chunks.len(),
        unordered_chunks,
        sorted_runs: sorted_runs(chunks.iter().map(|c| &c.range)),
        small_chunks: chunks.iter().filter(small).count(),
    }
}

impl Archive {
    /// Takes the lock and compacts (see [`ArchiveWriter::compact`]).
    pub async fn compact(&self, options: &CompactOptions) -> Result<CompactReport, ArchiveError> {
        let mut writer = self.begin_writing(Operation::Compact).await?;
        let result = writer.compact(options).await;
        writer.close(result).await
    }
}

impl ArchiveWriter {
    /// Merges the snapshot's ordered chunks into target-size chunks in document order and commits
    /// the result (inputs removed, outputs added) in one manifest. Does nothing when the archive
    /// is already in order with no more than one small chunk.
    pub async fn compact(&mut self, options: &CompactOptions) -> Result<CompactReport, ArchiveError> {
        let started = Instant::now();
        let before = fragmentation(self.manifest(), options.target_bytes);
        let mut report = CompactReport { before: before.clone(), ..CompactReport::default() };
        if !before.worth_compacting() {
            report.elapsed = started.elapsed();
            return Ok(report);
        }
        let (chunks, _) = chunks_of(self.manifest());
        let inputs: Vec<(Table, FileEntry)> = chunks.iter().flat_map(|c| c.files.clone()).collect();
        report.files_in = inputs.len() as u64;
        report.bytes_in = inputs.iter().map(|(_, f)| f.bytes).sum();
        if let Some(progress) = &options.progress {
            progress.rows_in.store(inputs.iter().map(|(_, f)| f.rows).sum(), Ordering::Relaxed);
        }
        let fan_in = self.fan_in(&inputs, options).await?;
        let settings = crate::ChunkSettings {
            row_group_bytes: options.budget.compaction().output_row_group as usize,
            phrase_index: options.phrase_index,
            ..crate::ChunkSettings::default()
        };
        let factory = self.chunk_factory(settings, tokio::runtime::Handle::current());
        let mut chains = chains(chunks, |chunk: &Chunk| &chunk.range);
        let mut intermediate: Vec<String> = Vec::new();
        let mut pass = 0u64;
        let outputs = loop {
            pass += 1;
            // Merge the smallest chains first while there are more than fit at once.
            chains.sort_by_key(|chain| std::cmp::Reverse(chain.iter().map(Chunk::bytes).sum::<u64>()));
            let take = chains.len().min(fan_in);
            let merging: Vec<Vec<Chunk>> = chains.split_off(chains.len() - take);
            let (factory, target, progress) = (factory.clone(), ChunkLimits::of(options), options.progress.clone());
            if let Some(progress) = &progress {
                progress.pass.store(pass, Ordering::Relaxed);
            }
            let (merged, rows) = tokio::task::spawn_blocking(move || {
                merge(&factory, merging, target, &format!("compact-{pass:02}"), progress)
            })
            .await
            .map_err(|source| ArchiveError::Task { what: "a compaction merge", source })??;
            report.rows = rows;
            if chains.is_empty() {
                break merged;
            }
            intermediate.extend(
                merged.iter().flat_map(|c| c.files.iter().flat_map(|(_, f)| f.objects().map(|(p, _)| p.to_string()))),
            );
            chains.push(merged);
        };
        report.passes = pass;
        let added: Vec<(Table, FileEntry)> = outputs.into_iter().flat_map(|c| c.files).collect();
        // Every row in comes out once, per table; otherwise nothing is committed.
        for table in CHUNK_TABLES {
            let rows = |files: &[(Table, FileEntry)]| -> u64 {
                files.iter().filter(|(t, _)| *t == table).map(|(_, f)| f.rows).sum()
            };
            let (rows_in, rows_out) = (rows(&inputs), rows(&added));
            if rows_in != rows_out {
                return Err(ArchiveError::Corrupt {
                    path: self.archive().show(table.name()),
                    reason: format!(
                        "compaction read {rows_in} rows but wrote {rows_out} (a chunk's tables disagree on its documents); nothing was committed"
                    ),
                });
            }
        }
        report.files_out = added.len() as u64;
        report.bytes_out = added.iter().map(|(_, f)| f.bytes).sum();
        let changes =
            Changes { added, removed: inputs.into_iter().map(|(_, f)| f.path).collect(), removed_documents: 0 };
        report.version = self.commit_as(Operation::Compact, changes).await?.version;
        self.delete_files(&intermediate).await?;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// How many chains can be merged at once within the budget: each holds a row group per table
    /// (compressed, and decoded in batches), and the output holds one row group per table.
    async fn fan_in(&self, inputs: &[(Table, FileEntry)], options: &CompactOptions) -> Result<usize, ArchiveError> {
        let store = self.archive().store();
        let mut largest: HashMap<Table, u64> = HashMap::new();
        for (table, entry) in inputs {
            let object = self.archive().object(&entry.path);
            let (builder, _) = read_footer(&store, &object, *table, entry.bytes).await.map_err(|damage| {
                ArchiveError::FileDamaged { path: self.archive().show(&entry.path), source: damage }
            })?;
            let row_group = builder.metadata().row_groups().iter().map(|g| g.compressed_size().max(0) as u64).max();
            let slot = largest.entry(*table).or_default();
            *slot = (*slot).max(row_group.unwrap_or(0));
        }
        // A stream holds its row group's compressed column chunks and the batch being decoded.
        let per_chain: u64 = largest.values().map(|bytes| 2 * bytes + (1 << 20)).sum::<u64>().max(1);
        Ok(((options.budget.compaction().merge_inputs / per_chain) as usize).max(2))
    }

    /// Deletes files this run wrote and no longer needs.
    async fn delete_files(&self, paths: &[String]) -> Result<(), ArchiveError> {
        for path in paths {
            self.archive().delete_object(&self.archive().object(path)).await?;
        }
        Ok(())
    }
}

/// When an output chunk is cut.
#[derive(Debug, Clone, Copy)]
struct ChunkLimits {
    /// Size of the `segments` file.
    bytes: u64,
    /// Memory of its phrase index being built.
    index_bytes: u64,
}

impl ChunkLimits {
    fn of(options: &CompactOptions) -> ChunkLimits {
        ChunkLimits { bytes: options.target_bytes, index_bytes: options.budget.compaction().phrase_index }
    }
}

/// Merges `chains` into new chunks named `<run>-<prefix>-<n>`; returns them in order and the rows
/// copied. Blocks on the store: run it on a blocking thread.
fn merge(
    factory: &ChunkFactory,
    chains: Vec<Vec<Chunk>>,
    limits: ChunkLimits,
    prefix: &str,
    progress: Option<Arc<CompactProgress>>,
) -> Result<(Vec<Chunk>, u64), ArchiveError> {
    let mut heads: Vec<ChainReader> = chains.into_iter().map(|chain| ChainReader::new(factory, chain)).collect();
    let mut output = OutputChunks::new(factory, limits, prefix, progress);
    loop {
        let mut smallest: Option<(usize, String)> = None;
        for (index, head) in heads.iter_mut().enumerate() {
            if let Some(id) = head.cursor(Table::Documents).peek_id()?
                && smallest.as_ref().is_none_or(|(_, best)| id.as_str() < best.as_str())
            {
                smallest = Some((index, id));
            }
        }
        let Some((index, doc_id)) = smallest else { break };
        for table in CHUNK_TABLES {
            let rows = heads[index].cursor(table).take_document(&doc_id)?;
            output.add(table, rows)?;
        }
        output.document_done(&doc_id)?;
    }
    output.finish()
}

/// The three table cursors over one chain.
struct ChainReader {
    cursors: Vec<(Table, Cursor)>,
}

impl ChainReader {
    fn new(factory: &ChunkFactory, chain: Vec<Chunk>) -> ChainReader {
        let cursors = CHUNK_TABLES
            .into_iter()
            .map(|table| {
                let files: VecDeque<FileEntry> = chain.iter().filter_map(|c| c.file(table).cloned()).collect();
                (table, Cursor { factory: factory.clone(), table, files, stream: None, batch: None, offset: 0 })
            })
            .collect();
        ChainReader { cursors }
    }

    fn cursor(&mut self, table: Table) -> &mut Cursor {
        &mut self.cursors.iter_mut().find(|(t, _)| *t == table).expect("every chunk table has a cursor").1
    }
}

/// Reads one table's files of a chain in order, a batch at a time.
struct Cursor {
    factory: ChunkFactory,
    table: Table,
    files: VecDeque<FileEntry>,
    stream: Option<ParquetRecordBatchStream<StoreReader>>,
    batch: Option<RecordBatch>,
    offset: usize,
}

impl Cursor {
    /// Makes sure a batch with rows left is loaded; false at the end of the chain.
    fn fill(&mut self) -> Result<bool, ArchiveError> {
        loop {
            if self.batch.as_ref().is_some_and(|b| self.offset < b.num_rows()) {
                return Ok(true);
            }
            self.batch = None;
            self.offset = 0;
            if let Some(stream) = &mut self.stream {
                match self.factory.runtime.block_on(stream.next()) {
                    Some(batch) => {
                        self.batch = Some(batch.map_err(ArchiveError::parquet(self.table.name()))?);
                        continue;
                    }
                    None => self.stream = None,
                }
            }
            let Some(file) = self.files.pop_front() else { return Ok(false) };
            let archive = &self.factory.archive;
            let (store, object, shown) = (archive.store(), archive.object(&file.path), archive.show(&file.path));
            let (builder, _) = self
                .factory
                .runtime
                .block_on(read_footer(&store, &object, self.table, file.bytes))
                .map_err(|source| ArchiveError::FileDamaged { path: shown.clone(), source })?;
            self.stream = Some(builder.build().map_err(ArchiveError::parquet(&shown))?);
        }
    }

    /// The id of the next row's document, if there is a next row.
    fn peek_id(&mut self) -> Result<Option<String>, ArchiveError> {
        if !self.fill()? {
            return Ok(None);
        }
        let batch = self.batch.as_ref().expect("filled");
        Ok(Some(batch.column(0).as_string::<i32>().value(self.offset).to_string()))
    }

    /// The rows of `doc_id` at the cursor (none if the next row is another document's).
    fn take_document(&mut self, doc_id: &str) -> Result<Vec<RecordBatch>, ArchiveError> {
        let mut rows = Vec::new();
        while self.fill()? {
            let batch = self.batch.as_ref().expect("filled");
            let ids = batch.column(0).as_string::<i32>();
            let mut end = self.offset;
            while end < batch.num_rows() && ids.value(end) == doc_id {
                end += 1;
            }
            if end > self.offset {
                rows.push(batch.slice(self.offset, end - self.offset));
            }
            let reached_end = end == batch.num_rows();
            self.offset = end;
            if !reached_end {
                break;
            }
        }
        Ok(rows)
    }
}

/// The chunks being written: rows buffered per table and written in batches, cut at a document
/// boundary once the `segments` file passes the target size.
struct OutputChunks<'a> {
    factory: &'a ChunkFactory,
    limits: ChunkLimits,
    prefix: String,
    writers: Vec<(Table, Option<ChunkWriter>, Vec<RecordBatch>, usize)>,
    range: Option<DocRange>,
    done: Vec<Chunk>,
    rows: u64,
    progress: Option<Arc<CompactProgress>>,
}

/// Rows buffered per table before they are handed to the writer.
const BUFFERED_ROWS: usize = 8192;

impl<'a> OutputChunks<'a> {
    fn new(
        factory: &'a ChunkFactory,
        limits: ChunkLimits,
        prefix: &str,
        progress: Option<Arc<CompactProgress>>,
    ) -> OutputChunks<'a> {
        let writers = CHUNK_TABLES.into_iter().map(|t| (t, None, Vec::new(), 0)).collect();
        let prefix = prefix.to_string();
        OutputChunks { factory, limits, prefix, writers, range: None, done: Vec::new(), rows: 0, progress }
    }

    fn name(&self) -> String {
        format!("{}-{:06}", self.prefix, self.done.len())
    }

    fn add(&mut self, table: Table, rows: Vec<RecordBatch>) -> Result<(), ArchiveError> {
        let name = self.name();
        let (_, writer, buffer, buffered) = self.writers.iter_mut().find(|(t, ..)| *t == table).expect("chunk table");
        for batch in rows {
            *buffered += batch.num_rows();
            self.rows += batch.num_rows() as u64;
            if let Some(progress) = &self.progress {
                progress.rows_written.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            }
            buffer.push(batch);
        }
        if *buffered >= BUFFERED_ROWS {
            flush(self.factory, table, &name, writer, buffer, buffered)?;
        }
        Ok(())
    }

    fn document_done(&mut self, doc_id: &str) -> Result<(), ArchiveError> {
        match &mut self.range {
            None => self.range = Some(DocRange { first: doc_id.to_string(), last: doc_id.to_string() }),
            Some(range) => range.last = doc_id.to_string(),
        }
        let segments = self.writers.iter().find(|(t, ..)| *t == Table::Segments).and_then(|(_, w, ..)| w.as_ref());
        let (bytes, index_bytes) = segments.map_or((0, 0), |w| (w.bytes(), w.index_memory() as u64));
        if bytes >= self.limits.bytes || index_bytes >= self.limits.index_bytes {
            self.close_chunk()?;
        }
        Ok(())
    }

    fn close_chunk(&mut self) -> Result<(), ArchiveError> {
        let Some(range) = self.range.take() else { return Ok(()) };
        let name = self.name();
        let mut files = Vec::new();
        for (table, writer, buffer, buffered) in &mut self.writers {
            flush(self.factory, *table, &name, writer, buffer, buffered)?;
            if let Some(writer) = writer.take() {
                let mut entry = writer.finish()?;
                entry.doc_range = Some(range.clone());
                files.push((*table, entry));
            }
        }
        self.done.push(Chunk { range, files });
        Ok(())
    }

    fn finish(mut self) -> Result<(Vec<Chunk>, u64), ArchiveError> {
        self.close_chunk()?;
        Ok((self.done, self.rows))
    }
}

/// Writes the buffered rows of `table` to its writer (opened as chunk `name` on first use).
fn flush(
    factory: &ChunkFactory,
    table: Table,
    name: &str,
    writer: &mut Option<ChunkWriter>,
    buffer: &mut Vec<RecordBatch>,
    buffered: &mut usize,
) -> Result<(), ArchiveError> {
    if buffer.is_empty() {
        return Ok(());
    }
    let batch = arrow::compute::concat_batches(&table.schema(), buffer.iter())
        .map_err(|e| ArchiveError::Arrow { table: table.name(), source: Box::new(e) })?;
    buffer.clear();
    *buffered = 0;
    if writer.is_none() {
        *writer = Some(factory.create(table, name)?);
    }
    writer.as_mut().expect("opened above").write(&batch)
}
