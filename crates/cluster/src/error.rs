//! What can go wrong starting cluster processes or talking to a cluster.

use thiserror::Error;

/// The underlying cause of a cluster error: the error of the library that failed (Ballista,
/// tonic, reqwest, the system), kept as a source, or verbatim's own account.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An error of the cluster layer.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// A `--cluster` value that is not `df://HOST:PORT`.
    #[error("cluster address {given:?}: {reason} (expected df://HOST:PORT)")]
    Address {
        /// The value given.
        given: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing answers at the scheduler's address.
    #[error("cannot reach the scheduler at {address}: {source}")]
    Unreachable {
        /// The address tried.
        address: String,
        /// Why it failed.
        source: Cause,
    },
    /// A scheduler or executor could not start or stopped with an error.
    #[error("{process}: {source}")]
    Process {
        /// `scheduler` or `executor`, with its address.
        process: String,
        /// What went wrong.
        source: Cause,
    },
    /// Setting up the session failed.
    #[error(transparent)]
    Query(#[from] verbatim_query::QueryError),
    /// Reading the archive failed.
    #[error(transparent)]
    Archive(#[from] verbatim_archive::ArchiveError),
    /// The scheduler's REST API answered with an error or with what is not understood.
    #[error("scheduler API {url}: {source}")]
    Api {
        /// The URL asked.
        url: String,
        /// What went wrong.
        source: Cause,
    },
    /// A job made no progress for a long time after an executor it ran on was lost.
    #[error(
        "cluster job {job} made no progress for {seconds}s after executor {executor} was lost, and was cancelled; run the query again"
    )]
    Stalled {
        /// The job.
        job: String,
        /// The lost executor: its id and address.
        executor: String,
        /// How long nothing moved.
        seconds: u64,
    },
}
