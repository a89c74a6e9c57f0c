//! Ingest settings, sized from the memory budget's ingest shares (`verbatim_model::budget`) so
//! that peak memory stays within it whatever the corpus size: each worker gets an equal share for
//! its file, its row batch, its open row group and the phrase index of its open chunk.

use verbatim_archive::ChunkSettings;
use verbatim_model::MemoryBudget;

/// How an ingestion run is carried out.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestOptions {
    /// Parsing threads (each also encodes its own chunks).
    pub workers: usize,
    /// The memory budget the run is sized for.
    pub budget: MemoryBudget,
    /// Target size of a chunk file in bytes (closed at the first file boundary past it).
    pub chunk_bytes: u64,
    /// Target encoded size of a row group in bytes.
    pub row_group_bytes: u64,
    /// Rows are handed to the Parquet writer in batches of about this many bytes.
    pub batch_bytes: u64,
    /// Files larger than this are rejected rather than risk the budget.
    pub max_file_bytes: u64,
    /// Write a phrase index beside each `segments` chunk.
    pub phrase_index: bool,
    /// A chunk is closed at the next file boundary once its phrase index takes this much memory.
    pub phrase_index_bytes: u64,
    /// zstd level of the chunks.
    pub zstd_level: i32,
    /// Read every file as this format instead of judging by name and content.
    pub input_format: Option<verbatim_formats::Format>,
    /// Strictness and encoding for reading files.
    pub read: verbatim_formats::ReadOptions,
    /// Bytes of archived document keys kept in memory to tell new, changed and unchanged
    /// documents apart (see `verbatim_archive::DocumentIndex`).
    pub index_cache_bytes: u64,
    /// Remove archived documents whose source is under one of these roots (folders, files or
    /// globs, as given on the command line) but was not found in this run. Empty: remove nothing.
    pub prune_under: Vec<String>,
    /// The most archived documents pruning may remove in one run; when more have vanished, the
    /// run removes none of them (an unmounted folder looks exactly like deleted sources).
    pub max_prune: MaxDelete,
    /// Commit at most this often during the run (a long backfill), rather than once at its end.
    pub commit_every: Option<std::time::Duration>,
    /// After the run, compact when the archive has at least this many overlapping sorted runs
    /// (1: whenever compaction would change anything).
    pub compact_at_runs: Option<usize>,
    /// After the run, vacuum with this retention (see `ArchiveWriter::vacuum`); `None`: do not.
    pub vacuum: Option<std::time::Duration>,
}

impl IngestOptions {
    /// Options for `workers` threads within `budget`, with `chunk_bytes` chunks.
    pub fn new(workers: usize, budget: MemoryBudget, chunk_bytes: u64) -> IngestOptions {
        let workers = workers.max(1);
        let shares = budget.ingest(workers);
        IngestOptions {
            workers,
            budget,
            chunk_bytes: chunk_bytes.max(1),
            row_group_bytes: shares.worker.row_group,
            batch_bytes: shares.worker.batch,
            max_file_bytes: shares.worker.file,
            phrase_index: true,
            phrase_index_bytes: shares.worker.phrase_index,
            zstd_level: verbatim_archive::DEFAULT_ZSTD_LEVEL,
            input_format: None,
            read: verbatim_formats::ReadOptions::default(),
            index_cache_bytes: shares.document_keys,
            prune_under: Vec::new(),
            max_prune: MaxDelete::DEFAULT,
            commit_every: None,
            vacuum: None,
            compact_at_runs: None,
        }
    }

    /// The chunk writer settings these options imply.
    pub fn chunk_settings(&self) -> ChunkSettings {
        ChunkSettings {
            zstd_level: self.zstd_level,
            row_group_bytes: self.row_group_bytes as usize,
            upload_buffer_bytes: self.budget.ingest(self.workers).worker.upload_buffer as usize,
            phrase_index: self.phrase_index,
            ..ChunkSettings::default()
        }
    }
}

/// The share of an archive's documents one pruning run may remove by default, in percent.
pub const DEFAULT_MAX_DELETE_PERCENT: f64 = 10.0;

/// The most archived documents one pruning run may remove (as rsync's `--max-delete`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDelete {
    /// At most this many.
    Count(u64),
    /// At most this share of the archive's documents, in percent (rounded up: a run may always
    /// remove one document of a non-empty archive).
    Percent(f64),
}

impl MaxDelete {
    /// [`DEFAULT_MAX_DELETE_PERCENT`] of the archive.
    pub const DEFAULT: MaxDelete = MaxDelete::Percent(DEFAULT_MAX_DELETE_PERCENT);

    /// The most documents a run may remove from an archive of `documents`.
    pub fn of(self, documents: u64) -> u64 {
        match self {
            MaxDelete::Count(count) => count,
            MaxDelete::Percent(percent) => (documents as f64 * percent / 100.0).ceil() as u64,
        }
    }
}

impl std::fmt::Display for MaxDelete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxDelete::Count(count) => write!(f, "{count}"),
            MaxDelete::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}
