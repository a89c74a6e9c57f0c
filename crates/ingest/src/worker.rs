//! One ingest worker: takes files from the shared cursor, parses them and appends their rows to
//! its own chunk writers, handing finished chunks to the committer.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use verbatim_archive::rows::{DocumentRow, RejectRow, SegmentRows, WordRows, documents_batch};
use verbatim_archive::{
    ArchiveError, ChunkFactory, ChunkWriter, DocRange, DocumentIndex, FileEntry, RecordBatch, Table,
};
use verbatim_formats::{Format, FormatError, ReadOptions, prepare, sidecar};
use verbatim_model::{RawTranscript, TranscriptMeta, normalise, words};
use verbatim_sources::{SourceFile, names};

use crate::IngestOptions;

/// State shared by all workers of a run.
pub(crate) struct Shared {
    /// The files, sorted by document id.
    pub files: Vec<SourceFile>,
    /// Consecutive runs of `files`, handed out whole to workers (see [`plan_shards`]).
    pub shards: Vec<Range<usize>>,
    /// The next shard to hand out.
    pub next_shard: AtomicUsize,
    /// What the archive already holds.
    pub known: Arc<DocumentIndex>,
    /// Document ids taken in this run, with the source that took them.
    pub claims: Mutex<HashMap<String, String>>,
    pub cancelled: AtomicBool,
    pub ingested_at_ms: i64,
    pub factory: ChunkFactory,
    pub options: IngestOptions,
    /// The runtime that reads sources on object stores.
    pub runtime: tokio::runtime::Handle,
}

/// What a worker tells the committer.
pub(crate) enum Event {
    /// Chunk files finished (segments and documents of whole files), ready to commit, with the
    /// archived documents they hold new versions of (id, `documents` file of the old version).
    Chunk { files: Vec<(Table, FileEntry)>, documents: u64, segments: u64, replaced: Vec<(String, String)> },
    /// Files whose documents were added to the worker's open chunk or were already archived
    /// (sent in batches: one wake-up of the committer per file would cost more than the file).
    Files(FilesDone),
    /// A file could not be ingested.
    Rejected { bytes: u64, reject: RejectRow },
}

/// Counts of files handled since the last [`Event::Files`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FilesDone {
    pub ingested: u64,
    /// Of the ingested files, those that replaced archived documents.
    pub changed: u64,
    pub unchanged: u64,
    pub bytes: u64,
    pub segments: u64,
}

impl FilesDone {
    /// The files counted (ingested or unchanged).
    pub fn files(&self) -> u64 {
        self.ingested + self.unchanged
    }
}

/// Files a worker handles before it reports them (it also reports at every chunk and shard end).
const FILES_PER_REPORT: u64 = 64;

enum Outcome {
    Ingested { segments: u64, changed: bool },
    Unchanged,
    Rejected(RejectRow),
}

pub(crate) struct Worker {
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
    segment_rows: SegmentRows,
    word_rows: WordRows,
    documents: Vec<DocumentRow>,
    segments_chunk: Option<ChunkWriter>,
    words_chunk: Option<ChunkWriter>,
    chunk_segments: u64,
    /// The shard being worked on and the number of chunks already finished in it.
    shard: usize,
    chunks_in_shard: u64,
    /// Document ids of the open chunk so far, while they keep increasing.
    chunk_docs: ChunkDocs,
    /// Archived documents that the open chunk holds new versions of: (id, old `documents` file).
    replaced: Vec<(String, String)>,
    /// Files handled but not yet reported.
    done: FilesDone,
}

/// Whether a chunk's documents arrived in increasing id order, and its first and last id.
#[derive(Debug, Default)]
struct ChunkDocs {
    range: Option<DocRange>,
    out_of_order: bool,
}

impl ChunkDocs {
    fn add(&mut self, doc_id: &str) {
        match &mut self.range {
            None => self.range = Some(DocRange { first: doc_id.to_string(), last: doc_id.to_string() }),
            Some(range) if range.last.as_str() < doc_id => range.last = doc_id.to_string(),
            Some(_) => self.out_of_order = true,
        }
    }

