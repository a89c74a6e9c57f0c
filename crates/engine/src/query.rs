//! Running SQL: statements parsed within limits, planned and run on the engine's query runtime,
//! their rows streamed back a batch at a time. A query stops when its stream is dropped (Ctrl-C in
//! a shell, a client that went away), when it reaches the time limit, or when the engine shuts
//! down; its operators give way often enough for that to take effect at once (see
//! `verbatim_query::cooperative`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use verbatim_archive::Snapshot;
use verbatim_query::cancellation::QueryStop;
use verbatim_query::progress::QueryProgress;
use verbatim_query::{ArchiveSession, QueryError};

use crate::{Engine, Error};

/// Batches a query runs ahead of its reader.
const BATCHES_AHEAD: usize = 2;

/// A query session over one snapshot: statements planned in it share its views and settings.
pub struct Session {
    engine: Engine,
    inner: ArchiveSession,
    /// The cluster statements run on, if any.
    cluster: Option<verbatim_cluster::ClusterAddress>,
}

impl Session {
    /// Opens a session over `engine`'s archive at `as_of` (the newest snapshot when `None`), on the
    /// engine's cluster if it has one.
    pub(crate) async fn open(engine: Engine, as_of: Option<u64>) -> Result<Session, Error> {
        let options = engine.session_options(as_of);
        let archive = engine.archive().clone();
        let query_env = engine.query_env().clone();
        let cluster = match &engine.settings().cluster {
            Some(cluster) => Some(verbatim_cluster::ClusterAddress::parse(cluster)?),
            None => None,
        };
        let address = cluster.clone();
        let opened = engine.query_runtime().spawn(async move {
            match address {
                Some(address) => {
                    Ok::<_, Error>(verbatim_cluster::open_cluster_session(&address, &archive, &options).await?)
                }
                None => {
                    let ctx = verbatim_query::context_with_runtime(query_env, &options)?;
                    Ok(ArchiveSession::open_in(ctx, &archive, &options).await?)
                }
            }
        });
        let inner = opened.await.map_err(task_failed)??;
        Ok(Session { engine, inner, cluster })
    }

    /// The DataFusion session, with the archive's tables and verbatim's functions.
    pub fn context(&self) -> &SessionContext {
        &self.inner.ctx
    }

    /// The snapshot the session reads.
    pub fn snapshot(&self) -> &Snapshot {
        self.inner.snapshot()
    }

    /// Whether statements run on a cluster.
    pub fn on_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// The statements of `sql`, parsed on a query thread and checked against the limits of
    /// [`crate::limits`] (an expression too deep to plan is an error, not a crash).
    pub async fn statements(&self, sql: &str) -> Result<Vec<Statement>, Error> {
        let sql = sql.to_string();
        let parsed = self.engine.query_runtime().spawn_blocking(move || crate::limits::parse_within_limits(&sql));
        Ok(parsed.await.map_err(task_failed)??)
    }

    /// Plans `statement`, on a query thread.
    pub async fn plan(&self, statement: Statement) -> Result<LogicalPlan, Error> {
        let ctx = self.inner.ctx.clone();
        let planned = self.engine.query_runtime().spawn(async move { ctx.state().statement_to_plan(statement).await });
        match planned.await.map_err(task_failed)? {
            Ok(plan) => Ok(plan),
            Err(error) => Err(self.explain(error).await),
        }
    }

