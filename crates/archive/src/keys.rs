//! Keys of what an archive already holds, read from its committed chunks, so that ingesting the
//! same sources again adds nothing.

use std::collections::{HashMap, HashSet};

use arrow::array::{Array, AsArray, RecordBatch};
use object_store::ObjectStoreExt;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{Archive, ArchiveError, FileEntry};

/// Content hash of every committed document, by document id.
#[derive(Debug, Default, Clone)]
pub struct DocumentKeys {
    hashes: HashMap<String, String>,
}

impl DocumentKeys {
    /// The content hash stored for `doc_id`, if the archive has that document.
    pub fn hash_of(&self, doc_id: &str) -> Option<&str> {
        self.hashes.get(doc_id).map(String::as_str)
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the archive has no documents.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// The (source, content hash) pairs already recorded as rejects.
#[derive(Debug, Default, Clone)]
pub struct RejectKeys {
    keys: HashSet<(String, String)>,
}

impl RejectKeys {
    /// Whether this source with this content was already recorded as rejected.
    pub fn contains(&self, source: &str, content_hash: &str) -> bool {
        self.keys.contains(&(source.to_string(), content_hash.to_string()))
    }
}

/// Reads the document keys from `documents` chunk files.
pub(crate) async fn document_keys(archive: &Archive, files: &[FileEntry]) -> Result<DocumentKeys, ArchiveError> {
    let mut keys = DocumentKeys::default();
    read_pairs(archive, files, ["doc_id", "content_hash"], |doc_id, hash| {
        if let Some(hash) = hash {
            keys.hashes.insert(doc_id.to_string(), hash.to_string());
        }
    })
    .await?;
    Ok(keys)
}

/// Reads the reject keys from `rejects` chunk files.
pub(crate) async fn reject_keys(archive: &Archive, files: &[FileEntry]) -> Result<RejectKeys, ArchiveError> {
    let mut keys = RejectKeys::default();
    read_pairs(archive, files, ["source", "content_hash"], |source, hash| {
        if let Some(hash) = hash {
            keys.keys.insert((source.to_string(), hash.to_string()));
        }
    })
    .await?;
    Ok(keys)
}

/// Reads two string columns (the second nullable) of every file into `each`. These files hold one
/// small row per document or reject, so each is fetched whole.
async fn read_pairs(
    archive: &Archive,
    files: &[FileEntry],
    columns: [&str; 2],
    mut each: impl FnMut(&str, Option<&str>),
) -> Result<(), ArchiveError> {
    let store = archive.store();
    for file in files {
        let object = archive.object(&file.path);
        let shown = archive.show(&file.path);
        let wrap = ArchiveError::parquet;
        let result = store.get(&object).await.map_err(ArchiveError::store(&shown))?;
        let bytes = result.bytes().await.map_err(ArchiveError::store(&shown))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(wrap(&shown))?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), columns);
        let reader = builder.with_projection(mask).build().map_err(wrap(&shown))?;
        for batch in reader {
            let batch = batch.map_err(|e| ArchiveError::Parquet { path: shown.clone(), source: Box::new(e.into()) })?;
            visit_pairs(&batch, &mut each);
        }
    }
    Ok(())
}

fn visit_pairs(batch: &RecordBatch, each: &mut impl FnMut(&str, Option<&str>)) {
    let first = batch.column(0).as_string::<i32>();
    let second = batch.column(1).as_string::<i32>();
    for row in 0..batch.num_rows() {
        let value = (!second.is_null(row)).then(|| second.value(row));
        each(first.value(row), value);
    }
}
