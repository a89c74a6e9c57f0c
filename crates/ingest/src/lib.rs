//! Ingestion: parses transcript files in parallel and writes them into an archive as Parquet
//! chunks, committing as chunks complete.
//!
//! Design (memory is O(workers), never O(corpus)):
//!
//! ```text
//! files sorted by doc id, cut into shards
//!       ──(shared shard cursor)──▶ worker 0..N: read → hash → parse → normalise → rows → ChunkWriter
//!                                   │ finished chunks, rejects, counts (bounded channel)
//!                                   ▼
//!                              committer: writes rejects, publishes manifests, reports progress
//! ```
//!
//! Each worker owns its chunk writers, so parsing and Parquet encoding of different files run on
//! all cores without copying rows between threads. A chunk closes only between files, so a
//! committed chunk never holds part of a document; nor does it span two shards, so each `segments`
//! chunk holds consecutive documents sorted by `(doc_id, seq)` and records their id range in the
//! manifest, which lets queries scan documents in order without sorting. A kill before a commit loses only uncommitted
//! chunks; running the same command again skips the documents already committed (by content hash).

mod budget;
mod worker;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use verbatim_archive::rows::RejectRow;
use verbatim_archive::{Archive, ArchiveError, ArchiveWriter, Changes, ChunkWriter, FileEntry, Table};
use verbatim_sources::SourceFile;

pub use budget::{DEFAULT_MAX_DELETE_PERCENT, IngestOptions, MaxDelete};
use worker::{Event, Worker};

/// Ingestion failed as a whole (bad input files never cause this; they are rejects).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The archive could not be written.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A worker thread could not be started.
    #[error("cannot start an ingest worker thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// A worker thread panicked outside the guarded reading of a file (a bug).
    #[error("an ingest worker panicked: {0}")]
    WorkerPanicked(String),
    /// A task of the run on another thread failed.
    #[error("{what} failed: {source}")]
    Task {
        /// What the task was doing.
        what: &'static str,
        /// Why it ended.
        source: tokio::task::JoinError,
    },
}

