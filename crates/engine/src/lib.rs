//! The library under every verbatim front end: the CLI, `serve`, the Python package and the web
//! explorer call it, not each other.
//!
//! * [`settings`]: every setting, resolved once from what the front end was given, `VERBATIM_*`
//!   variables, the config file and defaults written once ([`Settings`], [`SettingsBuilder`]).
//! * [`Engine`]: an archive with its settings, one memory budget, and one query runtime and
//!   memory pool for all the queries of the process.
//! * [`query`]: sessions whose statements are parsed within limits, planned and run on the query
//!   runtime, and streamed back; a query stops when its stream is dropped, at its time limit, or
//!   when the engine shuts down.
//! * [`ingest`]: what to ingest and how, from the settings, and [`report`]: a run's report as
//!   JSON; [`export`]: documents written out as
//!   subtitles and transcripts.
//! * [`Error`] and [`Hint`]: what went wrong in the library's terms, and what would help, for each
//!   front end to phrase in its users' words.

mod engine;
mod error;
pub mod export;
pub mod ingest;
pub mod limits;
pub mod query;
pub mod report;
pub mod settings;
pub mod watch;

pub use engine::{Engine, OnLockWait};
pub use error::{Error, Hint, hint_for, is_busy};
pub use export::{ExportReport, ExportRequest};
pub use ingest::{IngestOutcome, IngestRequest};
pub use query::{ProgressProbe, QueryStream, Session};
pub use settings::{Setting, Settings, SettingsBuilder, SettingsError, ValueError};
pub use watch::{WatchHits, WatchedQuery, read_watch_file};
