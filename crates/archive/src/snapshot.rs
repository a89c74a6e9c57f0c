//! Reading an archive: its current snapshot (or an older one that is kept), the manifests, and
//! checks that a snapshot's files are there and sound. A snapshot is read whole from one manifest,
//! so a reader never sees part of a commit; files that no manifest lists are either leftovers that
//! a run record explains or data of unknown origin, which stops readers (manifests were lost).

use std::collections::HashSet;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::archive::{META_DIR, file_name};
use crate::checked_store::CheckedStore;
use crate::error::ManifestLoss;
use crate::integrity::{CheckDepth, DamagedFile, FileToCheck, check_files};
use crate::manifest::{FORMAT, FORMAT_VERSION, Manifest};
use crate::transaction::runs::{self, RUNS_DIR};
use crate::{Archive, ArchiveError, FileEntry, Table};

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
            return Err(self.manifests_lost(ManifestLoss::RunAhead {
                run: run.id.clone(),
                version: run.committed_version.unwrap_or_default(),
                newest: latest,
                record: self.show(&format!("{RUNS_DIR}/{}.json", run.id)),
            }));
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
        Err(self.manifests_lost(ManifestLoss::NoManifest { files: unknown.len(), example: self.show(example) }))
    }

    fn manifests_lost(&self, loss: ManifestLoss) -> ArchiveError {
        ArchiveError::ManifestsLost { location: self.display().to_string(), loss }
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
    pub(crate) fn to_check(&self, table: Table, entry: &FileEntry) -> Vec<FileToCheck> {
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
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|source| ArchiveError::Metadata { path: shown.clone(), source })?;
        if manifest.format != FORMAT || manifest.format_version > FORMAT_VERSION {
            let reason = format!(
                "format {} version {} is not readable by this build (reads {FORMAT} up to version {FORMAT_VERSION})",
                manifest.format, manifest.format_version
            );
            return Err(ArchiveError::Corrupt { path: shown, reason });
        }
        Ok(manifest)
    }

    /// The snapshot of `version`, if its manifest is still kept; otherwise an error saying which
    /// versions are.
    pub async fn snapshot_at(&self, version: u64) -> Result<Snapshot, ArchiveError> {
        let current = self.snapshot().await?;
        if current.manifest.version == version {
            return Ok(current);
        }
        let versions = self.manifest_versions().await?;
        if !versions.contains(&version) {
            let kept = match (versions.iter().min(), versions.iter().max()) {
                (Some(oldest), Some(newest)) => format!("v{oldest} to v{newest}"),
                _ => "none".to_string(),
            };
            return Err(ArchiveError::NoSuchSnapshot { location: self.display().to_string(), version, kept });
        }
        Ok(Snapshot { manifest: self.read_manifest(version).await? })
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