    /// The range to record for the chunk (none when out of order), resetting for the next one.
    fn take(&mut self) -> Option<DocRange> {
        let range = self.range.take();
        let out_of_order = std::mem::take(&mut self.out_of_order);
        if out_of_order { None } else { range }
    }
}

impl Worker {
    pub fn new(shared: Arc<Shared>, events: mpsc::Sender<Event>) -> Worker {
        Worker {
            shared,
            events,
            segment_rows: SegmentRows::default(),
            word_rows: WordRows::default(),
            documents: Vec::new(),
            segments_chunk: None,
            words_chunk: None,
            chunk_segments: 0,
            shard: 0,
            chunks_in_shard: 0,
            chunk_docs: ChunkDocs::default(),
            replaced: Vec::new(),
            done: FilesDone::default(),
        }
    }

    /// Works shard by shard until the shards run out or the run is cancelled; a worker that fails
    /// cancels the run, so that the others stop too. A chunk never spans two shards, so that every
    /// chunk holds consecutive documents in id order.
    pub fn run(self) -> Result<(), ArchiveError> {
        let shared = self.shared.clone();
        let worked = self.work();
        if worked.is_err() {
            shared.cancelled.store(true, Ordering::Relaxed);
        }
        worked
    }

    fn work(mut self) -> Result<(), ArchiveError> {
        let shared = self.shared.clone();
        while !shared.cancelled.load(Ordering::Relaxed) {
            let shard = shared.next_shard.fetch_add(1, Ordering::Relaxed);
            let Some(range) = shared.shards.get(shard) else {
                break;
            };
            self.shard = shard;
            self.chunks_in_shard = 0;
            for file in &shared.files[range.clone()] {
                if shared.cancelled.load(Ordering::Relaxed) {
                    return Ok(());
                }
                match self.process(file)? {
                    Outcome::Ingested { segments, changed } => {
                        self.done.ingested += 1;
                        self.done.changed += u64::from(changed);
                        self.done.bytes += file.size;
                        self.done.segments += segments;
                    }
                    Outcome::Unchanged => {
                        self.done.unchanged += 1;
                        self.done.bytes += file.size;
                    }
                    Outcome::Rejected(reject) => {
                        if !self.send(Event::Rejected { bytes: file.size, reject }) {
                            return Ok(());
                        }
                    }
                }
                if self.done.files() >= FILES_PER_REPORT && !self.report_done() {
                    return Ok(());
                }
                let open_bytes = self.segments_chunk.as_ref().map_or(0, ChunkWriter::bytes);
                let index_bytes = self.segments_chunk.as_ref().map_or(0, ChunkWriter::index_memory) as u64;
                if open_bytes + self.buffered_bytes() as u64 >= shared.options.chunk_bytes
                    || index_bytes >= shared.options.phrase_index_bytes
                {
                    self.finish_chunk()?;
                }
            }
            self.finish_chunk()?;
            if !self.report_done() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Sends the counts of files handled since the last report; false when the run is over.
    fn report_done(&mut self) -> bool {
        let done = std::mem::take(&mut self.done);
        done.files() == 0 || self.send(Event::Files(done))
    }

    /// The file name suffix of the open chunk: shard and chunk number, zero-padded so that file
    /// names sort like the documents they hold.
    fn chunk_suffix(&self) -> String {
        format!("{:06}-{:04}", self.shard, self.chunks_in_shard)
    }

    fn send(&self, event: Event) -> bool {
        self.events.blocking_send(event).is_ok()
    }

    fn process(&mut self, file: &SourceFile) -> Result<Outcome, ArchiveError> {
        let source = file.path.to_string_lossy().into_owned();
        let reject = |reason: String, location: Option<&FormatError>, hash: Option<String>| {
            Outcome::Rejected(RejectRow {
                source: source.clone(),
                doc_id: Some(file.doc_id.clone()),
                line: location.filter(|l| l.line > 0).map(|l| l.line as i64),
                column: location.filter(|l| l.column > 0).map(|l| l.column as i64),
                reason,
                content_hash: hash,
                rejected_at_ms: self.shared.ingested_at_ms,
            })
        };
        let limit = self.shared.options.max_file_bytes;
        let read = match &file.remote {
            Some(remote) => read_remote(remote, file.size, limit, &self.shared.runtime),
            None => read_bounded(&file.path, file.size, limit),
        };
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(problem) => return Ok(reject(problem.to_string(), None, None)),
        };
        let hash = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes));
        let options = &self.shared.options;
        let read = ReadOptions { max_bytes: options.max_file_bytes, ..options.read };
        // Readers run on untrusted bytes: a panic in one (a bug) rejects this file, never the run.
        let prepared = match guarded("decoding", || prepare(&bytes, &read)) {
            Ok(Ok(prepared)) => prepared,
            Ok(Err(e)) => return Ok(reject(e.reason.clone(), Some(&e), Some(hash))),
            Err(problem) => return Ok(reject(problem.to_string(), None, Some(hash))),
        };
        let detected =
            match guarded("format detection", || Format::detect(&file.path, &prepared.text, options.input_format)) {
                Ok(detected) => detected,
                Err(problem) => return Ok(reject(problem.to_string(), None, Some(hash))),
            };
        let format = match detected {
            Ok(format) => format,
            Err(e) => return Ok(reject(e.reason.clone(), None, Some(hash))),
        };
        let (format, transcripts) = match guarded(format.family_name(), || format.parse(&prepared.text, &read)) {
            Ok(Ok(parsed)) => parsed,
            Ok(Err(e)) => {
                return Ok(reject(format!("{}: {}", format.family_name(), e.reason), Some(&e), Some(hash)));
            }
            Err(problem) => return Ok(reject(problem.to_string(), None, Some(hash))),
        };
        if transcripts.is_empty() {
            let reason = format!("{}: the file holds no transcript (it is empty)", format.family_name());
            return Ok(reject(reason, None, Some(hash)));
        }
        let doc_ids = document_ids(&file.doc_id, &transcripts);
        // Every id is claimed, unchanged ones too: two files with one id (`talk.srt` and
        // `talk.vtt`) must not take turns replacing each other, run after run. The first found
        // keeps it (folders are walked in name order, and a shard never splits an id).
        if let Some((id, other)) = self.claim(&doc_ids, &source) {
            let reason = format!("document id {id} is also produced by {other}; rename one of them");
            return Ok(reject(reason, None, Some(hash)));
        }
        // One transcript: the file's hash. Several (a bundle): one hash each, so that a bundle
        // that grows adds its new transcripts and skips the ones already archived.
        let hashes: Vec<String> =
            if transcripts.len() == 1 { vec![hash.clone()] } else { transcripts.iter().map(transcript_hash).collect() };
        // New documents are added; a changed one is added and its archived version removed in
        // the same commit; unchanged ones are skipped.
        let mut fresh = Vec::with_capacity(doc_ids.len());
        let mut replacing = Vec::new();
        for (index, doc_id) in doc_ids.iter().enumerate() {
            match self.shared.known.lookup(doc_id)? {
                Some(known) if known.content_hash == hashes[index] => {}
                Some(known) => {
                    fresh.push(index);
                    replacing.push((doc_id.clone(), known.documents_file));
                }
                None => fresh.push(index),
            }
        }
        if fresh.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let changed = !replacing.is_empty();
        self.replaced.append(&mut replacing);

