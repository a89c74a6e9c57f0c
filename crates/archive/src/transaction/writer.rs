//! The writer a run holds while it writes: what it has staged, what it means to remove, and the
//! commits that publish them.

use std::collections::{HashMap, HashSet};

use object_store::{PutMode, PutOptions};

use crate::archive::file_name;
use crate::chunk::{ChunkSettings, ChunkWriter};
use crate::keys::{self, DocumentIndex, RejectKeys};
use crate::manifest::{Changes, Manifest};
use crate::transaction::Operation;
use crate::transaction::lock::HeldLock;
use crate::transaction::rewrite::Removals;
use crate::transaction::runs::{self, RunState, StagedFile};
use crate::{Archive, ArchiveError, DocRange, FileEntry, Table};

/// Writes to an archive while holding its lock. Chunks become visible only through
/// [`ArchiveWriter::commit`]; a writer dropped without [`ArchiveWriter::finish`] leaves its run
/// record, so the next writer finds what it staged.
#[derive(Debug)]
pub struct ArchiveWriter {
    archive: Archive,
    run_id: String,
    operation: Operation,
    manifest: Manifest,
    lock: HeldLock,
    /// What the run record says: the last version published and the staged files.
    state: RunState,
    /// Staged files of dead runs that this run took over (they are in `state.staged` too).
    adopted: Vec<(Table, FileEntry)>,
    /// Documents to take out at the next commit, and this run's rewrites so far.
    removals: Removals,
    /// How this run writes chunks, rewrites included (see [`ArchiveWriter::chunk_factory`]).
    chunk_settings: ChunkSettings,
}

/// What a commit published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Committed {
    /// The version published; `None` when there was nothing to commit.
    pub version: Option<u64>,
    /// Documents whose rows the commit removed (replaced or pruned).
    pub documents_removed: u64,
    /// Rows the commit removed with them, over all tables.
    pub rows_removed: u64,
}

impl ArchiveWriter {
    pub(super) fn new(
        archive: Archive,
        run_id: String,
        operation: Operation,
        manifest: Manifest,
        lock: HeldLock,
        state: RunState,
        adopted: Vec<(Table, FileEntry)>,
    ) -> ArchiveWriter {
        ArchiveWriter {
            archive,
            run_id,
            operation,
            manifest,
            lock,
            state,
            adopted,
            removals: Removals::default(),
            chunk_settings: ChunkSettings::default(),
        }
    }

    /// This run's id (a UUIDv7, so chunk names sort by time).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The archive being written.
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// The snapshot as of the last commit.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Finished chunks that dead runs staged and this run took over: commit them (or rewrite
    /// them) rather than redoing their work. Their documents are in [`ArchiveWriter::document_index`].
    pub fn adopted(&self) -> &[(Table, FileEntry)] {
        &self.adopted
    }

    /// The files of the snapshot plus the staged ones, with their tables.
    pub fn base_files(&self) -> impl Iterator<Item = (Table, &FileEntry)> {
        self.manifest.all_files().chain(self.state.staged.iter().filter_map(|s| Some((s.table()?, &s.entry))))
    }

    /// An index of the committed and staged documents (see [`DocumentIndex`]), keeping at most
    /// `cache_bytes` of keys in memory; files without a document range are read now for the
    /// documents of `source_ids` only.
    pub async fn document_index(
        &self,
        source_ids: &HashSet<String>,
        cache_bytes: usize,
    ) -> Result<DocumentIndex, ArchiveError> {
        // Documents files written before they recorded a range hold the documents of the
        // `segments` file of the same name, which did.
        let segment_ranges: HashMap<&str, &DocRange> = self
            .base_files()
            .filter(|(table, _)| *table == Table::Segments)
            .filter_map(|(_, entry)| Some((file_name(&entry.path), entry.doc_range.as_ref()?)))
            .collect();
        let documents = self
            .base_files()
            .filter(|(table, _)| *table == Table::Documents)
            .map(|(_, entry)| {
                let mut entry = entry.clone();
                if entry.doc_range.is_none() {
                    entry.doc_range = segment_ranges.get(file_name(&entry.path)).map(|range| (*range).clone());
                }
                entry
            })
            .collect();
        DocumentIndex::build(&self.archive, documents, source_ids, cache_bytes).await
    }

    /// Keys of the rejects already committed for `sources`.
    pub async fn reject_keys(&self, sources: &HashSet<String>) -> Result<RejectKeys, ArchiveError> {
        let files: Vec<FileEntry> =
            self.base_files().filter(|(t, _)| *t == Table::Rejects).map(|(_, f)| f.clone()).collect();
        keys::reject_keys(&self.archive, &files, sources).await
    }

