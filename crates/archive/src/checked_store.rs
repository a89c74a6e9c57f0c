//! An object store that holds a snapshot's files to what the manifest says while a query engine
//! reads them. A query engine lists a table's files by asking for each one's metadata and, when a
//! file is not found, falls back to listing it as a folder, finding nothing: a lost file would read
//! as an empty one. Through this store, asking for a listed file that is missing, or whose size is
//! not the recorded one, fails with a [`DamagedFile`] error naming the table and the file, and every
//! other error reading a listed file names it too.
//!
//! [`GuardedStore`] is the mechanism: a store passing everything through to another, whose reads
//! a [`ReadCheck`] judges. Other checks (a cluster's stores, which know no snapshot) use it too.

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

/// What a [`GuardedStore`] checks on the reads it passes through.
pub trait ReadCheck: fmt::Debug + Send + Sync + 'static {
    /// The name the store shows (`Name(inner store)`).
    fn name(&self) -> &'static str;

    /// The error to return for `error` while reading `location`.
    fn read_error(&self, location: &Path, error: object_store::Error) -> object_store::Error;

    /// Checks a successful read of the file at `location` (`meta` is what the store says of it).
    fn check_read(&self, _location: &Path, _meta: &ObjectMeta) -> object_store::Result<()> {
        Ok(())
    }
}

/// A store that passes every call through to `inner`, with reads judged by a [`ReadCheck`].
#[derive(Debug)]
pub struct GuardedStore<C> {
    inner: Arc<dyn ObjectStore>,
    check: C,
}

impl<C: ReadCheck> GuardedStore<C> {
    /// `inner`, its reads judged by `check`.
    pub fn new(inner: Arc<dyn ObjectStore>, check: C) -> GuardedStore<C> {
        GuardedStore { inner, check }
    }
}

/// Checks reads of a snapshot's files against its manifest.
pub type CheckedStore = GuardedStore<SnapshotFiles>;

/// The files of one snapshot, as its manifest lists them.
#[derive(Debug)]
pub struct SnapshotFiles {
    version: u64,
    listed: HashMap<Path, Listed>,
}

impl CheckedStore {
    /// `inner`, checked against the files in `files` of snapshot `version`.
    pub(crate) fn checking(inner: Arc<dyn ObjectStore>, version: u64, files: Vec<FileToCheck>) -> CheckedStore {
        let listed = files
            .into_iter()
            .map(|file| (file.object, Listed { table: file.table, shown: file.shown, bytes: file.entry.bytes }))
            .collect();
        GuardedStore::new(inner, SnapshotFiles { version, listed })
    }
}

impl SnapshotFiles {
    fn damaged(&self, listed: &Listed, damage: FileDamage) -> object_store::Error {
        let damaged =
            DamagedFile { table: listed.table.name(), shown: listed.shown.clone(), version: self.version, damage };
        object_store::Error::Generic { store: STORE_NAME, source: Box::new(damaged) }
    }
}

impl ReadCheck for SnapshotFiles {
    fn name(&self) -> &'static str {
        "CheckedStore"
    }

    /// Named after the file if it is listed.
    fn read_error(&self, location: &Path, error: object_store::Error) -> object_store::Error {
        match self.listed.get(location) {
            Some(listed) => match error {
                object_store::Error::NotFound { .. } => self.damaged(listed, FileDamage::Missing),
                other => self.damaged(listed, FileDamage::Unreadable(Arc::new(other))),
            },
            None => error,
        }
    }

    /// A listed file must have its recorded size.
    fn check_read(&self, location: &Path, meta: &ObjectMeta) -> object_store::Result<()> {
        match self.listed.get(location) {
            Some(listed) if meta.size != listed.bytes => {
                let damage = FileDamage::SizeDiffers { actual: meta.size, recorded: listed.bytes };
                Err(self.damaged(listed, damage))
            }
            _ => Ok(()),
        }
    }
}

impl<C: ReadCheck> fmt::Display for GuardedStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.check.name(), self.inner)
    }
}

#[async_trait]
impl<C: ReadCheck> ObjectStore for GuardedStore<C> {
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
        let result = self.inner.get_opts(location, options).await.map_err(|e| self.check.read_error(location, e))?;
        self.check.check_read(location, &result.meta)?;
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await.map_err(|e| self.check.read_error(location, e))
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
