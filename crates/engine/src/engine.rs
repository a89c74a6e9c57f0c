//! The engine: one archive with its settings, one memory budget and one query runtime for all the
//! work a process does on it.
//!
//! Queries run on a runtime of their own ([`QueryRuntime`]), never on the front end's: a CPU-bound
//! query cannot starve a server's accept loop, a shell's Ctrl-C handler or a notebook's event
//! loop. All the queries of one engine share one DataFusion memory pool (the budget's query pool)
//! and spill folder.

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use verbatim_archive::{Archive, LockOptions};
use verbatim_model::MemoryBudget;
use verbatim_query::SessionOptions;

use crate::query::Session;
use crate::settings::Settings;
use crate::{Error, settings};

/// Rows per batch in query sessions.
const BATCH_ROWS: usize = 8192;

/// Called once with who holds the archive's lock when a writer starts waiting for it.
pub type OnLockWait = Arc<dyn Fn(&str) + Send + Sync>;

/// An archive and everything a process needs to work on it. Cheap to clone: clones share the
/// runtime, the memory pool and the cancellation of every query.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    archive: Archive,
    runtime: QueryRuntime,
    query_env: Arc<RuntimeEnv>,
    /// Cancelled when the engine shuts down: every query running stops.
    shutdown: CancellationToken,
    /// The tasks of running queries, so that a front end can wait for them to clean up.
    queries: TaskTracker,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("archive", &self.inner.archive.display()).finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over the archive `settings` name. Opening does no I/O on the archive.
    pub fn open(settings: Settings) -> Result<Engine, Error> {
        Engine::open_with(settings, None)
    }

    /// [`Engine::open`], telling `on_lock_wait` who holds the lock when a write has to wait.
    pub fn open_with(settings: Settings, on_lock_wait: Option<OnLockWait>) -> Result<Engine, Error> {
        let location = settings.archive()?.to_string();
        let lock = LockOptions { wait: settings.wait, on_wait: on_lock_wait, ..LockOptions::default() };
        let archive = Archive::at_with(&location, &settings.storage)?.with_lock_options(lock);
        let runtime = QueryRuntime::start(settings.threads)?;
        let query_env = verbatim_query::runtime_env(&session_options(&settings, None))?;
        let shutdown = CancellationToken::new();
        let queries = TaskTracker::new();
        Ok(Engine { inner: Arc::new(Inner { settings, archive, runtime, query_env, shutdown, queries }) })
    }

    /// The settings the engine was opened with.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The archive.
    pub fn archive(&self) -> &Archive {
        &self.inner.archive
    }

    /// The memory budget.
    pub fn budget(&self) -> MemoryBudget {
        self.inner.settings.budget()
    }

    /// The memory limit as people read it.
    pub fn limit_shown(&self) -> String {
        settings::show_size(self.inner.settings.memory_limit)
    }

    /// A query session over the newest snapshot (or the one `as_of` names), on the cluster when
    /// the settings name one.
    pub async fn session(&self, as_of: Option<u64>) -> Result<Session, Error> {
        Session::open(self.clone(), as_of).await
    }

    /// Stops every query running, now and from now on (a server shutting down).
    pub fn shut_down(&self) {
        self.inner.shutdown.cancel();
    }

    /// Waits up to `limit` for the tasks of queries that were stopped (their streams dropped) to
    /// end: a cluster query cancels its job on the way out. For a front end about to exit.
    pub async fn wait_for_stopped_queries(&self, limit: std::time::Duration) {
        let queries = &self.inner.queries;
        queries.close();
        let _ = tokio::time::timeout(limit, queries.wait()).await;
        queries.reopen();
    }

    /// The options of this engine's query sessions.
    pub(crate) fn session_options(&self, as_of: Option<u64>) -> SessionOptions {
        session_options(&self.inner.settings, as_of)
    }

    /// The DataFusion runtime every local session shares: the memory pool and the spill folder.
    pub(crate) fn query_env(&self) -> &Arc<RuntimeEnv> {
        &self.inner.query_env
    }

    /// The runtime queries are planned and run on.
    pub(crate) fn query_runtime(&self) -> &tokio::runtime::Handle {
        self.inner.runtime.handle()
    }

    /// Cancelled when the engine shuts down.
    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Runs a query's task on the query runtime, tracked.
    pub(crate) fn spawn_query<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.queries.spawn_on(task, self.query_runtime())
    }
}

/// The options of a query session under `settings`.
fn session_options(settings: &Settings, as_of: Option<u64>) -> SessionOptions {
    SessionOptions {
        budget: settings.budget(),
        spill_dir: settings.spill_dir.clone(),
        target_partitions: settings.threads,
        batch_size: BATCH_ROWS,
        as_of,
        index_cache: Some(settings.index_cache.clone()),
    }
}

/// A tokio runtime of its own for query work, shut down without waiting when the engine goes
/// (its tasks are then cancelled).
struct QueryRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl QueryRuntime {
    fn start(threads: usize) -> Result<QueryRuntime, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("verbatim-query")
            .thread_stack_size(crate::limits::QUERY_THREAD_STACK)
            .enable_all()
            .build()
            .map_err(|source| Error::Io { path: "query runtime".to_string(), action: "starting threads", source })?;
        Ok(QueryRuntime { runtime: Some(runtime) })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("the runtime lives as long as the engine").handle()
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which an async context must not do.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
