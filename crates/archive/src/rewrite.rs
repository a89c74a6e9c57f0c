//! Copy-on-write removal of documents: a chunk file that holds documents being replaced or pruned
//! is rewritten without their rows, as a new file of the writing run; the commit that adds the new
//! versions removes the old file and adds the rewritten one, so readers see the change at once.

use std::collections::HashSet;

use arrow::array::{AsArray, BooleanArray};
use futures::StreamExt;

use crate::integrity::read_footer;
use crate::{ArchiveError, ChunkFactory, DocRange, FileEntry, Table};

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
        let corrupt = |reason: String| ArchiveError::Corrupt { path: shown.clone(), reason };
        let (builder, _) = self
            .runtime
            .block_on(read_footer(&store, &object, table, entry.bytes))
            .map_err(|damage| corrupt(damage.to_string()))?;
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