        let hints = names::hints(&file.doc_id);
        let from_name =
            TranscriptMeta { video_id: hints.video_id, language: hints.language, ..TranscriptMeta::default() };
        let sidecar = file.remote.is_none().then(|| verbatim_formats::sidecar::find(&file.path)).flatten();
        let mut segments = 0u64;
        for index in fresh {
            let (doc_id, transcript) = (&doc_ids[index], &transcripts[index]);
            let mut n_words = 0usize;
            let mut n_timed_words = 0i64;
            let mut duration_ms = 0i64;
            let mut n_segments = 0i64;
            self.chunk_docs.add(doc_id);
            // With a phrase index, the index numbers every word and counts them (finish_chunk).
            let count_words = !self.shared.options.phrase_index;
            let repairs = normalise(&transcript.snippets, |segment| {
                if count_words {
                    n_words += words::count_words(segment.text);
                }
                duration_ms = duration_ms.max(segment.end_ms);
                n_segments += 1;
                self.segment_rows.push(doc_id, &segment);
                for word in segment.words() {
                    self.word_rows.push(doc_id, segment.seq, &word);
                    n_timed_words += 1;
                }
            });
            self.flush_rows_if_full()?;
            segments += n_segments as u64;
            let mut meta = transcript.meta.clone().or(&from_name);
            if let Some(info) = sidecar.as_deref().and_then(|path| sidecar::read(path, meta.language.as_deref())) {
                meta = meta.or(&info);
            }
            self.documents.push(DocumentRow {
                doc_id: doc_id.clone(),
                video_id: meta.video_id.clone(),
                source: source.clone(),
                format: format.name().to_string(),
                language: meta.language.clone(),
                n_segments,
                n_words: n_words as i64,
                duration_ms,
                content_hash: hashes[index].clone(),
                ingested_at_ms: self.shared.ingested_at_ms,
                meta,
                encoding: prepared.encoding.to_string(),
                n_timed_words,
                repairs,
            });
        }
        self.chunk_segments += segments;
        Ok(Outcome::Ingested { segments, changed })
    }

    /// Claims the ids for `source`; returns a taken id and the other source that took it.
    fn claim(&self, doc_ids: &[String], source: &str) -> Option<(String, String)> {
        let mut claims = self.shared.claims.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(taken) = doc_ids.iter().find_map(|id| claims.get(id).map(|other| (id.clone(), other.clone()))) {
            return Some(taken);
        }
        for id in doc_ids {
            claims.insert(id.clone(), source.to_string());
        }
        None
    }

    fn buffered_bytes(&self) -> usize {
        self.segment_rows.approx_bytes() + self.word_rows.approx_bytes()
    }

    fn flush_rows_if_full(&mut self) -> Result<(), ArchiveError> {
        if self.buffered_bytes() as u64 >= self.shared.options.batch_bytes {
            self.flush_rows()?;
        }
        Ok(())
    }

    /// Hands the buffered segment and word rows to their chunk writers (opened on first use).
    fn flush_rows(&mut self) -> Result<(), ArchiveError> {
        let suffix = self.chunk_suffix();
        if !self.segment_rows.is_empty() {
            let batch = self.segment_rows.take_batch()?;
            write_to(&mut self.segments_chunk, &self.shared.factory, Table::Segments, &suffix, &batch)?;
        }
        if !self.word_rows.is_empty() {
            let batch = self.word_rows.take_batch()?;
            write_to(&mut self.words_chunk, &self.shared.factory, Table::Words, &suffix, &batch)?;
        }
        Ok(())
    }

    /// Finishes the open chunk files and hands them to the committer.
    fn finish_chunk(&mut self) -> Result<(), ArchiveError> {
        self.flush_rows()?;
        if self.documents.is_empty() {
            return Ok(());
        }
        if let Some(counts) = self.segments_chunk.as_ref().and_then(ChunkWriter::document_words) {
            fill_word_counts(&mut self.documents, counts);
        }
        let suffix = self.chunk_suffix();
        self.chunks_in_shard += 1;
        // The three tables' files of a chunk hold the same documents in the same order.
        let doc_range = self.chunk_docs.take();
        let mut files = Vec::with_capacity(3);
        if let Some(chunk) = self.segments_chunk.take() {
            files.push((Table::Segments, chunk.finish()?));
        }
        if let Some(chunk) = self.words_chunk.take() {
            files.push((Table::Words, chunk.finish()?));
        }
        let mut documents_chunk = self.shared.factory.create(Table::Documents, &suffix)?;
        documents_chunk.write(&documents_batch(&self.documents)?)?;
        files.push((Table::Documents, documents_chunk.finish()?));
        for (_, entry) in &mut files {
            entry.doc_range = doc_range.clone();
        }
        // Counts first, so that the files of a committed chunk are never reported after it.
        self.report_done();
        let event = Event::Chunk {
            files,
            documents: self.documents.len() as u64,
            segments: self.chunk_segments,
            replaced: std::mem::take(&mut self.replaced),
        };
        self.documents.clear();
        self.chunk_segments = 0;
        self.send(event);
        Ok(())
    }
}

