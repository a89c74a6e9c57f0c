//! Run records: `_verbatim/runs/<run id>.json`, written by a writer before its first chunk and
//! deleted when it finishes. They are what lets recovery prove that an unlisted table file is a
//! leftover of a dead run: chunk files are named `<run id>-…`, so a file whose run has a record,
//! found by a writer that holds the lock, belongs to a run that died. A file of unknown origin
//! (no record) is never deleted.
//!
//! A record also lists the run's staged files: chunks it finished but has not committed yet. A
//! run that dies leaves them listed, and the next writer adopts them instead of deleting them, so
//! that a re-run does not redo the work (see [`crate::ArchiveWriter::adopted`]).

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions};
use serde::{Deserialize, Serialize};

use crate::{Archive, ArchiveError, FileEntry, Table};

/// Where run records live, under the archive root.
pub(crate) const RUNS_DIR: &str = "_verbatim/runs";

/// Length of a run id: a hyphenated UUID.
const RUN_ID_LEN: usize = 36;

/// What a run record holds.
#[derive(Debug, Serialize, Deserialize)]
struct RunRecord {
    run_id: String,
    pid: u32,
    started_at: String,
    /// The last snapshot version the run published, once it has published one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    committed_version: Option<u64>,
    /// Finished chunks not committed yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    staged: Vec<StagedFile>,
    /// The snapshot version the staged chunks were made against.
    #[serde(default)]
    base_version: u64,
}

/// A finished, uncommitted chunk file of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StagedFile {
    /// Its table's name.
    pub table: String,
    /// Its entry, as a manifest will list it.
    pub entry: FileEntry,
    /// Whether committing it must go with removals only this run knows (a rewrite of a
    /// committed chunk, or new versions of archived documents): such a file is never adopted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replaces: bool,
}

impl StagedFile {
    pub fn new(table: Table, entry: FileEntry, replaces: bool) -> StagedFile {
        StagedFile { table: table.name().to_string(), entry, replaces }
    }

    /// Its table, if the name is one.
    pub fn table(&self) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == self.table)
    }
}

/// What a run record says about the run's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RunState {
    /// The last snapshot version the run published.
    pub committed_version: Option<u64>,
    /// Its finished, uncommitted chunks.
    pub staged: Vec<StagedFile>,
    /// The snapshot version its staged chunks were made against.
    pub base_version: u64,
}

/// A run that has a record: one in progress, or one that died.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordedRun {
    /// Its id, the prefix of its chunk names.
    pub id: String,
    /// The last snapshot version it published, if any. A manifest older than this is not the newest.
    pub committed_version: Option<u64>,
    /// Its finished, uncommitted chunks.
    pub staged: Vec<StagedFile>,
    /// The snapshot version its staged chunks were made against: they may be adopted only while
    /// that version is the newest (a rewrite replaces files of that snapshot).
    pub base_version: u64,
}

/// The run id a chunk file name starts with (`<run id>-<rest>`), if it has one.
pub(crate) fn run_of(file_name: &str) -> Option<&str> {
    let id = file_name.get(..RUN_ID_LEN)?;
    let valid = file_name.as_bytes().get(RUN_ID_LEN) == Some(&b'-') && uuid::Uuid::try_parse(id).is_ok();
    valid.then_some(id)
}

/// Writes the first record of `run_id`, which has published nothing yet (and stages `state`'s
/// files, adopted from dead runs).
pub(crate) async fn begin(archive: &Archive, run_id: &str, state: &RunState) -> Result<(), ArchiveError> {
    let options = PutOptions { mode: PutMode::Create, ..Default::default() };
    write(archive, run_id, state, options).await
}

/// Records the progress of `run_id`: the version it last published and its staged files.
pub(crate) async fn update(archive: &Archive, run_id: &str, state: &RunState) -> Result<(), ArchiveError> {
    write(archive, run_id, state, PutOptions::default()).await
}

async fn write(archive: &Archive, run_id: &str, state: &RunState, options: PutOptions) -> Result<(), ArchiveError> {
    let record = RunRecord {
        run_id: run_id.to_string(),
        pid: std::process::id(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        committed_version: state.committed_version,
        staged: state.staged.clone(),
        base_version: state.base_version,
    };
    let body = serde_json::to_vec_pretty(&record).expect("run record serialises");
    let path = record_path(archive, run_id);
    archive.store().put_opts(&path, body.into(), options).await.map_err(archive.store_error(&path))?;
    Ok(())
}

/// Deletes the record of `run_id` (its run is over: finished, or cleaned up after dying).
pub(crate) async fn end(archive: &Archive, run_id: &str) -> Result<(), ArchiveError> {
    archive.delete_object(&record_path(archive, run_id)).await?;
    Ok(())
}

/// Every run that has a record.
pub(crate) async fn recorded(archive: &Archive) -> Result<Vec<RecordedRun>, ArchiveError> {
    let dir = archive.object(RUNS_DIR);
    let store = archive.store();
    let objects: Vec<_> = store.list(Some(&dir)).try_collect().await.map_err(archive.store_error(&dir))?;
    let mut runs = Vec::new();
    for object in objects {
        let Some(id) = object.location.filename().and_then(|name| name.strip_suffix(".json")) else { continue };
        if id.len() != RUN_ID_LEN || uuid::Uuid::try_parse(id).is_err() {
            continue;
        }
        let bytes = match store.get(&object.location).await {
            Ok(result) => result.bytes().await.map_err(archive.store_error(&object.location))?,
            // Ended meanwhile.
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(archive.store_error(&object.location)(e)),
        };
        let record: RunRecord = serde_json::from_slice(&bytes).map_err(|source| ArchiveError::Metadata {
            path: archive.show(&format!("{RUNS_DIR}/{id}.json")),
            source,
        })?;
        runs.push(RecordedRun {
            id: id.to_string(),
            committed_version: record.committed_version,
            staged: record.staged,
            base_version: record.base_version,
        });
    }
    Ok(runs)
}

fn record_path(archive: &Archive, run_id: &str) -> Path {
    archive.object(&format!("{RUNS_DIR}/{run_id}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_names_give_their_run() {
        let run = "01938a2e-7c41-7b3a-9f00-0123456789ab";
        assert_eq!(run_of(&format!("{run}-000001-0000.parquet")), Some(run));
        assert_eq!(run_of(&format!("{run}-rejects-0.parquet")), Some(run));
        assert_eq!(run_of("part-0.parquet"), None);
        assert_eq!(run_of(&format!("{run}.parquet")), None);
        assert_eq!(run_of("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz-1.parquet"), None);
    }
}
