//! Beginning a write: creating the archive if needed, taking the lock, recording the run, and
//! cleaning up after the runs that died (adopting what an ingest can reuse).

use object_store::{PutMode, PutOptions};
use serde::{Deserialize, Serialize};

use crate::archive::META_DIR;
use crate::integrity::CheckDepth;
use crate::manifest::{FORMAT, FORMAT_VERSION};
use crate::transaction::lock::HeldLock;
use crate::transaction::runs::{self, RunState, StagedFile};
use crate::transaction::{ArchiveWriter, Operation};
use crate::{Archive, ArchiveError};

/// The format marker written once when an archive is created.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    format: String,
    format_version: u32,
    created_at: String,
}

impl Archive {
    /// Creates the archive if needed, takes the write lock, removes what killed runs left
    /// uncommitted (an ingest adopts their sound chunks instead), and returns a writer positioned
    /// at the current snapshot; `operation` is recorded in the manifests it commits.
    pub async fn begin_writing(&self, operation: Operation) -> Result<ArchiveWriter, ArchiveError> {
        self.create_if_missing().await?;
        let run_id = uuid::Uuid::now_v7().to_string();
        let lock = HeldLock::acquire(self, &run_id).await?;
        let prepared = async {
            // Every recorded run but this one is dead: this run holds the lock.
            let dead_runs = runs::recorded(self).await?;
            runs::begin(self, &run_id, &RunState::default()).await?;
            let snapshot = self.snapshot().await?;
            // Never commit on top of a snapshot that has lost data: every file is there, with the
            // recorded size, and its footer reads (a few KiB per file).
            self.ensure_sound(&snapshot, CheckDepth::Footer).await?;
            let adopted =
                if operation.adopts_dead_runs() { self.adoptable(&snapshot, &dead_runs).await } else { Vec::new() };
            let state = RunState {
                committed_version: None,
                staged: adopted.iter().map(|(table, entry)| StagedFile::new(*table, entry.clone(), false)).collect(),
                base_version: snapshot.manifest.version,
            };
            // Recorded as this run's before the dead runs' records go.
            runs::update(self, &run_id, &state).await?;
            self.remove_leftovers(&snapshot.manifest, &dead_runs, &adopted).await?;
            Ok((snapshot, state, adopted))
        }
        .await;
        match prepared {
            Ok((snapshot, state, adopted)) => {
                Ok(ArchiveWriter::new(self.clone(), run_id, operation, snapshot.manifest, lock, state, adopted))
            }
            Err(e) => {
                // The run wrote nothing: drop its record, and release the lock whatever happens.
                let ended = runs::end(self, &run_id).await;
                let released = lock.release().await;
                ended.and(released)?;
                Err(e)
            }
        }
    }

    /// Writes the format marker unless there is one (and, for a local archive, the folder).
    pub(crate) async fn create_if_missing(&self) -> Result<(), ArchiveError> {
        if let Ok(local) = self.location.url.to_file_path() {
            std::fs::create_dir_all(&local).map_err(|source| ArchiveError::Io {
                path: local.display().to_string(),
                action: "creating the archive folder",
                source,
            })?;
        }
        let marker = Marker {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let body = serde_json::to_vec_pretty(&marker).expect("marker serialises");
        let path = self.object(&format!("{META_DIR}/archive.json"));
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.location.store.put_opts(&path, body.into(), options).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(self.store_error(&path)(e)),
        }
    }
}
