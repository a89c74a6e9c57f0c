//! Opening an archive, reading its current snapshot and writing to it under the lock.

use std::collections::HashSet;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::chunk::{ChunkSettings, ChunkWriter};
use crate::location::{Location, resolve};
use crate::manifest::{FORMAT, FORMAT_VERSION, Manifest};
use crate::{ArchiveError, DocumentKeys, FileEntry, RejectKeys, Table, keys, lock};

const META_DIR: &str = "_verbatim";
/// Manifests older than the newest this many are deleted after a commit.
const MANIFESTS_KEPT: u64 = 20;

/// The format marker written once when an archive is created.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    format: String,
    format_version: u32,
    created_at: String,
}

/// An archive location. Opening one does no I/O; reading and writing do.
#[derive(Debug, Clone)]
pub struct Archive {
    location: Location,
}

/// A committed state of the archive that a reader can use while writers go on.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The manifest of this state.
    pub manifest: Manifest,
}

impl Snapshot {
    /// The committed files of `table`.
    pub fn files(&self, table: Table) -> &[FileEntry] {
        self.manifest.files(table)
    }
}

impl Archive {
    /// The archive at `location`: a local path or a `file://` URL.
    pub fn at(location: &str) -> Result<Archive, ArchiveError> {
        Ok(Archive { location: resolve(location)? })
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

    fn object(&self, relative: &str) -> Path {
        Path::from(format!("{}/{relative}", self.location.root))
    }

    /// Whether an archive exists at this location.
    pub async fn exists(&self) -> Result<bool, ArchiveError> {
        let marker = self.object(&format!("{META_DIR}/archive.json"));
        match self.location.store.head(&marker).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(ArchiveError::store(marker)(e)),
        }
    }

    /// The current committed snapshot; an error if there is no archive here.
    pub async fn snapshot(&self) -> Result<Snapshot, ArchiveError> {
        if !self.exists().await? {
            return Err(ArchiveError::NotAnArchive { location: self.display().to_string() });
        }
        let manifest = match self.latest_manifest_version().await? {
            Some(version) => self.read_manifest(version).await?,
            None => Manifest::empty(),
        };
        Ok(Snapshot { manifest })
    }

    /// Creates the archive if needed, takes the write lock, removes what killed runs left
    /// uncommitted, and returns a writer positioned at the current snapshot.
    pub async fn begin_writing(&self) -> Result<ArchiveWriter, ArchiveError> {
        self.create_if_missing().await?;
        let run_id = uuid::Uuid::now_v7().to_string();
        let lock_path = self.object(&format!("{META_DIR}/lock"));
        lock::acquire(self.location.store.as_ref(), &lock_path, &run_id, self.display()).await?;
        let writer = async {
            let snapshot = self.snapshot().await?;
            self.remove_uncommitted(&snapshot.manifest).await?;
            Ok(snapshot)
        }
        .await;
        match writer {
            Ok(snapshot) => Ok(ArchiveWriter { archive: self.clone(), run_id, manifest: snapshot.manifest, lock_path }),
            Err(e) => {
                lock::release(self.location.store.as_ref(), &lock_path).await?;
                Err(e)
            }
        }
    }

    async fn create_if_missing(&self) -> Result<(), ArchiveError> {
        if let Ok(local) = self.location.url.to_file_path() {
            std::fs::create_dir_all(&local)
                .map_err(|e| ArchiveError::Location { location: self.display().to_string(), reason: e.to_string() })?;
        }
        let marker = Marker {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let body = serde_json::to_vec_pretty(&marker).expect("marker serialises");
        let path = self.object(&format!("{META_DIR}/archive.json"));
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.location.store.put_opts(&path, body.into(), options).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(ArchiveError::store(path)(e)),
        }
    }

    async fn manifest_versions(&self) -> Result<Vec<u64>, ArchiveError> {
        let dir = self.object(&format!("{META_DIR}/manifests"));
        let objects: Vec<_> =
            self.location.store.list(Some(&dir)).try_collect().await.map_err(ArchiveError::store(&dir))?;
        Ok(objects.iter().filter_map(|o| o.location.filename()?.strip_suffix(".json")?.parse::<u64>().ok()).collect())
    }

    async fn latest_manifest_version(&self) -> Result<Option<u64>, ArchiveError> {
        Ok(self.manifest_versions().await?.into_iter().max())
    }