    /// The base files (committed or staged) of the chunk that `documents_file` belongs to: the
    /// files of the same name in `segments`, `words` and `documents`.
    pub(crate) fn chunk_files(&self, documents_file: &str) -> Vec<(Table, FileEntry)> {
        let name = file_name(documents_file);
        self.base_files()
            .filter(|(table, entry)| *table != Table::Rejects && file_name(&entry.path) == name)
            .map(|(table, entry)| (table, entry.clone()))
            .collect()
    }

    /// The committed and staged documents whose source satisfies `wanted`, as (doc id,
    /// `documents` file). Streams every `documents` file's `doc_id` and `source` columns; only the
    /// matches are kept in memory.
    pub async fn documents_where(&self, wanted: impl Fn(&str) -> bool) -> Result<Vec<(String, String)>, ArchiveError> {
        let files: Vec<FileEntry> =
            self.base_files().filter(|(t, _)| *t == Table::Documents).map(|(_, f)| f.clone()).collect();
        let mut found = Vec::new();
        for file in &files {
            keys::read_columns(&self.archive, file, Table::Documents, ["doc_id", "source"], |batch| {
                use arrow::array::AsArray;
                let (ids, sources) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
                for row in 0..batch.num_rows() {
                    if wanted(sources.value(row)) {
                        found.push((ids.value(row).to_string(), file.path.clone()));
                    }
                }
            })
            .await?;
        }
        Ok(found)
    }

    /// Records finished chunks as staged in the run record, so that a re-run after a kill adopts
    /// them instead of redoing them. Files that `replace` archived data (new versions of archived
    /// documents) are recorded too, so that they are known as this run's, but never adopted: the
    /// removals that must go with them are known only to this run.
    pub async fn stage(&mut self, files: &[(Table, FileEntry)], replace: bool) -> Result<(), ArchiveError> {
        self.state.staged.extend(files.iter().map(|(table, entry)| StagedFile::new(*table, entry.clone(), replace)));
        runs::update(&self.archive, &self.run_id, &self.state).await
    }

    /// Drops staged (never committed) files that this run replaced: out of the run record first,
    /// then out of the store.
    pub(crate) async fn discard_staged(&mut self, paths: &HashSet<String>) -> Result<(), ArchiveError> {
        if paths.is_empty() {
            return Ok(());
        }
        let mut objects: Vec<String> = self
            .state
            .staged
            .iter()
            .filter(|staged| paths.contains(&staged.entry.path))
            .flat_map(|staged| staged.entry.objects().map(|(path, _)| path.to_string()))
            .collect();
        objects.extend(paths.iter().cloned());
        objects.sort();
        objects.dedup();
        self.state.staged.retain(|staged| !paths.contains(&staged.entry.path));
        self.adopted.retain(|(_, entry)| !paths.contains(&entry.path));
        runs::update(&self.archive, &self.run_id, &self.state).await?;
        for path in objects {
            self.archive.delete_object(&self.archive.object(&path)).await?;
        }
        Ok(())
    }

    /// A factory for this run's chunk writers, usable from other threads. The run's rewrites (of
    /// chunks holding documents to remove) are written with the same settings.
    pub fn chunk_factory(&mut self, settings: ChunkSettings, runtime: tokio::runtime::Handle) -> ChunkFactory {
        self.chunk_settings = settings;
        ChunkFactory { archive: self.archive.clone(), run_id: self.run_id.clone(), settings, runtime }
    }

    /// Marks the document `doc_id`, held by the committed or staged `documents_file`, for removal
    /// at the next commit (a new version replaces it, or its source is gone).
    pub fn remove_document(&mut self, documents_file: String, doc_id: String) {
        self.removals.add(documents_file, doc_id);
    }

    /// Whether documents are marked for removal at the next commit.
    pub fn has_removals(&self) -> bool {
        !self.removals.is_empty()
    }

    /// Publishes a new snapshot with `changes` applied and the documents marked for removal taken
    /// out (their chunks rewritten without them: copy-on-write). Atomic: readers see all of it or
    /// none. Removed files stay in the store until `vacuum` finds no retained snapshot that lists
    /// them. Does nothing when there is nothing to commit.
    pub async fn commit(&mut self, changes: Changes) -> Result<Committed, ArchiveError> {
        self.commit_as(self.operation, changes).await
    }

