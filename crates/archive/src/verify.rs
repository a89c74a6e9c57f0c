//! `verify` and `recover`: a whole-archive check of metadata and data, and rebuilding a manifest
//! from the table files' own footers when every manifest was lost.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use object_store::ObjectStoreExt;

use crate::archive::file_name;
use crate::integrity::{CheckDepth, read_footer};
use crate::manifest::{Changes, Manifest};
use crate::transaction::Operation;
use crate::transaction::lock::HeldLock;
use crate::transaction::runs::{self, RUNS_DIR};

/// How chunk `name` sorts by age: its run (UUIDv7, so by time), then within the run plain chunks,
/// then rewrites (`-rewrite-`, made at commit time from older chunks), then compaction outputs
/// (`-compact-<pass>-`, made from all of these), then the name.
fn age_order(name: &str) -> (&str, u8, &str) {
    let run = runs::run_of(name).unwrap_or("");
    let rest = &name[run.len()..];
    let stage = if rest.starts_with("-compact-") {
        2
    } else if rest.starts_with("-rewrite-") {
        1
    } else {
        0
    };
    (run, stage, name)
}
use crate::{Archive, ArchiveError, FileEntry, IndexFile, Snapshot, Table, phrase_index};

/// What [`Archive::verify`] found.
#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    /// The current snapshot's version, when its manifest reads.
    pub version: Option<u64>,
    /// Manifests found.
    pub manifests: usize,
    /// Files of the current snapshot checked.
    pub files_checked: usize,
    /// Their recorded bytes.
    pub bytes_checked: u64,
    /// Rows per table that the current snapshot records.
    pub rows: Vec<(Table, u64)>,
    /// What is wrong, one line each. Empty for a sound archive.
    pub problems: Vec<String>,
    /// What is worth knowing but not wrong (e.g. files no snapshot lists, of unknown origin).
    pub notes: Vec<String>,
}

/// What [`Archive::recover`] did.
#[derive(Debug, Default, Clone)]
pub struct RecoverReport {
    /// The version of the manifest published, or `None` when nothing was published.
    pub version: Option<u64>,
    /// The newest manifest, when there was one (then there is nothing to recover).
    pub existing_version: Option<u64>,
    /// The files listed in the new manifest.
    pub recovered: Vec<(Table, FileEntry)>,
    /// Files left out (and left in place), with the reason.
    pub skipped: Vec<String>,
    /// Files left out (and in place) because every document in them has a newer copy: older
    /// versions that a vacuum had not deleted yet.
    pub superseded: Vec<String>,
}

