//! The archive's history: listing commits (`log`), reading an older snapshot (`--as-of`), and
//! `vacuum`, which deletes manifests past the retention period and the files that no retained
//! snapshot lists.
//!
//! Retention is by age: a snapshot is retained while it is the newest, or while its successor was
//! committed less than the retention period ago (so a reader that opened it just before it was
//! superseded keeps its files for that long). Files are deleted before the manifests that list
//! them, so a vacuum killed part-way leaves only files that some manifest still explains.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;

use crate::manifest::Manifest;
use crate::{Archive, ArchiveError, ArchiveWriter, FileEntry, Snapshot, Table};

/// Default retention of superseded snapshots.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// One commit, as `verbatim log` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    /// The snapshot version the commit published.
    pub version: u64,
    /// When (RFC 3339).
    pub committed_at: String,
    /// The run that committed.
    pub run_id: String,
    /// What committed (`ingest`, `compact`, `recover`; empty when the manifest does not say).
    pub operation: String,
    /// Files added.
    pub files_added: u64,
    /// Rows added, over all tables.
    pub rows_added: u64,
    /// Files removed from the snapshot.
    pub files_removed: u64,
    /// Rows removed, over all tables.
    pub rows_removed: u64,
    /// Documents replaced or pruned.
    pub documents_removed: u64,
    /// Rows per table in the snapshot.
    pub rows: Vec<(String, u64)>,
}

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
    /// Every commit whose manifest is kept, oldest first.
    pub async fn log(&self) -> Result<Vec<LogEntry>, ArchiveError> {
        if !self.exists().await? {
            return Err(ArchiveError::NotAnArchive { location: self.display().to_string() });
        }
        let mut versions = self.manifest_versions().await?;
        versions.sort_unstable();
        let mut entries = Vec::with_capacity(versions.len());
        let mut previous: Option<Manifest> = None;
        for version in versions {
            let manifest = self.read_manifest(version).await?;
            entries.push(log_entry(&manifest, previous.as_ref()));
            previous = Some(manifest);
        }
        Ok(entries)
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

    /// Takes the write lock and vacuums (see [`ArchiveWriter::vacuum`]).
    pub async fn vacuum(&self, retention: Duration) -> Result<VacuumReport, ArchiveError> {
        let writer = self.begin_writing("vacuum").await?;
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

/// The log line of `manifest`, from its commit record, or else from the difference with the
/// previous manifest.
fn log_entry(manifest: &Manifest, previous: Option<&Manifest>) -> LogEntry {
    let rows_of = |paths: &HashSet<&str>| -> u64 {
        manifest.all_files().filter(|(_, f)| paths.contains(f.path.as_str())).map(|(_, f)| f.rows).sum()
    };
    let mut entry = LogEntry {
        version: manifest.version,
        committed_at: manifest.committed_at.clone(),
        run_id: manifest.run_id.clone(),
        rows: Table::ALL.iter().map(|t| (t.name().to_string(), manifest.rows(*t))).collect(),
        ..LogEntry::default()
    };
    if let Some(commit) = &manifest.commit {
        let added: HashSet<&str> = commit.added.iter().map(String::as_str).collect();
        entry.operation = commit.operation.clone();
        entry.files_added = added.len() as u64;
        entry.rows_added = rows_of(&added);
        entry.files_removed = commit.removed.len() as u64;
        entry.rows_removed = commit.removed.iter().map(|f| f.rows).sum();
        entry.documents_removed = commit.removed_documents;
    } else if let Some(previous) = previous {
        let before: HashSet<&str> = previous.all_files().map(|(_, f)| f.path.as_str()).collect();
        let now: HashSet<&str> = manifest.all_files().map(|(_, f)| f.path.as_str()).collect();
        let added: HashSet<&str> = now.difference(&before).copied().collect();
        entry.files_added = added.len() as u64;
        entry.rows_added = rows_of(&added);
        let removed: Vec<_> = previous.all_files().filter(|(_, f)| !now.contains(f.path.as_str())).collect();
        entry.files_removed = removed.len() as u64;
        entry.rows_removed = removed.iter().map(|(_, f)| f.rows).sum();
    } else {
        entry.files_added = manifest.all_files().count() as u64;
        entry.rows_added = Table::ALL.iter().map(|t| manifest.rows(*t)).sum();
    }
    entry
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
