//! The commit protocol: how a run writes to an archive that readers go on reading, and how the
//! next run cleans up after one that died.
//!
//! A run that writes is an [`ArchiveWriter`], begun with an [`Operation`]:
//!
//! 1. **Lock** (`lock`): the run takes the archive's one write lock, a lease it renews every third
//!    of its length; a lock whose holder died expires, and one whose holder on this host is gone is
//!    broken at once.
//! 2. **Record** (`runs`): before it writes a chunk the run records itself in
//!    `_verbatim/runs/<run>.json`. Every other record is a dead run's: its chunks that no manifest
//!    lists are leftovers (`recovery`), deleted, or, for an ingest, adopted when they are sound and
//!    replace nothing, so that a re-run commits them instead of redoing them.
//! 3. **Stage**: each finished chunk is written under its final, run-unique name and listed as
//!    staged in the record.
//! 4. **Rewrite** (`rewrite`): documents to remove (replaced by a new version, or pruned) are taken
//!    out copy-on-write at the next commit: their chunks are rewritten without them, and a chunk
//!    rewritten twice in one run is found through the chain of its rewrites.
//! 5. **Publish** (`writer`): a commit writes manifest `v+1` (the snapshot, minus removed files,
//!    plus added ones) with `PutMode::Create`, the one atomic step that makes a snapshot current.
//!    A writer that lost its lease stops first ([`ArchiveError::LockLost`]); one that finds `v+1`
//!    taken stops with [`ArchiveError::Conflict`], its work staged for the next run.
//! 6. **Finish**: a run that ends cleanly deletes its record and releases the lock; one that
//!    fails only releases the lock, and its record tells the next writer what to clean up.
//! 7. **Vacuum** (`vacuum`): files that no retained snapshot lists are deleted, then the
//!    manifests past the retention.
//!
//! What the protocol relies on from the store: a `put` is atomic (no reader sees a partial object)
//! and `PutMode::Create` fails if the object exists. S3, GCS, Azure and local files provide both.

mod begin;
pub(crate) mod lock;
mod recovery;
pub(crate) mod rewrite;
pub(crate) mod runs;
pub(crate) mod vacuum;
mod writer;

#[cfg(test)]
mod tests;

pub use lock::LockOptions;
pub use rewrite::Rewritten;
pub use vacuum::{DEFAULT_RETENTION, VacuumReport};
pub use writer::{ArchiveWriter, ChunkFactory, Committed};

/// What a run does to the archive; recorded in the manifests it commits (`verbatim log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Adding documents (new, or new versions that replace archived ones) and pruning vanished ones.
    Ingest,
    /// Rewriting chunks into document order.
    Compact,
    /// Deleting what no retained snapshot needs.
    Vacuum,
    /// Rebuilding a snapshot from table files after every manifest was lost.
    Recover,
}

impl Operation {
    /// The name manifests record.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Ingest => "ingest",
            Operation::Compact => "compact",
            Operation::Vacuum => "vacuum",
            Operation::Recover => "recover",
        }
    }

    /// Whether the run takes over the finished chunks of dead runs: only an ingest does, since
    /// they are what a re-run of the killed ingest would write again.
    fn adopts_dead_runs(self) -> bool {
        self == Operation::Ingest
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
