//! Opening an archive, reading its current snapshot and writing to it under the lock.

use std::collections::HashSet;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::{Path, PathPart};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::checked_store::CheckedStore;
use crate::chunk::{ChunkSettings, ChunkWriter};
use crate::integrity::{CheckDepth, DamagedFile, FileToCheck, check_files};
use crate::keys::{DocumentIndex, RejectKeys};
use crate::location::{Location, resolve};
use crate::lock::{Lease, LockOptions};
use crate::manifest::{Changes, FORMAT, FORMAT_VERSION, Manifest};
use crate::runs::{RUNS_DIR, RecordedRun, RunState, StagedFile};
use crate::{ArchiveError, FileEntry, Table, keys, lock, runs};

const META_DIR: &str = "_verbatim";
/// The write lock, under the archive root.
pub(crate) const LOCK: &str = "_verbatim/lock";

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
    lock: LockOptions,
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

    /// Every committed file with its table.
    pub fn all_files(&self) -> impl Iterator<Item = (Table, &FileEntry)> {
        self.manifest.all_files()
    }
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
        let error = |reason: String| ArchiveError::Location { location: display.clone(), reason };
        let root = Path::from_url_path(url.path()).map_err(|e| error(e.to_string()))?;
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

    /// Publishes `manifest` under its version, failing with [`ArchiveError::Conflict`] if that
    /// version exists (`PutMode::Create`): the one atomic step that makes a snapshot current.
    pub(crate) async fn publish(&self, manifest: &Manifest) -> Result<(), ArchiveError> {
        let path = self.manifest_object(manifest.version);
        let body = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.location.store.put_opts(&path, body.into(), options).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(ArchiveError::Conflict { location: self.display().to_string(), version: manifest.version })
            }
            Err(e) => Err(self.store_error(&path)(e)),
        }
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

    /// Whether an archive exists at this location.
    pub async fn exists(&self) -> Result<bool, ArchiveError> {
        let marker = self.object(&format!("{META_DIR}/archive.json"));
        match self.location.store.head(&marker).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.store_error(&marker)(e)),
        }
    }

    /// The current committed snapshot; an error if there is no archive here, or if the archive
    /// shows that manifests were lost (table files but no manifest, or a run record of a version
    /// newer than the newest manifest): answering from an older snapshot would be silently wrong.
    pub async fn snapshot(&self) -> Result<Snapshot, ArchiveError> {
        if !self.exists().await? {
            return Err(ArchiveError::NotAnArchive { location: self.display().to_string() });
        }
        // Records first, manifests second: a writer publishes a manifest before it records the
        // version, so a record ahead of the manifests read afterwards proves a loss.
        let runs = runs::recorded(self).await?;
        let latest = self.latest_manifest_version().await?;
        if let Some(run) = runs.iter().find(|run| run.committed_version > latest) {
            let record = self.show(&format!("{RUNS_DIR}/{}.json", run.id));
            let newest = latest.map_or("there is none".to_string(), |v| format!("the newest is v{v}"));
            return Err(self.manifests_lost(format!(
                "run {} published snapshot v{} but {newest}; restore _verbatim/manifests from a copy, or delete {record} to accept the older snapshot",
                run.id,
                run.committed_version.unwrap_or_default()
            )));
        }
        if let Some(version) = latest {
            return Ok(Snapshot { manifest: self.read_manifest(version).await? });
        }
        let unknown = self.files_of_unknown_origin(&HashSet::new(), 0).await?;
        let Some(example) = unknown.first() else { return Ok(Snapshot { manifest: Manifest::empty() }) };
        // A first run may have committed (and dropped its record) while we listed.
        if let Some(version) = self.latest_manifest_version().await? {
            return Ok(Snapshot { manifest: self.read_manifest(version).await? });
        }
        Err(self.manifests_lost(format!(
            "it has {} table files (e.g. {}) but no manifest; `verbatim recover --archive {}` rebuilds one from them",
            unknown.len(),
            self.show(example),
            self.display()
        )))
    }

    fn manifests_lost(&self, reason: String) -> ArchiveError {
        ArchiveError::ManifestsLost { location: self.display().to_string(), reason }
    }

    /// Checks the files of `snapshot` to `depth`, calling `progress` with each file's bytes as it is
    /// checked; returns every damaged file.
    pub async fn check_snapshot(
        &self,
        snapshot: &Snapshot,
        depth: CheckDepth,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Vec<DamagedFile> {
        check_files(&self.location.store, self.files_to_check(snapshot), snapshot.manifest.version, depth, progress)
            .await
    }

    /// Fails with every damaged file if any file of `snapshot` does not pass a check to `depth`.
    pub async fn ensure_sound(&self, snapshot: &Snapshot, depth: CheckDepth) -> Result<(), ArchiveError> {
        let damaged = self.check_snapshot(snapshot, depth, &|_| {}).await;
        if damaged.is_empty() {
            return Ok(());
        }
        Err(ArchiveError::Damaged { location: self.display().to_string(), files: damaged })
    }

    /// The archive's store wrapped so that reading the files of `snapshot` fails, naming the file,
    /// when one is missing or not its recorded size (see [`CheckedStore`]). For query engines.
    pub fn checked_store(&self, snapshot: &Snapshot) -> Arc<dyn ObjectStore> {
        let files = self.files_to_check(snapshot);
        Arc::new(CheckedStore::checking(self.location.store.clone(), snapshot.manifest.version, files))
    }

    /// The files of `snapshot` with their objects and how they are shown.
    fn files_to_check(&self, snapshot: &Snapshot) -> Vec<FileToCheck> {
        snapshot.all_files().flat_map(|(table, entry)| self.to_check(table, entry)).collect()
    }

    /// The checks of one chunk file: the file, and its phrase index if it has one.
    fn to_check(&self, table: Table, entry: &FileEntry) -> Vec<FileToCheck> {
        let chunk = FileToCheck {
            table,
            object: self.object(&entry.path),
            shown: self.show(&entry.path),
            entry: entry.clone(),
            phrase_index: false,
        };
        let index = entry.phrase_index.iter().map(|index| FileToCheck {
            table,
            object: self.object(&index.path),
            shown: self.show(&index.path),
            entry: FileEntry {
                path: index.path.clone(),
                rows: entry.rows,
                bytes: index.bytes,
                doc_range: None,
                phrase_index: None,
            },
            phrase_index: true,
        });
        std::iter::once(chunk).chain(index).collect()
    }

    /// Creates the archive if needed, takes the write lock, removes what killed runs left
    /// uncommitted, and returns a writer positioned at the current snapshot. `operation` (`ingest`,
    /// `compact`, …) is recorded in the manifests it commits.
    pub async fn begin_writing(&self, operation: &str) -> Result<ArchiveWriter, ArchiveError> {
        self.create_if_missing().await?;
        let run_id = uuid::Uuid::now_v7().to_string();
        let lock_path = self.object(LOCK);
        let shown_lock = self.location.show(&lock_path);
        lock::acquire(self.location.store.as_ref(), &lock_path, &run_id, self.display(), &shown_lock, &self.lock)
            .await?;
        let lease = Lease::keep(self.location.store.clone(), lock_path.clone(), run_id.clone(), self.lock.lease);
        let writer = async {
            // Every recorded run but this one is dead: this run holds the lock.
            let dead_runs = runs::recorded(self).await?;
            runs::begin(self, &run_id, &RunState::default()).await?;
            let snapshot = self.snapshot().await?;
            // Never commit on top of a snapshot that has lost data: every file is there, with the
            // recorded size, and its footer reads (a few KiB per file).
            self.ensure_sound(&snapshot, CheckDepth::Footer).await?;
            // Only an ingest takes over what killed ingests finished; other writers remove it.
            let adopted = if operation == "ingest" { self.adoptable(&snapshot, &dead_runs).await } else { Vec::new() };
            let state = RunState {
                committed_version: None,
                staged: adopted.iter().map(|(table, entry)| StagedFile::new(*table, entry.clone(), false)).collect(),
                base_version: snapshot.manifest.version,
            };
            // Recorded as this run's before the dead runs' records go.
            runs::update(self, &run_id, &state).await?;
            self.remove_leftovers(&snapshot.manifest, &dead_runs, &adopted).await?;
            Ok((snapshot, state, adopted))
        }
        .await;
        match writer {
            Ok((snapshot, state, adopted)) => Ok(ArchiveWriter {
                archive: self.clone(),
                run_id,
                operation: operation.to_string(),
                manifest: snapshot.manifest,
                lock_path,
                lease,
                state,
                adopted,
            }),
            Err(e) => {
                // The run wrote nothing: drop its record, and release the lock whatever happens.
                let mut lease = lease;
                lease.stop().await;
                let ended = runs::end(self, &run_id).await;
                let store = self.location.store.as_ref();
                let released = match lock::holds(store, &lock_path, &run_id).await {
                    Ok(true) => lock::release(store, &lock_path, &shown_lock).await,
                    Ok(false) => Ok(()),
                    Err(e) => Err(ArchiveError::store(&shown_lock)(e)),
                };
                ended.and(released)?;
                Err(e)
            }
        }
    }

    pub(crate) async fn create_if_missing(&self) -> Result<(), ArchiveError> {
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
            Err(e) => Err(self.store_error(&path)(e)),
        }
    }

    pub(crate) async fn manifest_versions(&self) -> Result<Vec<u64>, ArchiveError> {
        let dir = self.object(&format!("{META_DIR}/manifests"));
        let objects: Vec<_> =
            self.location.store.list(Some(&dir)).try_collect().await.map_err(self.store_error(&dir))?;
        Ok(objects.iter().filter_map(|o| o.location.filename()?.strip_suffix(".json")?.parse::<u64>().ok()).collect())
    }

    pub(crate) async fn latest_manifest_version(&self) -> Result<Option<u64>, ArchiveError> {
        Ok(self.manifest_versions().await?.into_iter().max())
    }

    pub(crate) async fn read_manifest(&self, version: u64) -> Result<Manifest, ArchiveError> {
        let path = self.manifest_object(version);
        let shown = self.location.show(&path);
        let bytes = self.location.store.get(&path).await.map_err(self.store_error(&path))?;
        let bytes = bytes.bytes().await.map_err(self.store_error(&path))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| ArchiveError::Corrupt { path: shown.clone(), reason: e.to_string() })?;
        if manifest.format != FORMAT || manifest.format_version > FORMAT_VERSION {
            let reason = format!(
                "format {} version {} is not readable by this build (reads {FORMAT} up to version {FORMAT_VERSION})",
                manifest.format, manifest.format_version
            );
            return Err(ArchiveError::Corrupt { path: shown, reason });
        }
        Ok(manifest)
    }

    /// The staged files of `dead_runs` that `snapshot` does not list and that are sound (the
    /// recorded size, a readable footer): finished work a new run can commit instead of redoing.
    /// Only runs whose staged work was made against `snapshot` count: anything committed since
    /// (another ingest, a compaction) may have changed the files their rewrites replace.
    async fn adoptable(&self, snapshot: &Snapshot, dead_runs: &[RecordedRun]) -> Vec<(Table, FileEntry)> {
        let committed: HashSet<&str> = snapshot.all_files().map(|(_, f)| f.path.as_str()).collect();
        let mut seen = HashSet::new();
        let candidates: Vec<(Table, FileEntry)> = dead_runs
            .iter()
            .filter(|run| run.base_version == snapshot.manifest.version)
            .flat_map(|run| &run.staged)
            .filter(|staged| !staged.replaces)
            .filter(|staged| !committed.contains(staged.entry.path.as_str()) && seen.insert(staged.entry.path.clone()))
            .filter_map(|staged| Some((staged.table()?, staged.entry.clone())))
            .collect();
        let checks = candidates.iter().flat_map(|(table, entry)| self.to_check(*table, entry)).collect();
        let damaged: HashSet<String> =
            check_files(&self.location.store, checks, snapshot.manifest.version, CheckDepth::Footer, &|_| {})
                .await
                .into_iter()
                .map(|file| file.shown)
                .collect();
        candidates
            .into_iter()
            .filter(|(_, entry)| entry.objects().all(|(path, _)| !damaged.contains(&self.show(path))))
            .collect()
    }

    /// Deletes what dead runs left: their chunk files that `manifest` does not list and that were
    /// not `adopted`, then their run records. Only files named after a run in `dead_runs` or staged
    /// by one are touched; a file of unknown origin is never deleted. [`Archive::snapshot`] has made
    /// sure that no dead run published a version newer than `manifest`, so what it does not list of
    /// theirs was never committed.
    async fn remove_leftovers(
        &self,
        manifest: &Manifest,
        dead_runs: &[RecordedRun],
        adopted: &[(Table, FileEntry)],
    ) -> Result<(), ArchiveError> {
        if dead_runs.is_empty() {
            return Ok(());
        }
        let dead: HashSet<&str> = dead_runs.iter().map(|run| run.id.as_str()).collect();
        let staged: HashSet<&str> = dead_runs
            .iter()
            .flat_map(|run| &run.staged)
            .flat_map(|staged| staged.entry.objects().map(|(path, _)| path))
            .collect();
        self.remove_local_staging_files(&dead)?;
        // Whatever any kept manifest lists or removed stays: a retained older snapshot may still
        // need it (a run that committed, then compacted, then died), and vacuum owns it.
        let paths = |entry: &FileEntry| entry.objects().map(|(path, _)| path.to_string()).collect::<Vec<_>>();
        let mut kept: HashSet<String> = manifest
            .all_files()
            .chain(adopted.iter().map(|(table, f)| (*table, f)))
            .flat_map(|(_, f)| paths(f))
            .collect();
        for version in self.manifest_versions().await? {
            if version != manifest.version {
                let older = self.read_manifest(version).await?;
                kept.extend(older.all_files().flat_map(|(_, f)| paths(f)));
            }
        }
        kept.extend(manifest.commit.iter().flat_map(|c| &c.removed).flat_map(paths));
        for (relative, object) in self.table_objects().await? {
            let of_dead_run = runs::run_of(file_name(&relative)).is_some_and(|run| dead.contains(run))
                || staged.contains(relative.as_str());
            if of_dead_run && !kept.contains(&relative) {
                self.delete_object(&object).await?;
            }
        }
        for run in dead_runs {
            runs::end(self, &run.id).await?;
        }
        Ok(())
    }

    /// Every object under the table folders, as (path relative to the root, object path).
    pub(crate) async fn table_objects(&self) -> Result<Vec<(String, Path)>, ArchiveError> {
        let root = self.location.root.to_string();
        let mut found = Vec::new();
        for table in Table::ALL {
            let dir = self.object(table.name());
            let objects: Vec<_> =
                self.location.store.list(Some(&dir)).try_collect().await.map_err(self.store_error(&dir))?;
            for object in objects {
                let path = object.location.as_ref();
                let relative = path.strip_prefix(&root).unwrap_or(path).trim_start_matches('/').to_string();
                found.push((relative, object.location));
            }
        }
        Ok(found)
    }

    /// Table files (relative paths) that are not in `listed` and that no run record explains as a
    /// leftover: a file is explained when its run has a record and published no version newer than
    /// `latest` (so the file was never committed). Sorted. The tables are listed before the records
    /// are read: a run records itself before it writes, so no file of a live run is missed.
    pub(crate) async fn files_of_unknown_origin(
        &self,
        listed: &HashSet<String>,
        latest: u64,
    ) -> Result<Vec<String>, ArchiveError> {
        self.unexplained(self.table_objects().await?, listed, latest).await
    }

    /// [`Archive::files_of_unknown_origin`] among `objects`, which must have been listed before
    /// this reads the run records.
    pub(crate) async fn unexplained(
        &self,
        objects: Vec<(String, Path)>,
        listed: &HashSet<String>,
        latest: u64,
    ) -> Result<Vec<String>, ArchiveError> {
        let recorded = runs::recorded(self).await?;
        let staged: HashSet<String> = recorded
            .iter()
            .flat_map(|run| &run.staged)
            .flat_map(|staged| staged.entry.objects().map(|(path, _)| path.to_string()))
            .collect();
        let leftovers_of: HashSet<String> =
            recorded.into_iter().filter(|run| run.committed_version.unwrap_or(0) <= latest).map(|run| run.id).collect();
        let mut unknown: Vec<String> = objects
            .into_iter()
            .map(|(relative, _)| relative)
            .filter(|relative| {
                let name = file_name(relative);
                !listed.contains(relative)
                    && !staged.contains(relative)
                    && !runs::run_of(name).is_some_and(|run| leftovers_of.contains(run))
            })
            .collect();
        unknown.sort();
        Ok(unknown)
    }
}

