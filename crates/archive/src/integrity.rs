//! Checking that the files a snapshot lists are there and are what the manifest says: present
//! with the recorded size, a readable footer with the recorded row count and the table's schema,
//! and (deep) every row group decoding. Used by `verify`, before a writer commits on top of a
//! snapshot, by `info`, and to name the damaged file when a query fails inside Parquet.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;

use crate::store_reader::StoreReader;
use crate::{FileEntry, Table};

/// How much of each file to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckDepth {
    /// The file exists with the recorded size (one metadata request per file).
    Presence,
    /// Also: the footer reads, its row count and schema match the manifest and the table.
    Footer,
    /// Also: every row group decodes, and the decoded rows match the manifest.
    Deep,
}

/// What is wrong with one file of a snapshot. The errors behind it are shared, so that the
/// damage can be reported both in a list and inside the error a read gives.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FileDamage {
    /// The file is gone.
    #[error("missing")]
    Missing,
    /// The file's size is not the recorded one (truncated, emptied or replaced).
    #[error("size differs from the manifest: {actual} bytes, the manifest records {recorded}")]
    SizeDiffers {
        /// The size found.
        actual: u64,
        /// The size the manifest records.
        recorded: u64,
    },
    /// The footer (Parquet metadata) cannot be read.
    #[error("unreadable footer: {0}")]
    UnreadableFooter(#[source] Arc<parquet::errors::ParquetError>),
    /// The footer's row count is not the recorded one.
    #[error("row count differs from the manifest: {actual} rows, the manifest records {recorded}")]
    RowsDiffer {
        /// The rows found.
        actual: u64,
        /// The rows the manifest records.
        recorded: u64,
    },
    /// The file's columns are not the table's.
    #[error("schema is not the table's: {0}")]
    SchemaDiffers(String),
    /// A row group does not decode.
    #[error("data does not decode: {0}")]
    Undecodable(#[source] Arc<parquet::errors::ParquetError>),
    /// A phrase index does not read or does not hold what its chunk does.
    #[error("data does not decode: {0}")]
    IndexUndecodable(#[source] Arc<crate::phrase_index::IndexError>),
    /// The store could not be asked about the file.
    #[error("cannot be read: {0}")]
    Unreadable(#[source] Arc<object_store::Error>),
}

/// A damaged file of a snapshot: which table, which file, and what is wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("table {table}: file {shown}: {damage} (listed in snapshot v{version})")]
pub struct DamagedFile {
    /// The table's name.
    pub table: &'static str,
    /// The file as a person finds it (an absolute path for local archives).
    pub shown: String,
    /// The snapshot version that lists it.
    pub version: u64,
    /// What is wrong.
    pub damage: FileDamage,
}

/// One file to check: its table, its object and its manifest entry.
#[derive(Debug, Clone)]
pub(crate) struct FileToCheck {
    pub table: Table,
    pub object: Path,
    pub shown: String,
    pub entry: FileEntry,
    /// This is the phrase index of a chunk of `entry.rows` rows, `entry.bytes` long.
    pub phrase_index: bool,
}

/// How many files are checked at once: metadata requests and footers are small; a deep check
/// holds a row group per file.
fn concurrent_checks(depth: CheckDepth) -> usize {
    if depth == CheckDepth::Deep { 2 } else { 8 }
}

/// Checks `files` to `depth`, calling `progress` with each file's recorded bytes as it is done.
/// Returns the damaged files in the order given.
pub(crate) async fn check_files(
    store: &Arc<dyn ObjectStore>,
    files: Vec<FileToCheck>,
    version: u64,
    depth: CheckDepth,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<DamagedFile> {
    let checks = futures::stream::iter(files.into_iter().enumerate().map(|(index, file)| async move {
        let damage = check_file(store, &file, depth).await;
        progress(file.entry.bytes);
        (index, damage.map(|damage| DamagedFile { table: file.table.name(), shown: file.shown, version, damage }))
    }));
    let mut found: Vec<(usize, DamagedFile)> = checks
        .buffer_unordered(concurrent_checks(depth))
        .filter_map(|(index, damage)| async move { damage.map(|d| (index, d)) })
        .collect()
        .await;
    found.sort_by_key(|(index, _)| *index);
    found.into_iter().map(|(_, damage)| damage).collect()
}

async fn check_file(store: &Arc<dyn ObjectStore>, file: &FileToCheck, depth: CheckDepth) -> Option<FileDamage> {
    let size = match store.head(&file.object).await {
        Ok(meta) => meta.size,
        Err(object_store::Error::NotFound { .. }) => return Some(FileDamage::Missing),
        Err(e) => return Some(FileDamage::Unreadable(Arc::new(e))),
    };
    if size != file.entry.bytes {
        return Some(FileDamage::SizeDiffers { actual: size, recorded: file.entry.bytes });
    }
    if depth == CheckDepth::Presence {
        return None;
    }
    if file.phrase_index {
        let deep = depth == CheckDepth::Deep;
        return crate::phrase_index::check_index(store, &file.object, size, file.entry.rows, deep)
            .await
            .err()
            .map(|e| FileDamage::IndexUndecodable(Arc::new(e)));
    }
    let (builder, rows) = match read_footer(store, &file.object, file.table, size).await {
        Ok(footer) => footer,
        Err(damage) => return Some(damage),
    };
    if rows != file.entry.rows {
        return Some(FileDamage::RowsDiffer { actual: rows, recorded: file.entry.rows });
    }
    if depth == CheckDepth::Footer {
        return None;
    }
    let stream = match builder.build() {
        Ok(stream) => stream,
        Err(e) => return Some(FileDamage::Undecodable(Arc::new(e))),
    };
    match stream.try_fold(0u64, |rows, batch| async move { Ok(rows + batch.num_rows() as u64) }).await {
        Ok(decoded) if decoded != file.entry.rows => {
            Some(FileDamage::RowsDiffer { actual: decoded, recorded: file.entry.rows })
        }
        Ok(_) => None,
        Err(e) => Some(FileDamage::Undecodable(Arc::new(e))),
    }
}

/// Reads the footer of `object` (`size` bytes), a file of `table`: a reader ready to decode it and
/// its row count, or what is wrong with it.
pub(crate) async fn read_footer(
    store: &Arc<dyn ObjectStore>,
    object: &Path,
    table: Table,
    size: u64,
) -> Result<(ParquetRecordBatchStreamBuilder<StoreReader>, u64), FileDamage> {
    let reader = StoreReader::new(store.clone(), object.clone(), size);
    let builder =
        ParquetRecordBatchStreamBuilder::new(reader).await.map_err(|e| FileDamage::UnreadableFooter(Arc::new(e)))?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    if let Some(reason) = schema_difference(table, builder.schema()) {
        return Err(FileDamage::SchemaDiffers(reason));
    }
    Ok((builder, rows))
}

/// Why `found` is not `table`'s schema (names and types, in order), if it is not.
pub(crate) fn schema_difference(table: Table, found: &arrow::datatypes::SchemaRef) -> Option<String> {
    let expected = table.schema();
    let columns = |schema: &arrow::datatypes::Schema| {
        schema.fields().iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect::<Vec<_>>()
    };
    let (expected, found) = (columns(&expected), columns(found));
    (expected != found).then(|| format!("columns [{}], expected [{}]", found.join(", "), expected.join(", ")))
}
