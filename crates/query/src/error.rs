//! Query errors, phrased for the person who ran the query.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use verbatim_archive::DamagedFile;

/// A query could not be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The archive could not be read.
    #[error(transparent)]
    Archive(#[from] verbatim_archive::ArchiveError),
    /// The query needed more memory than the budget allows, even with spilling.
    #[error(
        "the query needs more memory than --memory-limit {limit} allows (raise --memory-limit, VERBATIM_MEMORY_LIMIT or memory_limit in the config)\n  cause: {detail}"
    )]
    OutOfMemory {
        /// The configured limit, for people.
        limit: String,
        /// DataFusion's account of who used the memory.
        detail: String,
    },
    /// Spilling ran out of its disk allowance or failed.
    #[error("spilling to disk failed (check free space in the spill directory, --spill-dir): {0}")]
    Spill(String),
    /// A file of the snapshot is missing or damaged.
    #[error("the archive has lost data: {0}\n  (run `verbatim verify` to check every file)")]
    Damaged(DamagedFile),
    /// Reading the archive's files failed; which file is not known (see [`crate::ArchiveSession::explain`]).
    #[error("reading the archive failed: {0}")]
    Read(String),
    /// Any other planning or execution error.
    #[error("{0}")]
    DataFusion(String),
    /// A saved query is malformed or was given bad parameters.
    #[error("{0}")]
    SavedQuery(String),
}

impl QueryError {
    /// Turns a DataFusion error into a short, actionable one; `limit` is the memory limit shown to users.
    pub fn from_datafusion(error: DataFusionError, limit: &str) -> QueryError {
        if let Some(damaged) = damaged_file_in(&error) {
            return QueryError::Damaged(damaged.clone());
        }
        match error.find_root() {
            DataFusionError::ResourcesExhausted(detail) if detail.contains("disk space") => {
                QueryError::Spill(detail.clone())
            }
            DataFusionError::ResourcesExhausted(detail) => {
                QueryError::OutOfMemory { limit: limit.to_string(), detail: detail.clone() }
            }
            root @ (DataFusionError::ParquetError(_)
            | DataFusionError::ObjectStore(_)
            | DataFusionError::IoError(_)) => QueryError::Read(root.to_string()),
            root @ DataFusionError::ArrowError(arrow, _) if is_read_error(arrow) => QueryError::Read(root.to_string()),
            root => QueryError::DataFusion(strip_context(root.to_string())),
        }
    }
}

/// Whether an Arrow error comes from reading files (rather than from computing on values).
fn is_read_error(error: &ArrowError) -> bool {
    matches!(error, ArrowError::ParquetError(_))
}

/// The damaged file an error names, anywhere in its chain of causes.
fn damaged_file_in(error: &DataFusionError) -> Option<&DamagedFile> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(damaged) = current.downcast_ref::<DamagedFile>() {
            return Some(damaged);
        }
        cause = current.source();
    }
    None
}

fn strip_context(message: String) -> String {
    message.trim_start_matches("Error during planning: ").to_string()
}