/// Sets each document's `n_words` from `counts` (document ids and word counts, in the documents'
/// order; documents without segments are not in it and keep 0).
fn fill_word_counts(documents: &mut [DocumentRow], counts: &[(Box<str>, u64)]) {
    let mut counts = counts.iter().peekable();
    for document in documents {
        if let Some((_, words)) = counts.next_if(|(doc_id, _)| **doc_id == *document.doc_id) {
            document.n_words = *words as i64;
        }
    }
}

/// Writes `batch` to the chunk in `slot`, creating it first if needed.
fn write_to(
    slot: &mut Option<ChunkWriter>,
    factory: &ChunkFactory,
    table: Table,
    suffix: &str,
    batch: &RecordBatch,
) -> Result<(), ArchiveError> {
    if slot.is_none() {
        *slot = Some(factory.create(table, suffix)?);
    }
    slot.as_mut().expect("chunk just opened").write(batch)
}

/// Cuts `files` (sorted by document id) into consecutive shards for the workers to take one at a
/// time: about eight per worker, so that the last ones even out the workers' loads, and at least
/// `MIN_SHARD_BYTES` each, so that chunks stay large.
pub(crate) fn plan_shards(files: &[SourceFile], workers: usize) -> Vec<Range<usize>> {
    const MIN_SHARD_BYTES: u64 = 16 << 20;
    let total: u64 = files.iter().map(|f| f.size).sum();
    let target = (total / (8 * workers.max(1) as u64)).max(MIN_SHARD_BYTES);
    let mut shards = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (index, file) in files.iter().enumerate() {
        bytes += file.size;
        // Files of one document id stay in one shard, read in order: the first keeps the id.
        let same_id_next = files.get(index + 1).is_some_and(|next| next.doc_id == file.doc_id);
        if bytes >= target && !same_id_next {
            shards.push(start..index + 1);
            (start, bytes) = (index + 1, 0);
        }
    }
    if start < files.len() {
        shards.push(start..files.len());
    }
    shards
}

