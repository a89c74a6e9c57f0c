//! The verbatim archive: immutable Parquet chunks per table plus a committed manifest, all on
//! `object_store` (the local file system by default), so that a remote archive is configuration.
//!
//! Layout under the archive root:
//!
//! ```text
//! _verbatim/archive.json               format marker, written once
//! _verbatim/manifests/<version>.json   committed snapshots; the highest version is current
//! _verbatim/lock                       held by the one run that writes
//! _verbatim/runs/<run>.json            a run's record, from its start until it ends cleanly
//! segments/<run>-<worker>-<n>.parquet  data chunks, plain zstd Parquet
//! segments/<run>-<worker>-<n>.phrases  the chunk's phrase index (see `phrase_index`)
//! documents/…  rejects/…
//! ```
//!
//! A chunk becomes part of a table only when a manifest listing it is published, so a run killed
//! at any moment leaves the previous snapshot intact; the next writer deletes the unlisted
//! leftovers of runs that have a record (and nothing else: data of unknown origin is reported,
//! never deleted). Committed chunks are never rewritten, so a reader holding an older snapshot
//! keeps reading valid files. The protocol, and what it needs from the store, is in
//! [`transaction`]; reading snapshots in `snapshot`; the handle in [`Archive`].

mod archive;
pub mod checked_store;
pub mod chunk;
mod compact;
mod error;
mod history;
pub mod integrity;
mod keys;
mod location;
pub mod manifest;
pub mod phrase_index;
pub mod rows;
pub mod schema;
mod snapshot;
mod store_reader;
pub mod transaction;
mod verify;

pub use archive::Archive;
pub use arrow::array::RecordBatch;
pub use chunk::{ChunkSettings, ChunkWriter, DEFAULT_CHUNK_BYTES, DEFAULT_ZSTD_LEVEL};
pub use compact::{CompactOptions, CompactProgress, CompactReport, Fragmentation, fragmentation};
pub use error::{ArchiveError, LocationProblem, ManifestLoss};
pub use history::LogEntry;
pub use integrity::{CheckDepth, DamagedFile, FileDamage};
pub use keys::{DocumentIndex, KnownDocument, RejectKeys, sorted_runs};
pub use manifest::{Changes, Commit, DocRange, FileEntry, IndexFile, Manifest};
pub use phrase_index::IndexCache;
pub use schema::Table;
pub use snapshot::Snapshot;
pub use store_reader::StoreReader;
pub use transaction::{
    ArchiveWriter, ChunkFactory, Committed, DEFAULT_RETENTION, LockOptions, Operation, Rewritten, VacuumReport,
};
pub use verify::{RecoverReport, VerifyReport};