    /// Runs `plan`: its rows, streamed as the query runs on the engine's query runtime, until the
    /// stream ends or is dropped, the time limit passes, or the engine shuts down.
    pub fn run(&self, plan: LogicalPlan) -> QueryStream {
        let schema = Arc::new(plan.schema().as_arrow().clone());
        let (sender, batches) = mpsc::channel(BATCHES_AHEAD);
        let physical = Arc::new(OnceLock::new());
        let completed = Arc::new(AtomicBool::new(false));
        let stop = self.engine.shutdown_token().child_token();
        let run = Run {
            session: self.inner.clone(),
            physical: physical.clone(),
            limit_shown: self.engine.limit_shown(),
            stop: stop.clone(),
            cluster: self.cluster.clone(),
            job_name: verbatim_cluster::jobs::unique_job_name(),
            completed: completed.clone(),
        };
        let task = self.engine.spawn_query(run.produce(plan, sender));
        let pool = self.inner.ctx.runtime_env().memory_pool.clone();
        // The time limit is kept by the reader's runtime, whose timers run however busy the query
        // threads are.
        let deadline = self.engine.settings().query_timeout.map(|limit| (Box::pin(tokio::time::sleep(limit)), limit));
        QueryStream {
            schema,
            batches,
            physical,
            pool,
            deadline,
            ended: false,
            completed,
            stop: stop.clone(),
            _stop_on_drop: stop.drop_guard(),
            _task: task,
            _engine: self.engine.clone(),
        }
    }

    /// Plans and runs every statement of `sql`; the rows of the last one.
    pub async fn sql(&self, sql: &str) -> Result<QueryStream, Error> {
        let mut statements = self.statements(sql).await?;
        let Some(last) = statements.pop() else { return Err(Error::Invalid("no SQL statement given".to_string())) };
        for statement in statements {
            let mut stream = self.run(self.plan(statement).await?);
            while let Some(batch) = stream.next().await {
                batch?;
            }
        }
        Ok(self.run(self.plan(last).await?))
    }

    /// The verbatim session underneath.
    pub(crate) fn archive_session(&self) -> &ArchiveSession {
        &self.inner
    }

    /// The error to show for `error`, naming the damaged file when reading one failed.
    pub(crate) async fn explain(&self, error: DataFusionError) -> Error {
        self.inner.explain(error, &self.engine.limit_shown()).await.into()
    }
}

/// What a running query needs on the query runtime.
struct Run {
    session: ArchiveSession,
    physical: Arc<OnceLock<Arc<dyn ExecutionPlan>>>,
    limit_shown: String,
    /// Cancelled when the query must stop: its stream was dropped or timed out, or the engine
    /// shuts down. Its operators see it between batches (`verbatim_query::cancellation`).
    stop: CancellationToken,
    /// The cluster the query runs on, if any.
    cluster: Option<verbatim_cluster::ClusterAddress>,
    /// The name its cluster jobs get, to find them by.
    job_name: String,
    /// Set when every batch was sent: rows that end without it were cut short.
    completed: Arc<AtomicBool>,
}

impl Run {
    /// Plans and runs `plan`, sending its batches (or the error that stopped it) to `sender`.
    async fn produce(self, plan: LogicalPlan, sender: mpsc::Sender<Result<RecordBatch, Error>>) {
        let outcome = tokio::select! {
            outcome = self.batches(plan, &sender) => outcome,
            () = self.stop.cancelled() => Err(Stop::Stopped),
        };
        let error = match outcome {
            Ok(()) => {
                self.completed.store(true, Ordering::Release);
                return;
            }
            Err(_) if self.stop.is_cancelled() => QueryError::Cancelled.into(),
            Err(Stop::Stopped) => QueryError::Cancelled.into(),
            Err(Stop::Failed(error)) => self.session.explain(error, &self.limit_shown).await.into(),
            Err(Stop::Stalled(error)) => Error::Cluster(error),
        };
        if let Some(address) = &self.cluster {
            // Best effort: the scheduler may be gone too.
            let _ = verbatim_cluster::jobs::cancel_jobs(address, &self.job_name).await;
        }
        // The reader may be gone (the stream was dropped); if not, it learns why the rows end.
        let _ = sender.try_send(Err(error));
    }