/// Why a source file is rejected before a reader sees its bytes, or when a reader panics. The
/// reject row keeps its text.
#[derive(Debug, thiserror::Error)]
enum FileProblem {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Unreadable(#[from] std::io::Error),
    /// The object could not be fetched.
    #[error("cannot read: {0}")]
    Unfetchable(#[from] object_store::Error),
    /// The file is larger than a file may be at this memory limit.
    #[error("file is {size} bytes, over the {limit}-byte limit per file at this memory limit; raise the memory limit")]
    TooLarge {
        /// Its size, or what is known of it (`more than N`, `grew to N`).
        size: String,
        /// The limit per file.
        limit: u64,
    },
    /// A reader panicked (a bug in verbatim).
    #[error("internal error in {step} (a verbatim bug; please report it with this file): {message}")]
    Panicked {
        /// The step that panicked.
        step: String,
        /// What the panic said.
        message: String,
    },
}

/// Reads a whole source file, refusing one larger than `limit` bytes. The read itself stops at the
/// limit, so a file that grows or never ends (`/dev/zero`, a FIFO) is refused too; `listed_size`
/// (its size when the sources were listed) refuses large regular files without reading them.
fn read_bounded(path: &std::path::Path, listed_size: u64, limit: u64) -> Result<Vec<u8>, FileProblem> {
    use std::io::Read;
    if listed_size > limit {
        return Err(FileProblem::TooLarge { size: listed_size.to_string(), limit });
    }
    let file = open_without_blocking(path)?;
    let mut bytes = Vec::with_capacity(listed_size as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(FileProblem::TooLarge { size: format!("more than {limit}"), limit });
    }
    Ok(bytes)
}

/// Reads a whole source object, refusing one larger than `limit` bytes (as listed, and as read).
fn read_remote(
    remote: &verbatim_sources::RemoteSource,
    listed_size: u64,
    limit: u64,
    runtime: &tokio::runtime::Handle,
) -> Result<Vec<u8>, FileProblem> {
    use object_store::ObjectStoreExt;
    if listed_size > limit {
        return Err(FileProblem::TooLarge { size: listed_size.to_string(), limit });
    }
    let bytes = runtime.block_on(async { remote.store.get(&remote.object).await?.bytes().await })?;
    if bytes.len() as u64 > limit {
        return Err(FileProblem::TooLarge { size: format!("grew to {}", bytes.len()), limit });
    }
    Ok(bytes.to_vec())
}

/// Opens `path` for reading without waiting for a writer when it is a FIFO (a FIFO with no writer
/// then reads as empty), then makes reads blocking again.
fn open_without_blocking(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
        // SAFETY: plain fcntl calls on a descriptor this function owns.
        unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    std::fs::File::open(path)
}

/// Runs one step of reading a file, turning a panic into the reason the file is rejected.
fn guarded<T>(step: &str, run: impl FnOnce() -> T) -> Result<T, FileProblem> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .map_err(|panic| FileProblem::Panicked { step: step.to_string(), message: panic_message(panic.as_ref()) })
}

/// What a panic said, when it said it with a string.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(message), _) => message.to_string(),
        (_, Some(message)) => message.clone(),
        _ => "unknown panic".to_string(),
    }
}

