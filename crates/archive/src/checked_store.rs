//! An object store that holds a snapshot's files to what the manifest says while a query engine
//! reads them. A query engine lists a table's files by asking for each one's metadata and, when a
//! file is not found, falls back to listing it as a folder, finding nothing: a lost file would read
//! as an empty one. Through this store, asking for a listed file that is missing, or whose size is
//! not the recorded one, fails with a [`DamagedFile`] error naming the table and the file, and every
//! other error reading a listed file names it too.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions,
};

use crate::Table;
use crate::integrity::{DamagedFile, FileDamage, FileToCheck};

/// The name this store gives in `object_store::Error::Generic`; the source is a [`DamagedFile`].
const STORE_NAME: &str = "verbatim archive";

/// What is known of one listed file.
#[derive(Debug)]
struct Listed {
    table: Table,
    shown: String,
    bytes: u64,
}

/// Wraps a store so that reads of a snapshot's files are checked against its manifest.
#[derive(Debug)]
pub struct CheckedStore {
    inner: Arc<dyn ObjectStore>,
    version: u64,
    listed: HashMap<Path, Listed>,
}

impl CheckedStore {
    /// `inner`, checked against the files in `files` of snapshot `version`.
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, version: u64, files: Vec<FileToCheck>) -> CheckedStore {
        let listed = files
            .into_iter()
            .map(|file| (file.object, Listed { table: file.table, shown: file.shown, bytes: file.entry.bytes }))
            .collect();
        CheckedStore { inner, version, listed }
    }

    fn damaged(&self, listed: &Listed, damage: FileDamage) -> object_store::Error {
        let damaged =
            DamagedFile { table: listed.table.name(), shown: listed.shown.clone(), version: self.version, damage };
        object_store::Error::Generic { store: STORE_NAME, source: Box::new(damaged) }
    }

    /// The error to return for `error` while reading `location`: named after the file if it is listed.
    fn name_error(&self, location: &Path, error: object_store::Error) -> object_store::Error {
        match self.listed.get(location) {
            Some(listed) => match error {
                object_store::Error::NotFound { .. } => self.damaged(listed, FileDamage::Missing),
                other => self.damaged(listed, FileDamage::Unreadable(other.to_string())),
            },
            None => error,
        }
    }
}

impl fmt::Display for CheckedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckedStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CheckedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let result = self.inner.get_opts(location, options).await.map_err(|e| self.name_error(location, e))?;
        if let Some(listed) = self.listed.get(location)
            && result.meta.size != listed.bytes
        {
            let damage = FileDamage::SizeDiffers { actual: result.meta.size, recorded: listed.bytes };
            return Err(self.damaged(listed, damage));
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await.map_err(|e| self.name_error(location, e))
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}
