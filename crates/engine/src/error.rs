//! The engine's errors, and the hints that go with them. An error says what went wrong in the
//! library's terms; a [`Hint`] says what would help, as a value that each front end phrases for its
//! users (the CLI as `--memory-limit`, Python as `memory_limit=`).

use verbatim_archive::{ArchiveError, ManifestLoss};
use verbatim_cluster::ClusterError;
use verbatim_ingest::IngestError;
use verbatim_query::{QueryError, ReadFinding, SavedQueryError};

use crate::settings::{Setting, SettingsError};

/// Something the engine could not do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting could not be read.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The archive could not be read or written.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// An ingest failed as a whole (bad inputs are rejects, never this).
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// A query could not be planned or run.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The cluster could not be reached or used.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Results could not be written.
    #[error(transparent)]
    Output(#[from] verbatim_output::OutputError),
    /// A file of the local file system could not be read or written.
    #[error("{path}: {action}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// What was being done.
        action: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// A task the engine started on another thread failed (it panicked or was cancelled).
    #[error("{what} failed: {source}")]
    Task {
        /// What the task was doing.
        what: &'static str,
        /// Why it ended.
        source: tokio::task::JoinError,
    },
    /// A report could not be put together.
    #[error("writing the report ({what}): {source}")]
    Report {
        /// What was being written.
        what: &'static str,
        /// Why it failed.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A request the engine cannot carry out as asked.
    #[error("{0}")]
    Invalid(String),
}

impl From<SavedQueryError> for Error {
    fn from(error: SavedQueryError) -> Error {
        Error::Query(QueryError::SavedQuery(error))
    }
}

/// What would help after an error, for a front end to phrase in its users' terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// Raise (or set) this setting.
    Raise(Setting),
    /// Give this setting, which the command needs.
    Give(Setting),
    /// There is no archive at the location: ingest creates one.
    CreateArchive {
        /// The location.
        location: String,
    },
    /// Check the archive (deeply: decode every row group).
    Verify {
        /// The archive, when the error names it.
        location: Option<String>,
        /// Whether to decode every row group.
        deep: bool,
    },
    /// Every manifest was lost: recovery rebuilds one from the table files.
    Recover {
        /// The archive.
        location: String,
    },
    /// The archive's log lists the snapshots that are kept.
    Log {
        /// The archive.
        location: String,
    },
    /// A saved query needs a value for this parameter.
    GiveParam {
        /// The query.
        query: String,
        /// The parameter.
        param: String,
    },
}

impl Error {
    /// What would help, when the engine knows.
    pub fn hint(&self) -> Option<Hint> {
        hint_for(self)
    }

    /// The archive's own error, when reading or writing the archive is what failed (whichever
    /// call met it: a query, an ingest, a cluster job), for front ends that class errors by it.
    pub fn archive_error(&self) -> Option<&ArchiveError> {
        match self {
            Error::Archive(error)
            | Error::Query(QueryError::Archive(error))
            | Error::Ingest(IngestError::Archive(error))
            | Error::Cluster(ClusterError::Archive(error)) => Some(error),
            Error::Cluster(ClusterError::Query(QueryError::Archive(error))) => Some(error),
            _ => None,
        }
    }

    /// Whether the error is a busy archive: another writer held its lock all the time this run
    /// would wait.
    pub fn is_busy(&self) -> bool {
        is_busy(self)
    }
}

/// What would help after `error`, looking at each of its causes in turn (so that it works on an
/// error wrapped by a front end too).
pub fn hint_for(error: &(dyn std::error::Error + 'static)) -> Option<Hint> {
    causes(error).find_map(|cause| {
        if let Some(error) = cause.downcast_ref::<Error>() {
            return engine_hint(error);
        }
        if let Some(error) = cause.downcast_ref::<ArchiveError>() {
            return archive_hint(error);
        }
        if let Some(error) = cause.downcast_ref::<QueryError>() {
            return query_hint(error);
        }
        if let Some(error) = cause.downcast_ref::<IngestError>() {
            return ingest_hint(error);
        }
        if let Some(error) = cause.downcast_ref::<ClusterError>() {
            return cluster_hint(error);
        }
        None
    })
}

/// Whether `error`, or one of its causes, is a busy archive.
pub fn is_busy(error: &(dyn std::error::Error + 'static)) -> bool {
    hint_for(error) == Some(Hint::Raise(Setting::Wait))
}

// Variants that wrap another error transparently pass its causes on but not the error itself, so
// each wrapper is looked into here.

fn engine_hint(error: &Error) -> Option<Hint> {
    match error {
        Error::Settings(SettingsError::Missing { setting }) => Some(Hint::Give(*setting)),
        Error::Archive(error) => archive_hint(error),
        Error::Ingest(error) => ingest_hint(error),
        Error::Query(error) => query_hint(error),
        Error::Cluster(error) => cluster_hint(error),
        _ => None,
    }
}

fn archive_hint(error: &ArchiveError) -> Option<Hint> {
    match error {
        ArchiveError::NotAnArchive { location } => Some(Hint::CreateArchive { location: location.clone() }),
        ArchiveError::Locked { .. } => Some(Hint::Raise(Setting::Wait)),
        ArchiveError::NoSuchSnapshot { location, .. } => Some(Hint::Log { location: location.clone() }),
        ArchiveError::Damaged { location, .. } => Some(Hint::Verify { location: Some(location.clone()), deep: false }),
        ArchiveError::ManifestsLost { location, loss: ManifestLoss::NoManifest { .. } } => {
            Some(Hint::Recover { location: location.clone() })
        }
        ArchiveError::ManifestsLost { location, .. } => {
            Some(Hint::Verify { location: Some(location.clone()), deep: false })
        }
        _ => None,
    }
}

fn query_hint(error: &QueryError) -> Option<Hint> {
    match error {
        QueryError::Archive(error) => archive_hint(error),
        QueryError::OutOfMemory { .. } => Some(Hint::Raise(Setting::MemoryLimit)),
        QueryError::Spill { .. } | QueryError::SpillFolder { .. } => Some(Hint::Give(Setting::SpillDir)),
        QueryError::TimedOut { .. } => Some(Hint::Raise(Setting::QueryTimeout)),
        QueryError::SavedQuery(SavedQueryError::MissingParam { query, param, .. }) => {
            Some(Hint::GiveParam { query: query.clone(), param: param.clone() })
        }
        QueryError::Damaged(_) => Some(Hint::Verify { location: None, deep: false }),
        QueryError::Read { finding: ReadFinding::FootersRead, .. } => Some(Hint::Verify { location: None, deep: true }),
        _ => None,
    }
}

fn ingest_hint(error: &IngestError) -> Option<Hint> {
    match error {
        IngestError::Archive(error) => archive_hint(error),
        _ => None,
    }
}

fn cluster_hint(error: &ClusterError) -> Option<Hint> {
    match error {
        ClusterError::Query(error) => query_hint(error),
        ClusterError::Archive(error) => archive_hint(error),
        _ => None,
    }
}

/// `error` and its sources, outermost first.
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| cause.source())
}
