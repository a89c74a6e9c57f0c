//! What can go wrong starting cluster processes or talking to a cluster.

use thiserror::Error;

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
    #[error("cannot reach the scheduler at {address}: {reason}")]
    Unreachable {
        /// The address tried.
        address: String,
        /// Why it failed.
        reason: String,
    },
    /// A scheduler or executor could not start or stopped with an error.
    #[error("{process}: {reason}")]
    Process {
        /// `scheduler` or `executor`, with its address.
        process: String,
        /// What went wrong.
        reason: String,
    },
    /// Setting up the session failed.
    #[error(transparent)]
    Query(#[from] verbatim_query::QueryError),
    /// Reading the archive failed.
    #[error(transparent)]
    Archive(#[from] verbatim_archive::ArchiveError),
    /// The scheduler's REST API answered with an error or with what is not understood.
    #[error("scheduler API {url}: {reason}")]
    Api {
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
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
