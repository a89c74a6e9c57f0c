//! The archive's history: the commits whose manifests are kept, as `log` lists them. Older
//! snapshots are read with [`Archive::snapshot_at`]; what is kept, and for how long, is vacuum's
//! business (`transaction::vacuum`).

use std::collections::HashSet;

use serde::Serialize;

use crate::manifest::Manifest;
use crate::{Archive, ArchiveError, Table};

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
