//! Running SQL: statements parsed within limits, planned and run on the engine's query runtime,
//! their rows streamed back a batch at a time. A query stops when its stream is dropped (Ctrl-C in
//! a shell, a client that went away), when it reaches the time limit, or when the engine shuts
//! down; its operators give way often enough for that to take effect at once (see
//! `verbatim_query::cooperative`).

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use verbatim_archive::Snapshot;
use verbatim_query::progress::QueryProgress;
use verbatim_query::{ArchiveSession, QueryError};

use crate::{Engine, Error};

/// Batches a query runs ahead of its reader.
const BATCHES_AHEAD: usize = 2;

/// A query session over one snapshot: statements planned in it share its views and settings.
pub struct Session {
    engine: Engine,
    inner: ArchiveSession,
    on_cluster: bool,
}

impl Session {
    /// Opens a session over `engine`'s archive at `as_of` (the newest snapshot when `None`), on the
    /// engine's cluster if it has one.
    pub(crate) async fn open(engine: Engine, as_of: Option<u64>) -> Result<Session, Error> {
        let options = engine.session_options(as_of);
        let archive = engine.archive().clone();
        let (cluster, query_env) = (engine.settings().cluster.clone(), engine.query_env().clone());
        let on_cluster = cluster.is_some();
        let opened = engine.query_runtime().spawn(async move {
            match cluster {
                Some(cluster) => {
                    let address = verbatim_cluster::ClusterAddress::parse(&cluster)?;
                    Ok::<_, Error>(verbatim_cluster::open_cluster_session(&address, &archive, &options).await?)
                }
                None => {
                    let ctx = verbatim_query::context_with_runtime(query_env, &options)?;
                    Ok(ArchiveSession::open_in(ctx, &archive, &options).await?)
                }
            }
        });
        let inner = opened.await.map_err(task_failed)??;
        Ok(Session { engine, inner, on_cluster })
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
        self.on_cluster
    }

    /// The statements of `sql`.
    pub async fn statements(&self, sql: &str) -> Result<Vec<Statement>, Error> {
        let statements = DFParser::parse_sql(sql).map_err(QueryError::datafusion)?;
        Ok(statements.into_iter().collect())
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
        let run = Run {
            session: self.inner.clone(),
            physical: physical.clone(),
            limit_shown: self.engine.limit_shown(),
            timeout: self.engine.settings().query_timeout,
            shutdown: self.engine.shutdown_token().clone(),
        };
        let task = self.engine.query_runtime().spawn(run.produce(plan, sender));
        let pool = self.inner.ctx.runtime_env().memory_pool.clone();
        QueryStream { schema, batches, physical, pool, _task: AbortOnDropHandle::new(task) }
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
    timeout: Option<Duration>,
    shutdown: CancellationToken,
}

impl Run {
    /// Plans and runs `plan`, sending its batches (or the error that stopped it) to `sender`.
    async fn produce(self, plan: LogicalPlan, sender: mpsc::Sender<Result<RecordBatch, Error>>) {
        let time_limit = async {
            match self.timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            outcome = self.batches(plan, &sender) => outcome.map_err(Stop::Failed),
            () = time_limit => Err(Stop::Limit),
            () = self.shutdown.cancelled() => Err(Stop::Shutdown),
        };
        let error = match outcome {
            Ok(()) => return,
            Err(Stop::Failed(error)) => self.session.explain(error, &self.limit_shown).await,
            Err(Stop::Limit) => QueryError::TimedOut { limit: self.timeout.unwrap_or_default() },
            Err(Stop::Shutdown) => QueryError::Cancelled,
        };
        let _ = sender.send(Err(error.into())).await;
    }

    /// Sends `plan`'s batches until they end or nobody reads them any more.
    async fn batches(
        &self,
        plan: LogicalPlan,
        sender: &mpsc::Sender<Result<RecordBatch, Error>>,
    ) -> Result<(), DataFusionError> {
        let ctx = &self.session.ctx;
        let physical = ctx.execute_logical_plan(plan).await?.create_physical_plan().await?;
        let _ = self.physical.set(physical.clone());
        let mut stream = datafusion::physical_plan::execute_stream(physical, ctx.task_ctx())?;
        while let Some(batch) = stream.next().await {
            if sender.send(Ok(batch?)).await.is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// Why a query stopped before its end.
enum Stop {
    Failed(DataFusionError),
    Limit,
    Shutdown,
}

/// The rows of a running query. Dropping it stops the query.
pub struct QueryStream {
    schema: SchemaRef,
    batches: mpsc::Receiver<Result<RecordBatch, Error>>,
    physical: Arc<OnceLock<Arc<dyn ExecutionPlan>>>,
    pool: Arc<dyn MemoryPool>,
    _task: AbortOnDropHandle<()>,
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
        self.batches.poll_recv(cx)
    }
}

fn task_failed(source: tokio::task::JoinError) -> Error {
    Error::Task { what: "a query", source }
}
