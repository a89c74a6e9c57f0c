//! Vacuum: deletes the manifests past the retention period and the table files that no retained
//! snapshot lists.
//!
//! Retention is by age: a snapshot is retained while it is the newest, or while its successor was
//! committed less than the retention period ago (so a reader that opened it just before it was
//! superseded keeps its files for that long). Files are deleted before the manifests that list
//! them, so a vacuum killed part-way leaves only files that some manifest still explains. Vacuum
//! runs under the write lock, so no commit runs meanwhile.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;

use crate::transaction::{ArchiveWriter, Operation};
use crate::{Archive, ArchiveError, FileEntry, Table};

/// Default retention of superseded snapshots.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// What [`ArchiveWriter::vacuum`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VacuumReport {
    /// Manifests deleted (older than the retention period).
    pub manifests_deleted: u64,
    /// Table files deleted (no retained snapshot lists them).
    pub files_deleted: u64,
    /// Their bytes.
    pub bytes_deleted: u64,
    /// The oldest retained snapshot version.
    pub oldest_retained: u64,
    /// Files kept because a retained snapshot older than the newest still lists them.
    pub files_kept_for_retention: u64,
}

impl Archive {
    /// Takes the write lock and vacuums (see [`ArchiveWriter::vacuum`]).
    pub async fn vacuum(&self, retention: Duration) -> Result<VacuumReport, ArchiveError> {
        let writer = self.begin_writing(Operation::Vacuum).await?;
        let result = writer.vacuum(retention).await;
        writer.close(result).await
    }
}

impl ArchiveWriter {
    /// Deletes the table files that no retained snapshot lists (only files some manifest listed:
    /// data of unknown origin is never touched), then the manifests past `retention`. Needs the
    /// lock this writer holds, so no commit runs meanwhile.
    pub async fn vacuum(&self, retention: Duration) -> Result<VacuumReport, ArchiveError> {
        let archive = self.archive();
        let mut versions = archive.manifest_versions().await?;
        versions.sort_unstable();
        let mut report = VacuumReport::default();
        let Some(&newest) = versions.last() else { return Ok(report) };
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        // Newest first: a snapshot is retained while its successor is younger than the cutoff.
        let mut needed: HashSet<String> = HashSet::new();
        let mut listed: HashMap<String, u64> = HashMap::new();
        let mut expired = Vec::new();
        let mut successor_time = None;
        let mut newest_files = HashSet::new();
        for &version in versions.iter().rev() {
            let manifest = archive.read_manifest(version).await?;
            let retained = version == newest || successor_time.is_none_or(|time| time > cutoff);
            for (path, bytes) in manifest.all_files().flat_map(|(_, entry)| entry.objects()) {
                listed.insert(path.to_string(), bytes);
                if retained {
                    needed.insert(path.to_string());
                }
                if version == newest {
                    newest_files.insert(path.to_string());
                }
            }
            for (path, bytes) in manifest.commit.iter().flat_map(|commit| &commit.removed).flat_map(FileEntry::objects)
            {
                listed.insert(path.to_string(), bytes);
            }
            if retained {
                report.oldest_retained = version;
            } else {
                expired.push(version);
            }
            // A manifest whose time does not read keeps its predecessor (never delete on doubt).
            successor_time = Some(manifest.committed_time().unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC));
        }
        report.files_kept_for_retention = needed.difference(&newest_files).count() as u64;
        let mut garbage: Vec<(&String, &u64)> =
            listed.iter().filter(|(path, _)| !needed.contains(*path) && is_table_file(path)).collect();
        garbage.sort();
        for (path, bytes) in garbage {
            if archive.delete_object(&archive.object(path)).await? {
                report.files_deleted += 1;
                report.bytes_deleted += bytes;
            }
        }
        expired.sort_unstable();
        for version in expired {
            if archive.delete_object(&archive.manifest_object(version)).await? {
                report.manifests_deleted += 1;
            }
        }
        Ok(report)
    }
}

/// Whether `path` names a file in a table folder (the only files vacuum deletes).
fn is_table_file(path: &str) -> bool {
    let mut parts = path.split('/');
    let folder = parts.next().unwrap_or_default();
    Table::ALL.iter().any(|t| t.name() == folder)
        && parts.clone().count() == 1
        && parts.all(|part| !part.is_empty() && part != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_table_files_are_vacuumed() {
        assert!(is_table_file("segments/x-1.parquet"));
        assert!(!is_table_file("_verbatim/manifests/1.json"));
        assert!(!is_table_file("segments/../x.parquet"));
        assert!(!is_table_file("segments/a/b.parquet"));
        assert!(!is_table_file("elsewhere/x.parquet"));
    }
}
