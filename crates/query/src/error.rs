//! Query errors, phrased for the person who ran the query, in the library's terms: a setting is
//! named by what it is ("the memory limit"), never by a front end's spelling of it; front ends add
//! their own hints.

use std::time::Duration;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use verbatim_archive::DamagedFile;

use crate::saved::SavedQueryError;

/// A query could not be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The archive could not be read.
    #[error(transparent)]
    Archive(#[from] verbatim_archive::ArchiveError),
    /// The query needed more memory than the budget allows, even with spilling.
    #[error("the query needs more memory than the memory limit of {limit} allows\n  cause: {}", root_message(source))]
    OutOfMemory {
        /// The configured limit, for people.
        limit: String,
        /// DataFusion's account of who used the memory.
        source: Box<DataFusionError>,
    },
    /// Spilling ran out of its disk allowance or failed.
    #[error("spilling to disk failed (check the free space in the spill folder): {}", root_message(source))]
    Spill {
        /// What failed.
        source: Box<DataFusionError>,
    },
    /// The spill folder could not be made.
    #[error("cannot create the spill folder {path}: {source}")]
    SpillFolder {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file of the snapshot is missing or damaged.
    #[error("the archive has lost data: {0}")]
    Damaged(DamagedFile),
    /// Reading the archive's files failed; which file is not known (see [`crate::ArchiveSession::explain`]).
    #[error("reading the archive failed: {}{}", root_message(source), finding.note())]
    Read {
        /// The failure.
        source: Box<DataFusionError>,
        /// What checking the snapshot's files found.
        finding: ReadFinding,
    },
    /// Any other planning or execution error.
    #[error("{}", plain(source))]
    DataFusion {
        /// DataFusion's error.
        source: Box<DataFusionError>,
    },
    /// A saved query is malformed or was given bad parameters.
    #[error(transparent)]
    SavedQuery(#[from] SavedQueryError),
    /// The query ran past its time limit and was stopped.
    #[error("the query ran longer than its time limit of {} and was stopped", humantime::format_duration(*.limit))]
    TimedOut {
        /// The limit.
        limit: Duration,
    },
    /// The query was cancelled before it finished (Ctrl-C, a client that went away, a shutdown).
    #[error("the query was cancelled")]
    Cancelled,
    /// An expression nests deeper than planning can follow safely.
    #[error("an expression nests more than {limit} levels deep (e.g. a chain of that many `+`); split it up")]
    TooDeep {
        /// The deepest nesting allowed.
        limit: usize,
    },
    /// The SQL text has more tokens than a statement may.
    #[error("the SQL text has {tokens} tokens or more, more than the {limit} a query may have")]
    TooLong {
        /// Tokens counted (counting stops just past the limit).
        tokens: usize,
        /// The most allowed.
        limit: usize,
    },
}

/// What checking a snapshot's files found after a read failed without naming its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFinding {
    /// The files were not checked.
    Unchecked,
    /// Every file decodes: the failure is not in the archive's data.
    EveryFileDecodes,
    /// Every footer reads; the snapshot is too large to decode every row group on the spot.
    FootersRead,
}

impl ReadFinding {
    fn note(self) -> &'static str {
        match self {
            ReadFinding::Unchecked => "",
            ReadFinding::EveryFileDecodes => {
                "\n  (every file of the snapshot decodes: the failure is not in the archive's data)"
            }
            ReadFinding::FootersRead => {
                "\n  (every file's footer reads; a deep verify decodes every row group to find the damaged one)"
            }
        }
    }
}

impl QueryError {
    /// Turns a DataFusion error into a short, actionable one; `limit` is the memory limit shown to users.
    pub fn from_datafusion(error: DataFusionError, limit: &str) -> QueryError {
        if let Some(damaged) = damaged_file_in(&error) {
            return QueryError::Damaged(damaged.clone());
        }
        if let Some(query) = query_error_in(&error) {
            return query;
        }
        let source = Box::new(error);
        match source.find_root() {
            DataFusionError::ResourcesExhausted(detail) if detail.contains("disk space") => {
                QueryError::Spill { source }
            }
            DataFusionError::ResourcesExhausted(_) => QueryError::OutOfMemory { limit: limit.to_string(), source },
            DataFusionError::ParquetError(_) | DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) => {
                QueryError::Read { source, finding: ReadFinding::Unchecked }
            }
            DataFusionError::ArrowError(arrow, _) if is_read_error(arrow) => {
                QueryError::Read { source, finding: ReadFinding::Unchecked }
            }
            _ => QueryError::DataFusion { source },
        }
    }

    /// DataFusion's error wrapped as a query error, without looking into it.
    pub fn datafusion(error: DataFusionError) -> QueryError {
        QueryError::DataFusion { source: Box::new(error) }
    }
}

/// Whether an Arrow error comes from reading files (rather than from computing on values).
fn is_read_error(error: &ArrowError) -> bool {
    matches!(error, ArrowError::ParquetError(_))
}

/// The damaged file an error names, anywhere in its chain of causes.
fn damaged_file_in(error: &DataFusionError) -> Option<&DamagedFile> {
    causes(error).find_map(|cause| cause.downcast_ref::<DamagedFile>())
}

/// A query error of verbatim's own raised inside DataFusion (a time limit, a cancellation), taken
/// out of the chain of causes.
fn query_error_in(error: &DataFusionError) -> Option<QueryError> {
    causes(error).find_map(|cause| match cause.downcast_ref::<QueryError>()? {
        QueryError::TimedOut { limit } => Some(QueryError::TimedOut { limit: *limit }),
        QueryError::Cancelled => Some(QueryError::Cancelled),
        _ => None,
    })
}

/// `error` and its sources, outermost first.
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| cause.source())
}

/// The message of the error at the root of `error`'s chain.
fn root_message(error: &DataFusionError) -> String {
    plain(error.find_root())
}

/// A DataFusion error's message without the wrapping its variant adds.
pub(crate) fn plain(error: &DataFusionError) -> String {
    let message = error.to_string();
    for prefix in ["Error during planning: ", "Resources exhausted: ", "Execution error: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    message
}
