//! Querying an archive with SQL: a DataFusion session with a spilling memory pool, the archive's
//! tables registered from its committed snapshot, verbatim's transcript functions, and saved
//! queries with typed parameters.

#[macro_use]
mod plan;
pub mod cancellation;
pub mod corpus;
pub mod documents;
mod error;
mod large_limits;
pub mod layout;
pub mod progress;
pub mod saved;
pub mod search;
pub mod segments;
mod session;
pub mod shell;
pub mod statistics;

pub use documents::{DocumentPart, Selection};
pub use error::{QueryError, ReadFinding};
pub use saved::{Param, Problem as SavedQueryProblem, SavedQuery, SavedQueryError};
pub use session::{ArchiveSession, SessionOptions, configure, context_with_runtime, open_session, runtime_env};
/// The transcript functions (crate `verbatim-functions`), registered in every session.
pub use verbatim_functions as udf;