impl Archive {
    /// On a local archive, deletes the staging files of uploads that dead runs left unfinished
    /// (`<run>-<suffix>.parquet#<n>`): object_store's file-system backend does not list them.
    fn remove_local_staging_files(&self, dead_runs: &HashSet<&str>) -> Result<(), ArchiveError> {
        let Ok(root) = self.location.url.to_file_path() else { return Ok(()) };
        for table in Table::ALL {
            let dir = root.join(table.name());
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let of_dead_run = runs::run_of(&name).is_some_and(|run| dead_runs.contains(run));
                if of_dead_run && name.contains('#') {
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
    operation: String,
    manifest: Manifest,
    lock_path: Path,
    lease: Lease,
    /// What the run record says: the last version published and the staged files.
    state: RunState,
    /// Staged files of dead runs that this run took over (they are in `state.staged` too).
    adopted: Vec<(Table, FileEntry)>,
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
        let segment_ranges: std::collections::HashMap<&str, &crate::DocRange> = self
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
    pub fn chunk_files(&self, documents_file: &str) -> Vec<(Table, FileEntry)> {
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
    /// them instead of redoing them. Files that `replace` archived data (rewrites, new versions of
    /// archived documents) are recorded too, so that they are known as this run's, but never
    /// adopted: the removals that must go with them are known only to this run.
    pub async fn stage(&mut self, files: &[(Table, FileEntry)], replace: bool) -> Result<(), ArchiveError> {
        self.state.staged.extend(files.iter().map(|(table, entry)| StagedFile::new(*table, entry.clone(), replace)));
        runs::update(&self.archive, &self.run_id, &self.state).await
    }

    /// Drops staged (never committed) files that this run replaced: out of the run record first,
    /// then out of the store.
    pub async fn discard_staged(&mut self, paths: &HashSet<String>) -> Result<(), ArchiveError> {
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

    /// A factory for chunk writers, usable from other threads.
    pub fn chunk_factory(&self, settings: ChunkSettings, runtime: tokio::runtime::Handle) -> ChunkFactory {
        ChunkFactory { archive: self.archive.clone(), run_id: self.run_id.clone(), settings, runtime }
    }

    /// Publishes a new snapshot with `changes` applied. Atomic: readers see all of it or none.
    /// Removed files stay in the store until `vacuum` finds no retained snapshot that lists them.
    pub async fn commit(&mut self, changes: &Changes) -> Result<u64, ArchiveError> {
        let operation = self.operation.clone();
        self.commit_as(&operation, changes).await
    }

    /// [`ArchiveWriter::commit`], recording `operation` rather than the run's (a compaction at the
    /// end of an ingest).
    pub(crate) async fn commit_as(&mut self, operation: &str, changes: &Changes) -> Result<u64, ArchiveError> {
        let next = self.manifest.next(&self.run_id, operation, changes);
        self.ensure_lock_held().await?;
        self.archive.publish(&next).await?;
        self.manifest = next;
        let added: HashSet<&str> = changes.added.iter().map(|(_, entry)| entry.path.as_str()).collect();
        self.state.staged.retain(|staged| !added.contains(staged.entry.path.as_str()));
        self.adopted.retain(|(_, entry)| !added.contains(entry.path.as_str()));
        self.state.committed_version = Some(self.manifest.version);
        self.state.base_version = self.manifest.version;
        runs::update(&self.archive, &self.run_id, &self.state).await?;
        Ok(self.manifest.version)
    }

    /// Fails with [`ArchiveError::LockLost`] unless this run still holds the lock.
    async fn ensure_lock_held(&self) -> Result<(), ArchiveError> {
        let store = self.archive.location.store.as_ref();
        let held = !self.lease.lost()
            && lock::holds(store, &self.lock_path, &self.run_id)
                .await
                .map_err(self.archive.store_error(&self.lock_path))?;
        if held {
            return Ok(());
        }
        Err(ArchiveError::LockLost {
            location: self.archive.display().to_string(),
            lock_path: self.archive.show_object(&self.lock_path),
        })
    }

    /// Ends the run: deletes its run record and releases the lock. Call it only when every chunk
    /// the run wrote is committed or deleted; otherwise drop the writer and the next writer
    /// removes the leftovers (the record says whose they are).
    pub async fn finish(mut self) -> Result<(), ArchiveError> {
        let ended = runs::end(&self.archive, &self.run_id).await;
        let released = self.release_lock().await;
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
    pub async fn abandon(mut self) -> Result<(), ArchiveError> {
        self.release_lock().await
    }

    /// Stops renewing the lease and deletes the lock, if it is still this run's.
    async fn release_lock(&mut self) -> Result<(), ArchiveError> {
        self.lease.stop().await;
        let store = self.archive.location.store.as_ref();
        let shown = self.archive.location.show(&self.lock_path);
        if lock::holds(store, &self.lock_path, &self.run_id).await.map_err(ArchiveError::store(&shown))? {
            lock::release(store, &self.lock_path, &shown).await?;
        }
        Ok(())
    }
}

/// The last part of a `/`-separated path.
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
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
        let object = self.archive.object(&relative);
        let store = self.archive.location.store.clone();
        ChunkWriter::create(store, object, relative, table, &self.settings, self.runtime.clone())
    }

    /// The settings chunks are written with.
    pub fn settings(&self) -> &ChunkSettings {
        &self.settings
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    fn in_memory() -> (Archive, Arc<dyn ObjectStore>) {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let url = Url::parse("memory:///archive/").expect("url");
        (Archive::over(store.clone(), url).expect("archive"), store)
    }

    #[tokio::test]
    async fn a_writer_leaves_no_record_and_data_of_unknown_origin_stops_readers() {
        let (archive, store) = in_memory();
        archive.begin_writing("test").await.expect("writer").finish().await.expect("finish");
        assert_eq!(archive.snapshot().await.expect("snapshot").manifest.version, 0);
        assert!(runs::recorded(&archive).await.expect("records").is_empty());
        // A table file appears with no manifest: data nothing explains.
        let object = archive.object("segments/part-0.parquet");
        store.put(&object, b"data".to_vec().into()).await.expect("put");
        let error = archive.snapshot().await.expect_err("lost manifests").to_string();
        assert!(error.contains("has lost manifests") && error.contains("segments/part-0.parquet"), "{error}");
        let error = archive.begin_writing("test").await.expect_err("no writer on top").to_string();
        assert!(error.contains("has lost manifests"), "{error}");
        assert!(store.head(&object).await.is_ok(), "nothing was deleted");
        assert!(runs::recorded(&archive).await.expect("records").is_empty(), "the refused writer left no record");
    }
}
