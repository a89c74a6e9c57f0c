//! After a run died: which of its finished chunks a new ingest adopts, and which of its files are
//! leftovers to delete. Only files that a run record explains are ever touched.

use std::collections::HashSet;

use crate::archive::file_name;
use crate::integrity::{CheckDepth, check_files};
use crate::manifest::Manifest;
use crate::transaction::runs::{self, RecordedRun};
use crate::{Archive, ArchiveError, FileEntry, Snapshot, Table};

impl Archive {
    /// The staged files of `dead_runs` that `snapshot` does not list and that are sound (the
    /// recorded size, a readable footer): finished work a new run can commit instead of redoing.
    /// Only runs whose staged work was made against `snapshot` count: anything committed since
    /// (another ingest, a compaction) may have changed the files their rewrites replace.
    pub(super) async fn adoptable(&self, snapshot: &Snapshot, dead_runs: &[RecordedRun]) -> Vec<(Table, FileEntry)> {
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
    pub(super) async fn remove_leftovers(
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
                    std::fs::remove_file(entry.path()).map_err(|source| ArchiveError::Io {
                        path: entry.path().display().to_string(),
                        action: "removing an unfinished upload",
                        source,
                    })?;
                }
            }
        }
        Ok(())
    }
}
