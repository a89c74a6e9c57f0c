//! Copy-on-write removal of documents: a chunk file that holds documents being replaced or pruned
//! is rewritten without their rows, as a new file of the writing run; the commit that adds the new
//! versions removes the old file and adds the rewritten one, so readers see the change at once.
//! A chunk rewritten at one commit of a run and holding more documents to remove at a later one
//! is found under its new name (the run's chain of rewrites).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray};
use futures::StreamExt;

use crate::integrity::read_footer;
use crate::transaction::{ArchiveWriter, ChunkFactory};
use crate::{ArchiveError, DocRange, FileEntry, Table};

/// Documents to take out at the next commit, and the chunks this run has rewritten.
#[derive(Debug, Default)]
pub(crate) struct Removals {
    /// Document ids to remove, by the `documents` file that held them when they were marked.
    pending: HashMap<String, HashSet<String>>,
    /// Files this run rewrote, to the file that replaced them (`None`: no row remained).
    rewritten: HashMap<String, Option<String>>,
    /// Rewrites made so far, for unique chunk names.
    rewrites: u64,
}

impl Removals {
    /// Marks `doc_id` of `documents_file` for removal.
    pub fn add(&mut self, documents_file: String, doc_id: String) {
        self.pending.entry(documents_file).or_default().insert(doc_id);
    }

    /// Whether nothing is marked.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// How many documents are marked.
    pub fn documents(&self) -> u64 {
        self.pending.values().map(|ids| ids.len() as u64).sum()
    }

    /// Takes the marked documents, grouped by the file that holds them now: a file this run has
    /// rewritten is followed to its rewrite. Files rewritten to nothing are left out (their
    /// documents are gone already). Sorted by file, so rewrites are named in a stable order.
    fn take_by_current_file(&mut self) -> Vec<(String, HashSet<String>)> {
        let mut by_file: HashMap<String, HashSet<String>> = HashMap::new();
        for (mut file, ids) in std::mem::take(&mut self.pending) {
            while let Some(Some(next)) = self.rewritten.get(&file) {
                file = next.clone();
            }
            if self.rewritten.get(&file).is_some_and(Option::is_none) {
                continue;
            }
            by_file.entry(file).or_default().extend(ids);
        }
        let mut by_file: Vec<_> = by_file.into_iter().collect();
        by_file.sort_by(|a, b| a.0.cmp(&b.0));
        by_file
    }
}

/// What rewriting the marked documents out gave.
#[derive(Debug, Default)]
pub(crate) struct Rewrite {
    /// The rewritten files.
    pub added: Vec<(Table, FileEntry)>,
    /// The paths of the files they replace.
    pub replaced: Vec<String>,
    /// Rows left out.
    pub rows_removed: u64,
}

impl ArchiveWriter {
    /// Rewrites the chunks holding the documents marked for removal without them (every table of
    /// each chunk), recording each rewrite in the run's chain.
    pub(crate) async fn rewrite_removals(&mut self) -> Result<Rewrite, ArchiveError> {
        let by_file = self.removals_mut().take_by_current_file();
        let factory = self.rewrite_factory();
        let mut rewrite = Rewrite::default();
        for (documents_file, doc_ids) in by_file {
            let chunk = self.chunk_files(&documents_file);
            if chunk.is_empty() {
                let reason = "the chunk holding documents to remove is not in the snapshot".to_string();
                return Err(ArchiveError::Corrupt { path: self.archive().show(&documents_file), reason });
            }
            let removals = self.removals_mut();
            let suffix = format!("rewrite-{:06}", removals.rewrites);
            removals.rewrites += 1;
            let doc_ids = Arc::new(doc_ids);
            for (table, entry) in chunk {
                let (factory, ids, suffix, old) = (factory.clone(), doc_ids.clone(), suffix.clone(), entry.clone());
                let rewritten =
                    tokio::task::spawn_blocking(move || factory.rewrite_without(table, &old, &ids, &suffix))
                        .await
                        .map_err(|e| ArchiveError::Task { what: "rewriting a chunk", source: e })??;
                rewrite.rows_removed += rewritten.rows_removed;
                let new_path = rewritten.entry.as_ref().map(|e| e.path.clone());
                self.removals_mut().rewritten.insert(entry.path.clone(), new_path);
                rewrite.replaced.push(entry.path);
                rewrite.added.extend(rewritten.entry.map(|new| (table, new)));
            }
        }
        Ok(rewrite)
    }
}

/// What rewriting one file without some documents gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The new file, or `None` when no row remained (the old file is then only removed).
    pub entry: Option<FileEntry>,
    /// Rows left out.
    pub rows_removed: u64,
}

impl ChunkFactory {
    /// Writes a copy of `entry`, a file of `table` (`segments`, `words` or `documents`, whose first
    /// column is `doc_id`), without the rows of `doc_ids`, as this run's chunk `<run>-<suffix>`.
    /// Streams a row group at a time. Blocks on the store: call it from a blocking thread.
    pub fn rewrite_without(
        &self,
        table: Table,
        entry: &FileEntry,
        doc_ids: &HashSet<String>,
        suffix: &str,
    ) -> Result<Rewritten, ArchiveError> {
        let archive = &self.archive;
        let store = archive.store();
        let object = archive.object(&entry.path);
        let shown = archive.show(&entry.path);
        let (builder, _) = self
            .runtime
            .block_on(read_footer(&store, &object, table, entry.bytes))
            .map_err(|source| ArchiveError::FileDamaged { path: shown.clone(), source })?;
        let mut stream = builder.build().map_err(ArchiveError::parquet(&shown))?;
        let mut writer = None;
        let mut range: Option<DocRange> = None;
        let mut rows_removed = 0u64;
        while let Some(batch) = self.runtime.block_on(stream.next()) {
            let batch = batch.map_err(ArchiveError::parquet(&shown))?;
            let ids = batch.column(0).as_string::<i32>();
            let keep: BooleanArray = ids.iter().map(|id| Some(!id.is_some_and(|id| doc_ids.contains(id)))).collect();
            let kept = arrow::compute::filter_record_batch(&batch, &keep)
                .map_err(|e| ArchiveError::Arrow { table: table.name(), source: Box::new(e) })?;
            rows_removed += (batch.num_rows() - kept.num_rows()) as u64;
            if kept.num_rows() == 0 {
                continue;
            }
            let kept_ids = kept.column(0).as_string::<i32>();
            let (first, last) = (kept_ids.value(0), kept_ids.value(kept.num_rows() - 1));
            match &mut range {
                None => range = Some(DocRange { first: first.to_string(), last: last.to_string() }),
                Some(range) => range.last = last.to_string(),
            }
            if writer.is_none() {
                writer = Some(self.create(table, suffix)?);
            }
            writer.as_mut().expect("opened above").write(&kept)?;
        }
        let entry = match writer {
            Some(writer) => {
                let mut written = writer.finish()?;
                written.doc_range = entry.doc_range.as_ref().and(range);
                Some(written)
            }
            None => None,
        };
        Ok(Rewritten { entry, rows_removed })
    }
}