/// Receives progress as ingestion goes; every method has a no-op default.
pub trait Progress: Send + Sync {
    /// Work is about to start on `files` files of `bytes` bytes in total.
    fn begin(&self, _files: usize, _bytes: u64) {}
    /// `files` more files of `bytes` bytes were handled (ingested, unchanged or rejected), adding
    /// `segments` segments. Workers report in batches, so calls come a few times a second.
    fn files_done(&self, _files: u64, _bytes: u64, _segments: u64) {}
    /// A file was rejected.
    fn rejected(&self, _reject: &RejectRow) {}
    /// A snapshot was committed.
    fn committed(&self, _version: u64, _documents: u64) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// What an ingestion run did.
#[derive(Debug, Default, Clone)]
pub struct IngestReport {
    /// The run id (also in the chunk names and the manifest).
    pub run_id: String,
    /// Files looked at.
    pub files: u64,
    /// Bytes of the files looked at.
    pub bytes: u64,
    /// Files whose documents were added.
    pub files_ingested: u64,
    /// Of those, files that replaced archived documents (their content changed).
    pub files_changed: u64,
    /// Files already in the archive with the same content.
    pub files_unchanged: u64,
    /// Files that could not be ingested.
    pub files_rejected: u64,
    /// The first rejects of the run (at most [`REJECTS_KEPT`]); all are in the `rejects` table.
    pub rejects: Vec<RejectRow>,
    /// Documents added (new or new versions).
    pub documents: u64,
    /// Segments added.
    pub segments: u64,
    /// Archived documents replaced by a new version.
    pub documents_replaced: u64,
    /// Archived documents removed because their source is gone (`--prune`).
    pub documents_pruned: u64,
    /// Pruning that was refused because it would have removed more documents than allowed.
    pub prune_refused: Option<PruneRefusal>,
    /// Rows removed from the archive's tables with replaced and pruned documents.
    pub rows_removed: u64,
    /// Documents a killed run had finished, committed by this run instead of redone.
    pub documents_resumed: u64,
    /// Snapshot version before the run.
    pub version_before: u64,
    /// Snapshot version after the run.
    pub version: u64,
    /// Commits the run made.
    pub commits: u64,
    /// What the compaction after the run did, when it ran.
    pub compaction: Option<verbatim_archive::CompactReport>,
    /// What the vacuum after the run deleted, when it ran.
    pub vacuum: Option<verbatim_archive::VacuumReport>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Pruning held back: more archived documents had vanished from under the sources than one run
/// may remove ([`IngestOptions::max_prune`]), so none were removed.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneRefusal {
    /// Documents whose sources were not found.
    pub vanished: u64,
    /// Documents in the archive before the run.
    pub documents: u64,
    /// The limit that was exceeded.
    pub max_prune: MaxDelete,
}

/// How many rejects an [`IngestReport`] keeps (the count covers all).
pub const REJECTS_KEPT: usize = 100;

/// Ingests `files` into `archive`. Bad files become rejects; only archive failures are errors.
/// The run's work becomes visible in one commit at its end (or every `commit_every`).
pub async fn ingest(
    archive: &Archive,
    files: Vec<SourceFile>,
    options: &IngestOptions,
    progress: Arc<dyn Progress>,
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let mut writer = archive.begin_writing(verbatim_archive::Operation::Ingest).await?;
    let mut result = run(&mut writer, files, options, progress, started).await;
    if let (Ok(report), Some(runs)) = (&mut result, options.compact_at_runs) {
        let compact = verbatim_archive::CompactOptions {
            target_bytes: options.chunk_bytes,
            budget: options.budget,
            phrase_index: options.phrase_index,
            progress: None,
        };
        let fragmentation = verbatim_archive::fragmentation(writer.manifest(), options.chunk_bytes);
        // At most one run: whenever compaction would change anything (`--compact always`).
        let due = if runs <= 1 { fragmentation.worth_compacting() } else { fragmentation.sorted_runs >= runs };
        if due {
            match writer.compact(&compact).await {
                Ok(compacted) => {
                    report.version = compacted.version.unwrap_or(report.version);
                    report.compaction = Some(compacted);
                }
                Err(e) => result = Err(e.into()),
            }
        }
    }
    if let (Ok(report), Some(retention)) = (&mut result, options.vacuum) {
        match writer.vacuum(retention).await {
            Ok(vacuumed) => report.vacuum = Some(vacuumed),
            Err(e) => result = Err(e.into()),
        }
    }
    // A failed run may have written chunks it did not commit: keep its run record so that the
    // next writer adopts or removes them.
    let finished = if result.is_ok() { writer.finish().await } else { writer.abandon().await };
    let mut report = result?;
    finished?;
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn run(
    writer: &mut ArchiveWriter,
    files: Vec<SourceFile>,
    options: &IngestOptions,
    progress: Arc<dyn Progress>,
    started: Instant,
) -> Result<IngestReport, IngestError> {
    let source_ids: HashSet<String> = files.iter().map(|f| f.doc_id.clone()).collect();
    let sources: HashSet<String> = files.iter().map(|f| f.path.to_string_lossy().into_owned()).collect();
    let known = Arc::new(writer.document_index(&source_ids, options.index_cache_bytes as usize).await?);
    drop(source_ids);
    let known_rejects = writer.reject_keys(&sources).await?;
    let mut report = IngestReport {
        run_id: writer.run_id().to_string(),
        files: files.len() as u64,
        bytes: files.iter().map(|f| f.size).sum(),
        version_before: writer.manifest().version,
        version: writer.manifest().version,
        ..IngestReport::default()
    };
    progress.begin(files.len(), report.bytes);

    let workers = options.workers.min(files.len()).max(1);
    let (events, inbox) = mpsc::channel(2 * workers);
    // Sorted by document id and cut into consecutive shards, so that every chunk holds a run of
    // consecutive documents in order (readers then scan documents without sorting them).
    let mut files = files;
    files.sort_by(|a, b| a.doc_id.cmp(&b.doc_id));
    let shards = worker::plan_shards(&files, workers);
    let factory = writer.chunk_factory(options.chunk_settings(), tokio::runtime::Handle::current());
    let shared = Arc::new(worker::Shared {
        files,
        shards,
        next_shard: AtomicUsize::new(0),
        known,
        claims: Mutex::new(Default::default()),
        cancelled: AtomicBool::new(false),
        ingested_at_ms: chrono::Utc::now().timestamp_millis(),
        factory,
        options: options.clone(),
        runtime: tokio::runtime::Handle::current(),
    });
    let mut threads = Vec::with_capacity(workers);
    for id in 0..workers {
        let worker = Worker::new(shared.clone(), events.clone());
        let thread = std::thread::Builder::new()
            .name(format!("verbatim-ingest-{id}"))
            .spawn(move || worker.run())
            .map_err(IngestError::Spawn)?;
        threads.push(thread);
    }
    drop(events);
    let mut workers = Workers { shared: shared.clone(), threads, inbox };

    let releaser = CacheReleaser::start(writer.archive().clone());
    let mut committer = Committer::new(known_rejects, shared.factory.clone(), releaser);
    committer.adopt(writer, &mut report);
    let absorbed = async {
        let mut last_commit = Instant::now();
        while let Some(event) = workers.inbox.recv().await {
            committer.absorb(event, writer, &mut report, progress.as_ref()).await?;
            let due = options.commit_every.is_some_and(|every| last_commit.elapsed() >= every);
            if due && committer.has_work(writer) {
                committer.commit(writer, &mut report, progress.as_ref()).await?;
                last_commit = Instant::now();
            }
        }
        Ok::<(), IngestError>(())
    }
    .await;
    if absorbed.is_err() {
        shared.cancelled.store(true, Ordering::Relaxed);
    }
    // Every worker has stopped (their senders are gone, or they see the cancellation). Only a run
    // whose workers all finished commits at its end: a worker that failed left its files neither
    // ingested nor rejected, and committing the others' work would look like a whole run.
    let worker_failure = workers.join();
    let outcome = match (absorbed, worker_failure) {
        (Err(e), _) | (Ok(()), Some(e)) => Err(e),
        (Ok(()), None) => committer.close(writer, options, &sources, &mut report, progress.as_ref()).await,
    };
    committer.releaser.finish();
    outcome?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// A run's worker threads and what they send. A run whose future is dropped (Ctrl-C in Python, a
/// cancelled task) stops its workers and waits for them: none may write a chunk file after the
/// run has let go of the archive's lock, where the next writer would find it unexplained.
struct Workers {
    shared: Arc<worker::Shared>,
    threads: Vec<std::thread::JoinHandle<Result<(), ArchiveError>>>,
    inbox: mpsc::Receiver<worker::Event>,
}

impl Workers {
    /// Closes the inbox and waits for the workers to end; the first failure among them.
    fn join(&mut self) -> Option<IngestError> {
        self.inbox.close();
        join_workers(std::mem::take(&mut self.threads))
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shared.cancelled.store(true, Ordering::Relaxed);
            // Closed first: a worker waiting to send would otherwise never see the cancellation.
            self.join();
        }
    }
}

/// Waits for the worker threads to end; the first failure among them.
fn join_workers(threads: Vec<std::thread::JoinHandle<Result<(), ArchiveError>>>) -> Option<IngestError> {
    let mut failure = None;
    for thread in threads {
        let failed = match thread.join() {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(IngestError::Archive(e)),
            Err(panic) => Some(IngestError::WorkerPanicked(worker::panic_message(panic.as_ref()))),
        };
        failure = failure.or(failed);
    }
    failure
}

/// Drops committed chunks from the page cache on a thread of its own (see
/// [`Archive::release_page_cache`]): ingest never reads them again, and the sources still to be
/// read keep their place in the cache. The committer only hands over paths, so it never waits
/// for the disk.
struct CacheReleaser {
    paths: Option<std::sync::mpsc::Sender<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CacheReleaser {
    fn start(archive: Archive) -> CacheReleaser {
        let (paths, inbox) = std::sync::mpsc::channel::<String>();
        let thread = std::thread::Builder::new()
            .name("verbatim-cache-release".into())
            .spawn(move || inbox.iter().for_each(|path| archive.release_page_cache(&path)))
            .ok();
        CacheReleaser { paths: thread.as_ref().map(|_| paths), thread }
    }

    fn release(&self, path: &str) {
        if let Some(paths) = &self.paths {
            let _ = paths.send(path.to_string());
        }
    }

    /// Waits until every file handed over is released.
    fn finish(&mut self) {
        self.paths = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Collects finished chunks and rejects, marks the documents they replace for removal, and commits
/// them as one snapshot.
struct Committer {
    known_rejects: verbatim_archive::RejectKeys,
    factory: verbatim_archive::ChunkFactory,
    releaser: CacheReleaser,
    pending_files: Vec<(Table, FileEntry)>,
    pending_documents: u64,
    pending_segments: u64,
    pending_rejects: Vec<RejectRow>,
    /// Documents marked for removal since the last commit: replaced by new versions, and pruned.
    pending_replaced: u64,
    pending_pruned: u64,
    rejects_written: u64,
}

impl Committer {
    fn new(
        known_rejects: verbatim_archive::RejectKeys,
        factory: verbatim_archive::ChunkFactory,
        releaser: CacheReleaser,
    ) -> Self {
        Committer {
            known_rejects,
            factory,
            releaser,
            pending_files: Vec::new(),
            pending_documents: 0,
            pending_segments: 0,
            pending_rejects: Vec::new(),
            pending_replaced: 0,
            pending_pruned: 0,
            rejects_written: 0,
        }
    }

    /// Takes over the chunks a killed run staged: they are committed with this run's work.
    fn adopt(&mut self, writer: &ArchiveWriter, report: &mut IngestReport) {
        for (table, entry) in writer.adopted() {
            if *table == Table::Documents {
                report.documents_resumed += entry.rows;
                self.pending_documents += entry.rows;
            }
            if *table == Table::Segments {
                self.pending_segments += entry.rows;
            }
            self.pending_files.push((*table, entry.clone()));
        }
    }

    fn has_work(&self, writer: &ArchiveWriter) -> bool {
        !self.pending_files.is_empty() || writer.has_removals()
    }

    /// Takes in a worker's event: chunks are staged (with the documents they replace marked for
    /// removal), files counted, rejects kept for the next commit.
    async fn absorb(
        &mut self,
        event: Event,
        writer: &mut ArchiveWriter,
        report: &mut IngestReport,
        progress: &dyn Progress,
    ) -> Result<(), IngestError> {
        match event {
            Event::Chunk { files, documents, segments, replaced } => {
                let replaces = !replaced.is_empty();
                self.pending_files.extend(files.iter().cloned());
                self.pending_documents += documents;
                self.pending_segments += segments;
                self.pending_replaced += replaced.len() as u64;
                for (doc_id, documents_file) in replaced {
                    writer.remove_document(documents_file, doc_id);
                }
                writer.stage(&files, replaces).await?;
            }
            Event::Files(done) => {
                report.files_ingested += done.ingested;
                report.files_changed += done.changed;
                report.files_unchanged += done.unchanged;
                progress.files_done(done.files(), done.bytes, done.segments);
            }
            Event::Rejected { bytes, reject } => {
                progress.rejected(&reject);
                progress.files_done(1, bytes, 0);
                let already =
                    reject.content_hash.as_deref().is_some_and(|h| self.known_rejects.contains(&reject.source, h));
                if !already {
                    self.pending_rejects.push(reject.clone());
                }
                report.files_rejected += 1;
                if report.rejects.len() < REJECTS_KEPT {
                    report.rejects.push(reject);
                }
            }
        }
        Ok(())
    }

    /// Ends a run whose workers all finished: marks what vanished from under the options'
    /// `prune_under` for removal and commits everything.
    async fn close(
        &mut self,
        writer: &mut ArchiveWriter,
        options: &IngestOptions,
        seen: &HashSet<String>,
        report: &mut IngestReport,
        progress: &dyn Progress,
    ) -> Result<(), IngestError> {
        if !options.prune_under.is_empty() {
            self.find_pruned(writer, &options.prune_under, options.max_prune, seen, report).await?;
        }
        self.commit(writer, report, progress).await
    }

    /// Finds the archived documents whose source lies under one of `roots` but is not among
    /// `seen` (this run's sources), and marks them for removal at the next commit; none when
    /// they are more than `max_prune` allows (the refusal goes into the report).
    async fn find_pruned(
        &mut self,
        writer: &mut ArchiveWriter,
        roots: &[String],
        max_prune: MaxDelete,
        seen: &HashSet<String>,
        report: &mut IngestReport,
    ) -> Result<(), IngestError> {
        let roots = verbatim_sources::Roots::new(roots);
        let gone = writer.documents_where(|source| roots.contains(source) && !seen.contains(source)).await?;
        let documents = writer.manifest().rows(Table::Documents);
        if gone.len() as u64 > max_prune.of(documents) {
            report.prune_refused = Some(PruneRefusal { vanished: gone.len() as u64, documents, max_prune });
            return Ok(());
        }
        for (doc_id, documents_file) in gone {
            self.pending_pruned += 1;
            writer.remove_document(documents_file, doc_id);
        }
        report.documents_pruned = self.pending_pruned;
        Ok(())
    }

    async fn commit(
        &mut self,
        writer: &mut ArchiveWriter,
        report: &mut IngestReport,
        progress: &dyn Progress,
    ) -> Result<(), IngestError> {
        if !self.pending_rejects.is_empty() {
            let entry = self.write_rejects().await?;
            writer.stage(std::slice::from_ref(&(Table::Rejects, entry.clone())), false).await?;
            self.pending_files.push((Table::Rejects, entry));
        }
        let changes = Changes { added: std::mem::take(&mut self.pending_files), ..Changes::default() };
        let committed = writer.commit(changes).await?;
        let Some(version) = committed.version else { return Ok(()) };
        report.version = version;
        report.commits += 1;
        report.documents += self.pending_documents;
        report.segments += self.pending_segments;
        report.documents_replaced += self.pending_replaced;
        report.rows_removed += committed.rows_removed;
        progress.committed(version, report.documents);
        for entry in writer.manifest().commit.iter().flat_map(|commit| &commit.added) {
            self.releaser.release(entry);
        }
        self.pending_documents = 0;
        self.pending_segments = 0;
        self.pending_replaced = 0;
        self.pending_pruned = 0;
        Ok(())
    }

    async fn write_rejects(&mut self) -> Result<FileEntry, IngestError> {
        let rows = std::mem::take(&mut self.pending_rejects);
        let factory = self.factory.clone();
        let sequence = self.rejects_written;
        self.rejects_written += 1;
        let entry = tokio::task::spawn_blocking(move || -> Result<FileEntry, ArchiveError> {
            let batch = verbatim_archive::rows::rejects_batch(&rows)?;
            let mut chunk: ChunkWriter = factory.create(Table::Rejects, &format!("rejects-{sequence}"))?;
            chunk.write(&batch)?;
            chunk.finish()
        })
        .await
        .map_err(|source| IngestError::Task { what: "writing the rejects", source })??;
        Ok(entry)
    }
}

/// Whether a directory walk should pick up `path` as a transcript file: a format's extension, or
/// a `.txt` file whose first bytes read as speaker turns or timed lines (so notes and READMEs in
/// a transcript folder are not taken for transcripts).
pub fn is_transcript_file(path: &Path) -> bool {
    use std::io::Read;
    if verbatim_formats::Format::for_path(path).is_some() {
        return true;
    }
    if !verbatim_formats::Format::is_transcript_name(path) {
        return false;
    }
    let mut head = Vec::with_capacity(4096);
    let read = std::fs::File::open(path).and_then(|file| file.take(4096).read_to_end(&mut head));
    let Ok(prepared) = read
        .map_err(|_| ())
        .and_then(|_| verbatim_formats::prepare(&head, &verbatim_formats::ReadOptions::default()).map_err(|_| ()))
    else {
        return false;
    };
    verbatim_formats::Format::sniff(&prepared.text).is_some()
}

/// Whether an object store key should be picked up from a listed prefix, by its name alone
/// (`.txt` included; what is not a transcript becomes a reject).
pub fn is_transcript_key(path: &Path) -> bool {
    verbatim_formats::Format::is_transcript_name(path)
}
