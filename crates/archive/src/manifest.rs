//! The manifest: the committed list of chunk files per table. Each commit publishes a whole new
//! manifest under the next version number; the highest version is the archive's current state.

use std::collections::BTreeMap;

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

    /// The next snapshot: these files added, committed now by `run_id`.
    pub fn next(&self, run_id: &str, added: &[(Table, FileEntry)]) -> Manifest {
        let mut next = self.clone();
        next.version += 1;
        next.committed_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        next.run_id = run_id.to_string();
        for (table, entry) in added {
            next.tables.entry(table.name().to_string()).or_default().push(entry.clone());
        }
        next
    }

    /// The object name of manifest `version` under `_verbatim/manifests/`.
    pub fn file_name(version: u64) -> String {
        format!("{version:020}.json")
    }
}