/// Document ids for a file's transcripts: the file's id alone; for several, `id#<key>` when the
/// file keys them (bundles) and `id#1`, `id#2`, … otherwise.
fn document_ids(doc_id: &str, transcripts: &[RawTranscript<'_>]) -> Vec<String> {
    if transcripts.len() <= 1 && transcripts.first().is_none_or(|t| t.key.is_none()) {
        return vec![doc_id.to_string()];
    }
    transcripts
        .iter()
        .enumerate()
        .map(|(n, t)| match &t.key {
            Some(key) => format!("{doc_id}#{key}"),
            None => format!("{doc_id}#{}", n + 1),
        })
        .collect()
}

/// A hash of a transcript's content (texts and times), for transcripts that share a file.
fn transcript_hash(transcript: &RawTranscript<'_>) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for snippet in &transcript.snippets {
        hasher.update(snippet.text.as_bytes());
        hasher.update(&snippet.start.to_bits().to_le_bytes());
        hasher.update(&snippet.duration.to_bits().to_le_bytes());
    }
    format!("{:032x}", hasher.digest128())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_step_becomes_a_reason_with_its_message() {
        assert_eq!(guarded("parsing", || 7).expect("no panic"), 7);
        let reason = guarded("json", || -> u8 { panic!("index out of bounds: the len is 0 but the index is 0") });
        let reason = reason.expect_err("the panic is caught").to_string();
        assert!(reason.contains("internal error in json") && reason.contains("the len is 0"), "{reason}");
        let owned = guarded("srt", || -> u8 { panic!("{} went wrong", "something") }).expect_err("caught").to_string();
        assert!(owned.ends_with("something went wrong"), "{owned}");
    }

    #[test]
    fn reads_stop_at_the_limit_even_when_the_listed_size_is_zero() {
        let reason = read_bounded(std::path::Path::new("/dev/zero"), 0, 1024).expect_err("endless").to_string();
        assert!(reason.contains("more than 1024") && reason.contains("raise the memory limit"), "{reason}");
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("small.json");
        std::fs::write(&file, b"[]").expect("write");
        assert_eq!(read_bounded(&file, 2, 1024).expect("read"), b"[]");
        assert!(read_bounded(&file, 4096, 1024).expect_err("listed too large").to_string().contains("4096 bytes"));
    }
}
