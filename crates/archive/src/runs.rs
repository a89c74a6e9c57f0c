//! Run records: `_verbatim/runs/<run id>.json`, written by a writer before its first chunk and
//! deleted when it finishes. They are what lets recovery prove that an unlisted table file is a
//! leftover of a dead run: chunk files are named `<run id>-…`, so a file whose run has a record,
//! found by a writer that holds the lock, belongs to a run that died. A file of unknown origin
//! (no record) is never deleted.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use serde::{Deserialize, Serialize};

use crate::ArchiveError;

/// Length of a run id: a hyphenated UUID.
const RUN_ID_LEN: usize = 36;

/// What a run record holds.
#[derive(Debug, Serialize, Deserialize)]
struct RunRecord {
    run_id: String,
    pid: u32,
    started_at: String,
}

/// The run id a chunk file name starts with (`<run id>-<rest>`), if it has one.
pub(crate) fn run_of(file_name: &str) -> Option<&str> {
    let id = file_name.get(..RUN_ID_LEN)?;
    let valid = file_name.as_bytes().get(RUN_ID_LEN) == Some(&b'-') && uuid::Uuid::try_parse(id).is_ok();
    valid.then_some(id)
}

/// Writes the record of `run_id` under `dir`.
pub(crate) async fn begin(store: &dyn ObjectStore, dir: &Path, run_id: &str) -> Result<(), ArchiveError> {
    let record = RunRecord {
        run_id: run_id.to_string(),
        pid: std::process::id(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let body = serde_json::to_vec_pretty(&record).expect("run record serialises");
    let path = record_path(dir, run_id);
    let options = PutOptions { mode: PutMode::Create, ..Default::default() };
    store.put_opts(&path, body.into(), options).await.map_err(ArchiveError::store(&path))?;
    Ok(())
}

/// Deletes the record of `run_id` (its run is over: finished, or cleaned up after dying).
pub(crate) async fn end(store: &dyn ObjectStore, dir: &Path, run_id: &str) -> Result<(), ArchiveError> {
    let path = record_path(dir, run_id);
    match store.delete(&path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(ArchiveError::store(&path)(e)),
    }
}

/// The ids of every run that has a record under `dir`.
pub(crate) async fn recorded(store: &dyn ObjectStore, dir: &Path) -> Result<Vec<String>, ArchiveError> {
    let objects: Vec<_> = store.list(Some(dir)).try_collect().await.map_err(ArchiveError::store(dir))?;
    Ok(objects
        .iter()
        .filter_map(|o| o.location.filename()?.strip_suffix(".json"))
        .filter(|id| id.len() == RUN_ID_LEN && uuid::Uuid::try_parse(id).is_ok())
        .map(str::to_string)
        .collect())
}

fn record_path(dir: &Path, run_id: &str) -> Path {
    Path::from(format!("{dir}/{run_id}.json"))
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
