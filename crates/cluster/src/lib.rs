//! verbatim's SQL on an Apache DataFusion Ballista 55 cluster.
//!
//! * [`scheduler`]: a Ballista scheduler that plans verbatim's SQL (its functions, its search plans)
//!   and reads archives with verbatim's store settings; its REST API serves `verbatim top`.
//! * [`executor`]: a Ballista executor with the same functions and stores, its memory budget and
//!   work folder.
//! * [`client`]: a query session whose statements run on a cluster, over the same tables as a
//!   local session.
//! * [`jobs`]: the cluster jobs of a client's queries, cancelled when the query stops early and
//!   failed when they stall after an executor is lost.
//! * [`codec`]: how verbatim's phrase-search plans travel between client, scheduler and executors.
//! * [`stores`]: the object stores scheduler and executors read archives through.
//!
//! Scheduler and executors agree on pull scheduling: executors ask the scheduler for work, which
//! doubles as their heartbeat, so an executor needs no port the scheduler connects to and a lost
//! one is noticed within [`EXECUTOR_TIMEOUT_SECONDS`].

pub mod client;
pub mod codec;
mod error;
pub mod executor;
pub mod jobs;
pub mod scheduler;
pub mod stores;
pub mod top;

pub use client::{ClusterAddress, open_cluster_session};
pub use error::{Cause, ClusterError};
pub use scheduler::stop_signal;

/// Seconds without a word from an executor after which the scheduler counts it lost and runs its
/// tasks again elsewhere.
pub const EXECUTOR_TIMEOUT_SECONDS: u64 = 15;

/// The port a scheduler listens on unless told otherwise (Ballista's).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// How tasks reach executors, the same on both sides.
const SCHEDULING: ballista_core::config::TaskSchedulingPolicy = ballista_core::config::TaskSchedulingPolicy::PullStaged;

/// Whether jobs are planned adaptively (Ballista's AQE), the same on both sides. Off: when an
/// executor holding a finished stage's output is lost, Ballista 55's adaptive planner cannot
/// place the stage's rerun ("Can't find active stage") and the job stays Running for ever; the
/// static planner reruns the lost tasks.
const ADAPTIVE_PLANNING: bool = false;
