//! The archive handle: where an archive lives (a folder or an object store URL), how its objects
//! are named and shown to people, and the store they are read and written through. Reading
//! snapshots is in `snapshot`, writing in `transaction`.

use std::sync::Arc;

use object_store::path::{Path, PathPart};
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use crate::ArchiveError;
use crate::location::{Location, resolve};
use crate::manifest::Manifest;
use crate::transaction::LockOptions;

/// Where the archive's own metadata lives, under its root.
pub(crate) const META_DIR: &str = "_verbatim";

/// An archive location. Opening one does no I/O; reading and writing do.
#[derive(Debug, Clone)]
pub struct Archive {
    pub(crate) location: Location,
    lock: LockOptions,
}

impl Archive {
    /// The archive at `location`: a local path, a `file://` URL or an object store URL
    /// (`s3://`, `gs://`, `az://`, `abfs://`) configured from the environment.
    pub fn at(location: &str) -> Result<Archive, ArchiveError> {
        Archive::at_with(location, &[])
    }

    /// The archive at `location`, with object store settings (`aws_region`, `aws_endpoint`,
    /// `google_service_account`, …, as object_store's builders name them) that the environment's
    /// `AWS_*`, `GOOGLE_*` and `AZURE_*` variables override.
    pub fn at_with(location: &str, store_options: &[(String, String)]) -> Result<Archive, ArchiveError> {
        Ok(Archive { location: resolve(location, store_options)?, lock: LockOptions::default() })
    }

    /// The archive at `url` (ending in `/`) on `store`, e.g. an in-memory or fault-injecting store in
    /// tests. Local-only steps (page cache, staging files) apply only to `file://` URLs.
    pub fn over(store: Arc<dyn ObjectStore>, url: Url) -> Result<Archive, ArchiveError> {
        let display = url.to_string();
        let root = Path::from_url_path(url.path())
            .map_err(|e| ArchiveError::Location { location: display.clone(), source: e.into() })?;
        Ok(Archive { location: Location { store, root, url, display: display.clone() }, lock: LockOptions::default() })
    }

    /// This archive, with writers taking the lock as `options` say (how long to wait for a busy
    /// archive, the lease).
    pub fn with_lock_options(mut self, options: LockOptions) -> Archive {
        self.lock = options;
        self
    }

    /// How writers take the lock.
    pub(crate) fn lock_options(&self) -> &LockOptions {
        &self.lock
    }

    /// The store holding the archive.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.location.store.clone()
    }

    /// The archive root as a URL ending in `/`.
    pub fn url(&self) -> &Url {
        &self.location.url
    }

    /// The URL of a file given relative to the archive root.
    pub fn file_url(&self, relative: &str) -> Url {
        self.location.url.join(relative).expect("relative archive paths join onto the root URL")
    }

    /// Flushes the committed file `relative` to disk and asks the kernel to drop its pages from
    /// the page cache, so that an archive being written does not push out what is still to be
    /// read (the sources of the same run). Advisory: a no-op for stores that are not local files,
    /// and failures are ignored. Blocks until the file is on disk; call it off the hot path.
    pub fn release_page_cache(&self, relative: &str) {
        #[cfg(target_os = "linux")]
        if let Ok(path) = self.file_url(relative).to_file_path()
            && let Ok(file) = std::fs::File::open(path)
        {
            use std::os::fd::AsRawFd;
            if file.sync_data().is_ok() {
                // SAFETY: the descriptor is open for the duration of the call; the advice only
                // affects caching, never the file's contents.
                unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = relative;
    }

    /// The location as the user gave it.
    pub fn display(&self) -> &str {
        &self.location.display
    }

    /// Whether the archive is a folder of the local file system.
    pub fn is_local(&self) -> bool {
        self.location.url.scheme() == "file"
    }

    /// The object of the file `relative` (`/`-separated) to the root. Built from parts, so that the
    /// root is not encoded twice: the same object a query engine finds from [`Archive::file_url`].
    pub fn object(&self, relative: &str) -> Path {
        let parts = relative.split('/').filter(|part| !part.is_empty()).map(PathPart::from);
        Path::from_iter(self.location.root.parts().chain(parts))
    }

    /// The object of manifest `version`.
    pub(crate) fn manifest_object(&self, version: u64) -> Path {
        self.object(&format!("{META_DIR}/manifests/{}", Manifest::file_name(version)))
    }

    /// Deletes `object`; `false` when it was already gone. An error names the object.
    pub(crate) async fn delete_object(&self, object: &Path) -> Result<bool, ArchiveError> {
        match self.location.store.delete(object).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.store_error(object)(e)),
        }
    }

    /// How a person finds the file `relative` (an absolute path for local archives).
    pub fn show(&self, relative: &str) -> String {
        self.location.show(&self.object(relative))
    }

    /// How a person finds `object` (an absolute path for local archives).
    pub(crate) fn show_object(&self, object: &Path) -> String {
        self.location.show(object)
    }

    /// A store error about `object`, naming it as a person finds it.
    pub(crate) fn store_error(&self, object: &Path) -> impl FnOnce(object_store::Error) -> ArchiveError {
        ArchiveError::store(self.show_object(object))
    }
}

/// The last part of a `/`-separated path.
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