impl Archive {
    /// Checks the archive: its marker, every manifest (readable, no file listed twice), table files
    /// that no manifest explains, and the current snapshot's files to `depth`. `progress` is called
    /// with (bytes checked, bytes to check) as files are done. Reads in bounded memory: one row
    /// group at a time per file, a few files at a time.
    pub async fn verify(
        &self,
        depth: CheckDepth,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<VerifyReport, ArchiveError> {
        let mut report = VerifyReport::default();
        let versions = self.manifest_versions().await?;
        let table_objects = self.table_objects().await?;
        if !self.exists().await? {
            if versions.is_empty() && table_objects.is_empty() {
                return Err(ArchiveError::NotAnArchive { location: self.display().to_string() });
            }
            report.problems.push(format!("{}: the format marker is missing", self.show("_verbatim/archive.json")));
        }
        report.manifests = versions.len();
        let mut listed_anywhere: HashSet<String> = HashSet::new();
        let mut current = None;
        let latest = versions.iter().max().copied();
        for version in versions {
            match self.read_manifest(version).await {
                Ok(manifest) => {
                    report.problems.extend(self.files_listed_twice(&manifest));
                    let listed = manifest.all_files().flat_map(|(_, f)| f.objects());
                    listed_anywhere.extend(listed.map(|(path, _)| path.to_string()));
                    let removed = manifest.commit.iter().flat_map(|commit| &commit.removed);
                    listed_anywhere.extend(removed.flat_map(FileEntry::objects).map(|(path, _)| path.to_string()));
                    if Some(version) == latest {
                        current = Some(Snapshot { manifest });
                    }
                }
                Err(e) => report.problems.push(e.to_string()),
            }
        }
        for run in runs::recorded(self).await? {
            if run.committed_version > latest {
                report.problems.push(format!(
                    "{}: run {} published snapshot v{}, newer than the newest manifest: manifests were lost",
                    self.show(&format!("{RUNS_DIR}/{}.json", run.id)),
                    run.id,
                    run.committed_version.unwrap_or_default()
                ));
            }
        }
        let unknown = self.unexplained(table_objects, &listed_anywhere, latest.unwrap_or(0)).await?;
        if latest.is_none() && !unknown.is_empty() {
            report.problems.push(format!(
                "{} table files but no manifest: the manifests were lost (recovery rebuilds one from the files)",
                unknown.len()
            ));
            report.problems.extend(unknown.iter().map(|f| format!("{}: not listed in any manifest", self.show(f))));
        } else {
            for file in &unknown {
                match runs::run_of(file_name(file)) {
                    // Written by a run that left no record: its manifest may be lost.
                    Some(run) => report.problems.push(format!(
                        "{}: written by run {run} but not listed in any manifest (a lost manifest, or a leftover of a run killed before verbatim recorded runs; delete it if the snapshot is complete)",
                        self.show(file)
                    )),
                    None => report
                        .notes
                        .push(format!("{}: not listed in any manifest (unknown origin; left alone)", self.show(file))),
                }
            }
        }
        let Some(snapshot) = current else { return Ok(report) };
        report.version = Some(snapshot.manifest.version);
        report.rows = Table::ALL.iter().map(|t| (*t, snapshot.manifest.rows(*t))).collect();
        report.files_checked = snapshot.all_files().flat_map(|(_, f)| f.objects()).count();
        report.bytes_checked = snapshot.all_files().flat_map(|(_, f)| f.objects()).map(|(_, bytes)| bytes).sum();
        let (done, total) = (AtomicU64::new(0), report.bytes_checked);
        let on_file = |bytes: u64| progress(done.fetch_add(bytes, Ordering::Relaxed) + bytes, total);
        let damaged = self.check_snapshot(&snapshot, depth, &on_file).await;
        report.problems.extend(damaged.iter().map(ToString::to_string));
        Ok(report)
    }

    fn files_listed_twice(&self, manifest: &Manifest) -> Vec<String> {
        let mut seen = HashSet::new();
        manifest
            .all_files()
            .filter(|(_, f)| !seen.insert(f.path.as_str()))
            .map(|(_, f)| {
                let name = self.show_object(&self.manifest_object(manifest.version));
                format!("{name}: lists {} more than once", f.path)
            })
            .collect()
    }

    /// Rebuilds a manifest when every manifest was lost: the table files that no run record
    /// explains, whose footers read with their table's schema, become snapshot version 1 (rows and
    /// sizes from the files themselves). Files that do not read are left out and in place. Does
    /// nothing when a manifest exists or no file reads; an error where there is no archive at all.
    /// Takes the write lock.
    pub async fn recover(&self) -> Result<RecoverReport, ArchiveError> {
        if !self.exists().await? && self.table_objects().await?.is_empty() {
            return Err(ArchiveError::NotAnArchive { location: self.display().to_string() });
        }
        self.create_if_missing().await?;
        let run_id = uuid::Uuid::now_v7().to_string();
        let lock = HeldLock::acquire(self, &run_id).await?;
        let result = self.recover_locked(&run_id, &lock).await;
        let released = lock.release().await;
        let report = result?;
        released?;
        Ok(report)
    }

    /// Leaves out the chunks whose every document has a newer copy among the recovered files:
    /// versions replaced by a rewrite or merged by compaction, which stay in the store until a
    /// vacuum and would otherwise come back as duplicates. Chunk names start with their run's
    /// UUIDv7, so runs sort by age, and within a run a rewrite is newer than the chunks it
    /// replaces and a compaction newer than both (see [`age_order`]); each document's newest copy
    /// wins. A chunk holding some
    /// documents whose newest copy is elsewhere cannot be split here: recovery then refuses.
    /// Holds every document id of the recovered files in memory (recovery is rare).
    async fn drop_superseded(&self, report: &mut RecoverReport) -> Result<Vec<FileEntry>, ArchiveError> {
        let mut documents: Vec<FileEntry> =
            report.recovered.iter().filter(|(t, _)| *t == Table::Documents).map(|(_, f)| f.clone()).collect();
        documents.sort_by(|a, b| age_order(file_name(&b.path)).cmp(&age_order(file_name(&a.path))));
        let mut claimed: HashSet<String> = HashSet::new();
        let mut superseded: HashSet<String> = HashSet::new();
        for file in &documents {
            let mut ids = Vec::new();
            crate::keys::read_columns(self, file, Table::Documents, ["doc_id", "source"], |batch| {
                use arrow::array::AsArray;
                ids.extend(batch.column(0).as_string::<i32>().iter().flatten().map(str::to_string));
            })
            .await?;
            let newer = ids.iter().filter(|id| claimed.contains(*id)).count();
            if newer == 0 {
                claimed.extend(ids);
            } else if newer == ids.len() {
                superseded.insert(file_name(&file.path).to_string());
            } else {
                return Err(ArchiveError::Corrupt {
                    path: self.show(&file.path),
                    reason: format!(
                        "{newer} of its {} documents also have newer copies in other files, so the snapshot cannot be rebuilt without duplicates; nothing was published",
                        ids.len()
                    ),
                });
            }
        }
        let shown: Vec<String> = report
            .recovered
            .iter()
            .filter(|(t, f)| *t != Table::Rejects && superseded.contains(file_name(&f.path)))
            .map(|(_, f)| self.show(&f.path))
            .collect();
        report.superseded.extend(shown);
        let (kept, older): (Vec<_>, Vec<_>) = std::mem::take(&mut report.recovered)
            .into_iter()
            .partition(|(t, f)| *t == Table::Rejects || !superseded.contains(file_name(&f.path)));
        report.recovered = kept;
        Ok(older.into_iter().map(|(_, f)| f).collect())
    }

    /// Gives each recovered `segments` chunk its phrase index from `indexes` (path → shown) when
    /// that reads for the chunk's rows; other index files are skipped (searches scan those chunks).
    async fn attach_phrase_indexes(&self, report: &mut RecoverReport, mut indexes: HashMap<String, String>) {
        let store = self.store();
        for (table, entry) in &mut report.recovered {
            let path = phrase_index::index_path(&entry.path);
            let Some(shown) = indexes.remove(&path) else { continue };
            if *table != Table::Segments {
                report.skipped.push(format!("{shown}: not beside a segments chunk"));
                continue;
            }
            let object = self.object(&path);
            let checked = match store.head(&object).await {
                Ok(meta) => {
                    phrase_index::check_index(&store, &object, meta.size, entry.rows, true).await.map(|()| meta.size)
                }
                Err(e) => Err(phrase_index::IndexError::Store(e)),
            };
            match checked {
                Ok(bytes) => entry.phrase_index = Some(IndexFile { path, bytes }),
                Err(reason) => report.skipped.push(format!("{shown}: {reason}")),
            }
        }
        report.skipped.extend(indexes.into_values().map(|shown| format!("{shown}: a phrase index without its chunk")));
    }

    async fn recover_locked(&self, run_id: &str, lock: &HeldLock) -> Result<RecoverReport, ArchiveError> {
        let mut report = RecoverReport::default();
        if let Some(version) = self.latest_manifest_version().await? {
            report.existing_version = Some(version);
            return Ok(report);
        }
        let store = self.store();
        // Files of dead runs that had published something may have been committed: they are
        // candidates too. Leftovers of runs that never published stay out (and in place).
        let mut indexes = HashMap::new();
        for relative in self.files_of_unknown_origin(&HashSet::new(), 0).await? {
            let shown = self.show(&relative);
            if relative.starts_with("segments/") && relative.ends_with(&format!(".{}", phrase_index::EXTENSION)) {
                indexes.insert(relative, shown);
                continue;
            }
            let table = Table::ALL.into_iter().find(|t| relative.starts_with(&format!("{}/", t.name())));
            let Some(table) = table.filter(|_| relative.ends_with(".parquet")) else {
                report.skipped.push(format!("{shown}: not a table chunk"));
                continue;
            };
            let object = self.object(&relative);
            let size = match store.head(&object).await {
                Ok(meta) => meta.size,
                Err(e) => {
                    report.skipped.push(format!("{shown}: {e}"));
                    continue;
                }
            };
            match read_footer(&store, &object, table, size).await {
                Ok((_, rows)) => {
                    let entry = FileEntry { path: relative, rows, bytes: size, doc_range: None, phrase_index: None };
                    report.recovered.push((table, entry))
                }
                Err(damage) => report.skipped.push(format!("{shown}: {damage}")),
            }
        }
        self.attach_phrase_indexes(&mut report, indexes).await;
        let superseded = self.drop_superseded(&mut report).await?;
        if report.recovered.is_empty() {
            return Ok(report);
        }
        let changes = Changes { added: report.recovered.clone(), ..Changes::default() };
        let mut manifest = Manifest::empty().next(run_id, Operation::Recover.name(), &changes);
        // Recorded as removed by this commit, so `verify` knows them and `vacuum` deletes them.
        if let Some(commit) = &mut manifest.commit {
            commit.removed = superseded;
        }
        lock.ensure_held().await?;
        self.publish(&manifest).await?;
        // The records of dead runs referred to the lost versions; the new snapshot replaces them.
        for run in runs::recorded(self).await? {
            runs::end(self, &run.id).await?;
        }
        report.version = Some(manifest.version);
        Ok(report)
    }
}