    /// Sends `plan`'s batches until they end or nobody reads them any more; on a cluster, fails
    /// when its job stalls.
    async fn batches(&self, plan: LogicalPlan, sender: &mpsc::Sender<Result<RecordBatch, Error>>) -> Result<(), Stop> {
        let ctx = &self.session.ctx;
        let physical = ctx.execute_logical_plan(plan).await?.create_physical_plan().await?;
        let _ = self.physical.set(physical.clone());
        let state = ctx.state();
        let mut config = state.config().clone().with_extension(Arc::new(QueryStop(self.stop.clone())));
        if self.cluster.is_some() {
            config = config.set_str(verbatim_cluster::jobs::JOB_NAME_SETTING, &self.job_name);
        }
        let task = TaskContext::from(&state).with_session_config(config);
        let mut stream = datafusion::physical_plan::execute_stream(physical, Arc::new(task))?;
        let send_all = async {
            while let Some(batch) = stream.next().await {
                if sender.send(Ok(batch?)).await.is_err() {
                    break;
                }
            }
            Ok(())
        };
        match &self.cluster {
            None => send_all.await,
            Some(address) => tokio::select! {
                sent = send_all => sent,
                stalled = verbatim_cluster::jobs::watch(address, &self.job_name) => Err(Stop::Stalled(stalled)),
            },
        }
    }
}

/// Why a query ended before its last batch.
enum Stop {
    /// It failed.
    Failed(DataFusionError),
    /// Its cluster job stalled.
    Stalled(verbatim_cluster::ClusterError),
    /// It was told to stop.
    Stopped,
}

impl From<DataFusionError> for Stop {
    fn from(error: DataFusionError) -> Stop {
        Stop::Failed(error)
    }
}

/// The rows of a running query. Dropping it stops the query.
pub struct QueryStream {
    schema: SchemaRef,
    batches: mpsc::Receiver<Result<RecordBatch, Error>>,
    physical: Arc<OnceLock<Arc<dyn ExecutionPlan>>>,
    pool: Arc<dyn MemoryPool>,
    /// The time limit, and when it passes.
    deadline: Option<(Pin<Box<tokio::time::Sleep>>, Duration)>,
    /// The stream has ended (after the error saying why, if it failed or timed out).
    ended: bool,
    /// Set by the query's task once it sent its last batch.
    completed: Arc<AtomicBool>,
    stop: CancellationToken,
    /// Stops the query when the stream is dropped: the task then cleans up (cancels its cluster
    /// jobs) and ends.
    _stop_on_drop: DropGuard,
    _task: tokio::task::JoinHandle<()>,
    /// Keeps the query runtime running while the rows are read, after the session and every
    /// other handle on the engine are gone (a Python reader may outlive its archive object).
    _engine: Engine,
}

impl QueryStream {
    /// The schema of the rows.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// A handle that samples how far the query has got, for a progress display (it does not keep
    /// the query running).
    pub fn progress(&self) -> ProgressProbe {
        ProgressProbe { physical: self.physical.clone(), pool: self.pool.clone() }
    }
}

/// Samples a running query's progress from its plan's metrics and its memory pool.
#[derive(Clone)]
pub struct ProgressProbe {
    physical: Arc<OnceLock<Arc<dyn ExecutionPlan>>>,
    pool: Arc<dyn MemoryPool>,
}

impl ProgressProbe {
    /// How far the query has got; nothing read yet while it is being planned.
    pub fn sample(&self) -> QueryProgress {
        match self.physical.get() {
            Some(plan) => verbatim_query::progress::sample(plan, &self.pool),
            None => QueryProgress { memory_used: self.pool.reserved() as u64, ..QueryProgress::default() },
        }
    }
}

impl Stream for QueryStream {
    type Item = Result<RecordBatch, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some((deadline, limit)) = &mut self.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            let limit = *limit;
            self.ended = true;
            self.stop.cancel();
            return Poll::Ready(Some(Err(QueryError::TimedOut { limit }.into())));
        }
        match self.batches.poll_recv(cx) {
            Poll::Ready(Some(Err(error))) => {
                self.ended = true;
                Poll::Ready(Some(Err(error)))
            }
            // The task ended without sending its last batch or an error: it was stopped from
            // outside (the runtime shut down). Never let cut-short rows pass for a whole answer.
            Poll::Ready(None) if !self.completed.load(Ordering::Acquire) => {
                self.ended = true;
                Poll::Ready(Some(Err(QueryError::Cancelled.into())))
            }
            polled => polled,
        }
    }
}

fn task_failed(source: tokio::task::JoinError) -> Error {
    Error::Task { what: "a query", source }
}
