//! The manifest: the committed list of chunk files per table. Each commit publishes a whole new
//! manifest under the next version number; the highest version is the archive's current state.
//! A manifest also says what its commit changed (files added and removed), for `log` and `vacuum`.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::Table;

/// The format marker stored in every manifest.
pub const FORMAT: &str = "verbatim-archive";
/// The manifest format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// One committed chunk file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the archive root, e.g. `segments/<run>-0-3.parquet`.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// For `segments` files whose rows are sorted by `(doc_id, seq)`: the first and last document
    /// id in the file. Readers use it to scan documents in order without sorting them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_range: Option<DocRange>,
    /// For `segments` files: the chunk's phrase index, committed with it (absent in chunks
    /// written without one; a search scans those).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phrase_index: Option<IndexFile>,
}

impl FileEntry {
    /// The objects this entry stands for, as (path, bytes): the file, and its phrase index if any.
    pub fn objects(&self) -> impl Iterator<Item = (&str, u64)> {
        std::iter::once((self.path.as_str(), self.bytes))
            .chain(self.phrase_index.iter().map(|index| (index.path.as_str(), index.bytes)))
    }
}

/// A file that belongs to a chunk file, such as its phrase index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFile {
    /// Path relative to the archive root, e.g. `segments/<run>-0-3.phrases`.
    pub path: String,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// The documents of a file sorted by document id: the first and the last (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocRange {
    /// The smallest document id in the file.
    pub first: String,
    /// The largest document id in the file.
    pub last: String,
}

/// A committed snapshot of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The manifest format version.
    pub format_version: u32,
    /// This snapshot's version; 0 is the empty archive before any commit.
    pub version: u64,
    /// When it was committed (RFC 3339).
    pub committed_at: String,
    /// The run that committed it.
    pub run_id: String,
    /// Files per table name.
    pub tables: BTreeMap<String, Vec<FileEntry>>,
    /// What the commit changed (absent in manifests written before verbatim recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
}

/// What one commit changed: the files it added and the files it removed from the snapshot.
/// Removed files stay in the store while a retained snapshot lists them; `vacuum` deletes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// What committed: `ingest`, `compact`, `recover`.
    pub operation: String,
    /// Paths of the files added.
    pub added: Vec<String>,
    /// The files removed, as the previous snapshot listed them.
    pub removed: Vec<FileEntry>,
    /// Documents whose rows this commit removed (replaced by a new version, or pruned).
    #[serde(default)]
    pub removed_documents: u64,
}

/// The changes of one commit, before it is published.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Files to add, with their tables.
    pub added: Vec<(Table, FileEntry)>,
    /// Paths of files to remove from the snapshot.
    pub removed: Vec<String>,
    /// Documents whose rows the removals take away (replaced or pruned).
    pub removed_documents: u64,
}

impl Changes {
    /// Whether there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

impl Manifest {
    /// The empty snapshot of a new archive.
    pub fn empty() -> Manifest {
        Manifest {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            version: 0,
            committed_at: String::new(),
            run_id: String::new(),
            tables: Table::ALL.iter().map(|t| (t.name().to_string(), Vec::new())).collect(),
            commit: None,
        }
    }

    /// The files of `table`.
    pub fn files(&self, table: Table) -> &[FileEntry] {
        self.tables.get(table.name()).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every file with its table.
    pub fn all_files(&self) -> impl Iterator<Item = (Table, &FileEntry)> {
        Table::ALL.into_iter().flat_map(|table| self.files(table).iter().map(move |entry| (table, entry)))
    }

    /// Total rows of `table`.
    pub fn rows(&self, table: Table) -> u64 {
        self.files(table).iter().map(|f| f.rows).sum()
    }

    /// The next snapshot: `changes` applied, committed now by `run_id` doing `operation`. Removed
    /// paths that this snapshot does not list are ignored.
    pub fn next(&self, run_id: &str, operation: &str, changes: &Changes) -> Manifest {
        let mut next = self.clone();
        next.version += 1;
        next.committed_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        next.run_id = run_id.to_string();
        let removing: HashSet<&str> = changes.removed.iter().map(String::as_str).collect();
        let mut removed = Vec::new();
        for files in next.tables.values_mut() {
            files.retain(|entry| {
                let keep = !removing.contains(entry.path.as_str());
                if !keep {
                    removed.push(entry.clone());
                }
                keep
            });
        }
        for (table, entry) in &changes.added {
            next.tables.entry(table.name().to_string()).or_default().push(entry.clone());
        }
        next.commit = Some(Commit {
            operation: operation.to_string(),
            added: changes.added.iter().map(|(_, entry)| entry.path.clone()).collect(),
            removed,
            removed_documents: changes.removed_documents,
        });
        next
    }

    /// When this snapshot was committed, if its time reads.
    pub fn committed_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.committed_at).ok().map(|t| t.with_timezone(&chrono::Utc))
    }

    /// The object name of manifest `version` under `_verbatim/manifests/`.
    pub fn file_name(version: u64) -> String {
        format!("{version:020}.json")
    }
}
