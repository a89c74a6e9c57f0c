//! One ingest worker: takes files from the shared cursor, parses them and appends their rows to
//! its own chunk writers, handing finished chunks to the committer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use verbatim_archive::rows::{DocumentRow, RejectRow, SegmentRows, WordRows, documents_batch};
use verbatim_archive::{ArchiveError, ChunkFactory, ChunkWriter, DocumentKeys, FileEntry, RecordBatch, Table};
use verbatim_formats::{Format, FormatError, ReadOptions, prepare, sidecar};
use verbatim_model::{RawTranscript, TranscriptMeta, normalise, words};
use verbatim_sources::{SourceFile, names};

use crate::IngestOptions;

/// State shared by all workers of a run.
pub(crate) struct Shared {
    pub files: Vec<SourceFile>,
    pub next: AtomicUsize,
    pub known: Arc<DocumentKeys>,
    /// Document ids taken in this run, with the source that took them.
    pub claims: Mutex<HashMap<String, String>>,
    pub cancelled: AtomicBool,
    pub ingested_at_ms: i64,
    pub factory: ChunkFactory,
    pub options: IngestOptions,
}

/// What a worker tells the committer.
pub(crate) enum Event {
    /// Chunk files finished (segments and documents of whole files), ready to commit.
    Chunk { files: Vec<(Table, FileEntry)>, documents: u64, segments: u64 },
    /// A file's documents were added to the worker's open chunk.
    Ingested { bytes: u64, segments: u64 },
    /// A file is already in the archive with the same content.
    Unchanged { bytes: u64 },
    /// A file could not be ingested.
    Rejected { bytes: u64, reject: RejectRow },
}

enum Outcome {
    Ingested { segments: u64 },
    Unchanged,
    Rejected(RejectRow),
}

pub(crate) struct Worker {
    id: usize,
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
    segment_rows: SegmentRows,
    word_rows: WordRows,
    documents: Vec<DocumentRow>,
    segments_chunk: Option<ChunkWriter>,
    words_chunk: Option<ChunkWriter>,
    chunk_segments: u64,
    chunks_written: u64,
}

impl Worker {
    pub fn new(id: usize, shared: Arc<Shared>, events: mpsc::Sender<Event>) -> Worker {
        Worker {
            id,
            shared,
            events,
            segment_rows: SegmentRows::default(),
            word_rows: WordRows::default(),
            documents: Vec::new(),
            segments_chunk: None,
            words_chunk: None,
            chunk_segments: 0,
            chunks_written: 0,
        }
    }

    /// Works until the files run out or the run is cancelled; finishes its last chunk.
    pub fn run(mut self) -> Result<(), ArchiveError> {
        let shared = self.shared.clone();
        while !shared.cancelled.load(Ordering::Relaxed) {
            let index = shared.next.fetch_add(1, Ordering::Relaxed);
            let Some(file) = shared.files.get(index) else {
                break;
            };
            let event = match self.process(file)? {
                Outcome::Ingested { segments } => Event::Ingested { bytes: file.size, segments },
                Outcome::Unchanged => Event::Unchanged { bytes: file.size },
                Outcome::Rejected(reject) => Event::Rejected { bytes: file.size, reject },
            };
            if !self.send(event) {
                return Ok(());
            }
            let open_bytes = self.segments_chunk.as_ref().map_or(0, ChunkWriter::bytes);
            if open_bytes + self.buffered_bytes() as u64 >= shared.options.chunk_bytes {
                self.finish_chunk()?;
            }
        }
        if !shared.cancelled.load(Ordering::Relaxed) {
            self.finish_chunk()?;
        }
        Ok(())
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
        if file.size > limit {
            let reason = format!(
                "file is {} bytes, over the {limit}-byte limit per file at this --memory-limit; raise --memory-limit",
                file.size
            );
            return Ok(reject(reason, None, None));
        }
        let bytes = match std::fs::read(&file.path) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(reject(format!("cannot read: {e}"), None, None)),
        };
        let hash = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes));
        let options = &self.shared.options;
        let read = ReadOptions { max_bytes: options.max_file_bytes, ..options.read };
        let prepared = match prepare(&bytes, &read) {
            Ok(prepared) => prepared,
            Err(e) => return Ok(reject(e.reason.clone(), Some(&e), Some(hash))),
        };
        let format = match Format::detect(&file.path, &prepared.text, options.input_format) {
            Ok(format) => format,
            Err(e) => return Ok(reject(e.reason.clone(), None, Some(hash))),
        };
        let (format, transcripts) = match format.parse(&prepared.text, &read) {
            Ok(parsed) => parsed,
            Err(e) => {
                return Ok(reject(format!("{}: {}", format.family_name(), e.reason), Some(&e), Some(hash)));
            }
        };
        let doc_ids = document_ids(&file.doc_id, &transcripts);
        // One transcript: the file's hash. Several (a bundle): one hash each, so that a bundle
        // that grows adds its new transcripts and skips the ones already archived.
        let hashes: Vec<String> =
            if transcripts.len() == 1 { vec![hash.clone()] } else { transcripts.iter().map(transcript_hash).collect() };
        let mut fresh = Vec::with_capacity(doc_ids.len());
        for (index, doc_id) in doc_ids.iter().enumerate() {
            match self.shared.known.hash_of(doc_id) {
                Some(known) if known == hashes[index] => {}
                Some(_) => {
                    let reason = format!(
                        "document {doc_id} is already in the archive with different content; changed documents are not replaced"
                    );
                    return Ok(reject(reason, None, Some(hash)));
                }
                None => fresh.push(index),
            }
        }
        if fresh.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let fresh_ids: Vec<String> = fresh.iter().map(|&i| doc_ids[i].clone()).collect();
        if let Some((id, other)) = self.claim(&fresh_ids, &source) {
            let reason = format!("document id {id} is also produced by {other}; rename one of them");
            return Ok(reject(reason, None, Some(hash)));
        }

        let hints = names::hints(&file.doc_id);
        let from_name =
            TranscriptMeta { video_id: hints.video_id, language: hints.language, ..TranscriptMeta::default() };
        let sidecar = verbatim_formats::sidecar::find(&file.path);
        let mut segments = 0u64;
        for index in fresh {
            let (doc_id, transcript) = (&doc_ids[index], &transcripts[index]);
            let mut n_words = 0usize;
            let mut n_timed_words = 0i64;
            let mut duration_ms = 0i64;
            let mut n_segments = 0i64;
            let repairs = normalise(&transcript.snippets, |segment| {
                n_words += words::count_words(segment.text);
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
        Ok(Outcome::Ingested { segments })
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
        let suffix = format!("{}-{}", self.id, self.chunks_written);
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
        let suffix = format!("{}-{}", self.id, self.chunks_written);
        self.chunks_written += 1;
        let mut files = Vec::with_capacity(3);
        for chunk in [self.segments_chunk.take(), self.words_chunk.take()].into_iter().flatten() {
            files.push((chunk.table(), chunk.finish()?));
        }
        let mut documents_chunk = self.shared.factory.create(Table::Documents, &suffix)?;
        documents_chunk.write(&documents_batch(&self.documents)?)?;
        files.push((Table::Documents, documents_chunk.finish()?));
        let event = Event::Chunk { files, documents: self.documents.len() as u64, segments: self.chunk_segments };
        self.documents.clear();
        self.chunk_segments = 0;
        self.send(event);
        Ok(())
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