    /// [`ArchiveWriter::commit`], recording `operation` rather than the run's (a compaction at the
    /// end of an ingest).
    pub(crate) async fn commit_as(
        &mut self,
        operation: Operation,
        mut changes: Changes,
    ) -> Result<Committed, ArchiveError> {
        let mut committed = Committed::default();
        if !self.removals.is_empty() {
            // Make sure the lock is still ours before rewriting chunks on its behalf.
            self.lock.ensure_held().await?;
            committed.documents_removed = self.removals.documents();
            let rewrite = self.rewrite_removals().await?;
            self.stage(&rewrite.added, true).await?;
            changes.added.extend(rewrite.added);
            // Uncommitted files among the rewritten (adopted from a killed run) are dropped from the
            // commit and from the store; committed ones are removed by the commit.
            let uncommitted: HashSet<String> = rewrite
                .replaced
                .iter()
                .filter(|path| changes.added.iter().any(|(_, entry)| &entry.path == *path))
                .cloned()
                .collect();
            changes.added.retain(|(_, entry)| !uncommitted.contains(&entry.path));
            self.discard_staged(&uncommitted).await?;
            changes.removed.extend(rewrite.replaced.into_iter().filter(|path| !uncommitted.contains(path)));
            changes.removed_documents += committed.documents_removed;
            committed.rows_removed = rewrite.rows_removed;
        }
        if changes.is_empty() {
            return Ok(committed);
        }
        let next = self.manifest.next(&self.run_id, operation.name(), &changes);
        self.lock.ensure_held().await?;
        self.archive.publish(&next).await?;
        self.manifest = next;
        let added: HashSet<&str> = changes.added.iter().map(|(_, entry)| entry.path.as_str()).collect();
        self.state.staged.retain(|staged| !added.contains(staged.entry.path.as_str()));
        self.adopted.retain(|(_, entry)| !added.contains(entry.path.as_str()));
        self.state.committed_version = Some(self.manifest.version);
        self.state.base_version = self.manifest.version;
        runs::update(&self.archive, &self.run_id, &self.state).await?;
        committed.version = Some(self.manifest.version);
        Ok(committed)
    }

    /// The factory of this run's rewrites: the settings of its chunks.
    pub(super) fn rewrite_factory(&self) -> ChunkFactory {
        ChunkFactory {
            archive: self.archive.clone(),
            run_id: self.run_id.clone(),
            settings: self.chunk_settings,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// The pending removals, taken for rewriting, and the chain of this run's rewrites.
    pub(super) fn removals_mut(&mut self) -> &mut Removals {
        &mut self.removals
    }

    /// Stops renewing the lease, as a stalled process would.
    #[cfg(test)]
    pub(crate) async fn stop_renewing_lease(&mut self) {
        self.lock.stop_renewing().await;
    }

    /// Ends the run: deletes its run record and releases the lock. Call it only when every chunk
    /// the run wrote is committed or deleted; otherwise [`ArchiveWriter::abandon`] it, and the next
    /// writer removes or adopts what it left (the record says whose it is).
    pub async fn finish(self) -> Result<(), ArchiveError> {
        let ended = runs::end(&self.archive, &self.run_id).await;
        let released = self.lock.release().await;
        ended.and(released)
    }

    /// Ends the run after `result`: [`ArchiveWriter::finish`] when it succeeded, otherwise
    /// [`ArchiveWriter::abandon`] (keeping the record, so its leftovers are found); returns `result`.
    pub async fn close<T>(self, result: Result<T, ArchiveError>) -> Result<T, ArchiveError> {
        match result {
            Ok(value) => {
                self.finish().await?;
                Ok(value)
            }
            Err(e) => {
                self.abandon().await?;
                Err(e)
            }
        }
    }

    /// Releases the lock but keeps the run record, so that the next writer removes whatever this
    /// run wrote and did not commit. For runs that stop on an error.
    pub async fn abandon(self) -> Result<(), ArchiveError> {
        self.lock.release().await
    }
}

impl Archive {
    /// Publishes `manifest` under its version, failing with [`ArchiveError::Conflict`] if that
    /// version exists (`PutMode::Create`): the one atomic step that makes a snapshot current.
    pub(crate) async fn publish(&self, manifest: &Manifest) -> Result<(), ArchiveError> {
        let path = self.manifest_object(manifest.version);
        let body = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store().put_opts(&path, body.into(), options).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(ArchiveError::Conflict { location: self.display().to_string(), version: manifest.version })
            }
            Err(e) => Err(self.store_error(&path)(e)),
        }
    }
}

/// Creates chunk writers with unique names for one run; cheap to clone into worker threads.
#[derive(Debug, Clone)]
pub struct ChunkFactory {
    pub(crate) archive: Archive,
    pub(crate) run_id: String,
    pub(crate) settings: ChunkSettings,
    pub(crate) runtime: tokio::runtime::Handle,
}

impl ChunkFactory {
    /// A new chunk of `table` named `<run id>-<suffix>.parquet`; `suffix` must be unique in the run.
    pub fn create(&self, table: Table, suffix: &str) -> Result<ChunkWriter, ArchiveError> {
        let relative = format!("{}/{}-{suffix}.parquet", table.name(), self.run_id);
        ChunkWriter::create(&self.archive, relative, table, &self.settings, self.runtime.clone())
    }

    /// The settings chunks are written with.
    pub fn settings(&self) -> &ChunkSettings {
        &self.settings
    }
}
