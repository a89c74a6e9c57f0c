//! Query errors, phrased for the person who ran the query.

use datafusion::error::DataFusionError;

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
        match error.find_root() {
            DataFusionError::ResourcesExhausted(detail) if detail.contains("disk space") => {
                QueryError::Spill(detail.clone())
            }
            DataFusionError::ResourcesExhausted(detail) => {
                QueryError::OutOfMemory { limit: limit.to_string(), detail: detail.clone() }
            }
            root => QueryError::DataFusion(strip_context(root.to_string())),
        }
    }
}

fn strip_context(message: String) -> String {
    message.trim_start_matches("Error during planning: ").to_string()
}