    async fn read_manifest(&self, version: u64) -> Result<Manifest, ArchiveError> {
        let path = self.object(&format!("{META_DIR}/manifests/{}", Manifest::file_name(version)));
        let bytes = self.location.store.get(&path).await.map_err(ArchiveError::store(&path))?;
        let bytes = bytes.bytes().await.map_err(ArchiveError::store(&path))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| ArchiveError::Corrupt { path: path.to_string(), reason: e.to_string() })?;
        if manifest.format != FORMAT || manifest.format_version > FORMAT_VERSION {
            let reason = format!(
                "format {} version {} is not readable by this build (reads {FORMAT} up to version {FORMAT_VERSION})",
                manifest.format, manifest.format_version
            );
            return Err(ArchiveError::Corrupt { path: path.to_string(), reason });
        }
        Ok(manifest)
    }

    /// Deletes table objects that the manifest does not list (left by killed runs).
    async fn remove_uncommitted(&self, manifest: &Manifest) -> Result<(), ArchiveError> {
        self.remove_local_staging_files()?;
        let committed: HashSet<&str> =
            Table::ALL.iter().flat_map(|t| manifest.files(*t)).map(|f| f.path.as_str()).collect();
        let root = self.location.root.to_string();
        for table in Table::ALL {
            let dir = self.object(table.name());
            let objects: Vec<_> =
                self.location.store.list(Some(&dir)).try_collect().await.map_err(ArchiveError::store(&dir))?;
            for object in objects {
                let path = object.location.as_ref();
                let relative = path.strip_prefix(&root).unwrap_or(path).trim_start_matches('/');
                if !committed.contains(relative) {
                    match self.location.store.delete(&object.location).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(ArchiveError::store(&object.location)(e)),
                    }
                }
            }
        }
        Ok(())
    }
}

impl Archive {
    /// On a local archive, deletes the staging files of uploads a killed run left unfinished
    /// (`<name>#<n>`): object_store's file-system backend does not list them.
    fn remove_local_staging_files(&self) -> Result<(), ArchiveError> {
        let Ok(root) = self.location.url.to_file_path() else { return Ok(()) };
        for table in Table::ALL {
            let dir = root.join(table.name());
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().contains('#') {
                    std::fs::remove_file(entry.path()).map_err(|e| ArchiveError::Location {
                        location: entry.path().display().to_string(),
                        reason: format!("cannot remove an unfinished upload: {e}"),
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// Writes to an archive while holding its lock. Chunks become visible only through [`commit`].
///
/// [`commit`]: ArchiveWriter::commit
#[derive(Debug)]
pub struct ArchiveWriter {
    archive: Archive,
    run_id: String,
    manifest: Manifest,
    lock_path: Path,
}

impl ArchiveWriter {
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

    /// Keys of the documents already committed.
    pub async fn document_keys(&self) -> Result<DocumentKeys, ArchiveError> {
        let files = self.manifest.files(Table::Documents);
        keys::document_keys(&self.archive.location.store, &self.archive.location.root, files).await
    }

    /// Keys of the rejects already committed.
    pub async fn reject_keys(&self) -> Result<RejectKeys, ArchiveError> {
        let files = self.manifest.files(Table::Rejects);
        keys::reject_keys(&self.archive.location.store, &self.archive.location.root, files).await
    }

    /// A factory for chunk writers, usable from other threads.
    pub fn chunk_factory(&self, settings: ChunkSettings, runtime: tokio::runtime::Handle) -> ChunkFactory {
        ChunkFactory { archive: self.archive.clone(), run_id: self.run_id.clone(), settings, runtime }
    }

    /// Publishes a new snapshot with these files added. Atomic: readers see all or none of them.
    pub async fn commit(&mut self, added: &[(Table, FileEntry)]) -> Result<u64, ArchiveError> {
        let next = self.manifest.next(&self.run_id, added);
        let path = self.archive.object(&format!("{META_DIR}/manifests/{}", Manifest::file_name(next.version)));
        let body = serde_json::to_vec_pretty(&next).expect("manifest serialises");
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.archive.location.store.put_opts(&path, body.into(), options).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                let location = self.archive.display().to_string();
                return Err(ArchiveError::Conflict { location, version: next.version });
            }
            Err(e) => return Err(ArchiveError::store(path)(e)),
        }
        self.manifest = next;
        self.prune_manifests().await?;
        Ok(self.manifest.version)
    }

    async fn prune_manifests(&self) -> Result<(), ArchiveError> {
        let Some(oldest_kept) = self.manifest.version.checked_sub(MANIFESTS_KEPT) else {
            return Ok(());
        };
        for version in self.archive.manifest_versions().await? {
            if version <= oldest_kept {
                let path = self.archive.object(&format!("{META_DIR}/manifests/{}", Manifest::file_name(version)));
                match self.archive.location.store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(ArchiveError::store(path)(e)),
                }
            }
        }
        Ok(())
    }

    /// Releases the lock. Uncommitted chunks stay until the next writer removes them.
    pub async fn finish(self) -> Result<(), ArchiveError> {
        lock::release(self.archive.location.store.as_ref(), &self.lock_path).await
    }
}

/// Creates chunk writers with unique names for one run; cheap to clone into worker threads.
#[derive(Debug, Clone)]
pub struct ChunkFactory {
    archive: Archive,
    run_id: String,
    settings: ChunkSettings,
    runtime: tokio::runtime::Handle,
}

impl ChunkFactory {
    /// A new chunk of `table` named `<run id>-<suffix>.parquet`; `suffix` must be unique in the run.
    pub fn create(&self, table: Table, suffix: &str) -> Result<ChunkWriter, ArchiveError> {
        let relative = format!("{}/{}-{suffix}.parquet", table.name(), self.run_id);
        let object = self.archive.object(&relative);
        let store = self.archive.location.store.clone();
        ChunkWriter::create(store, object, relative, table, &self.settings, self.runtime.clone())
    }

    /// The settings chunks are written with.
    pub fn settings(&self) -> &ChunkSettings {
        &self.settings
    }
}
