//! Queries stop when told and give way to each other. A query is told to stop through the
//! [`QueryStop`] in its task context (Ctrl-C, a client that went away, a time limit, a shutdown);
//! the runtime's own cancellation only takes effect when a task yields, and an operator that
//! makes many batches from few inputs (a cross join, a nested loop join) runs for minutes inside
//! one poll. [`StopBetweenBatches`] therefore wraps every operator's output in a
//! [`CancellableExec`], which checks the stop before each batch it passes on and yields to the
//! runtime after [`YIELD_AFTER`] of work, so that other queries on the same threads go on.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::internal_err;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::QueryError;

/// The longest an operator's stream works before it gives the thread back to the runtime.
pub const YIELD_AFTER: Duration = Duration::from_millis(10);

/// Tells a running query to stop: put it into the task context's session config
/// (`SessionConfig::with_extension`), cancel it to stop the query.
#[derive(Debug, Clone, Default)]
pub struct QueryStop(pub CancellationToken);

/// The physical optimizer rule that wraps the output of every operator with inputs in a
/// [`CancellableExec`] (leaves are made cooperative by DataFusion, and their parents' wrappers
/// check for them). Registered last, so that no later rule meets the wrappers.
#[derive(Debug, Default)]
pub struct StopBetweenBatches;

impl PhysicalOptimizerRule for StopBetweenBatches {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if node.children().is_empty() || node.is::<CancellableExec>() {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(Arc::new(CancellableExec::new(node)) as Arc<dyn ExecutionPlan>))
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "stop_between_batches"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// An operator's output, stopped when the query's [`QueryStop`] is cancelled and giving way to
/// the runtime now and then. Changes nothing else: same schema, partitions, order and rows.
#[derive(Debug)]
pub struct CancellableExec {
    input: Arc<dyn ExecutionPlan>,
}

impl CancellableExec {
    /// Wraps `input`.
    pub fn new(input: Arc<dyn ExecutionPlan>) -> CancellableExec {
        CancellableExec { input }
    }
}

impl DisplayAs for CancellableExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CancellableExec")
    }
}

impl ExecutionPlan for CancellableExec {
    fn name(&self) -> &str {
        "CancellableExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match <[_; 1]>::try_from(children) {
            Ok([input]) => Ok(Arc::new(CancellableExec::new(input))),
            Err(children) => internal_err!("CancellableExec has one input, not {}", children.len()),
        }
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn supports_limit_pushdown(&self) -> bool {
        true
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let stop = context.session_config().get_extension::<QueryStop>().map(|stop| stop.0.clone());
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let stream = Cancellable { input, stop, working_since: Instant::now(), stopped: false };
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// The stream of a [`CancellableExec`].
struct Cancellable {
    input: SendableRecordBatchStream,
    stop: Option<CancellationToken>,
    /// Since when this stream has been polled without the task yielding (as far as it knows).
    working_since: Instant,
    stopped: bool,
}

impl Stream for Cancellable {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.stopped {
            return Poll::Ready(None);
        }
        if self.stop.as_ref().is_some_and(CancellationToken::is_cancelled) {
            self.stopped = true;
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(QueryError::Cancelled)))));
        }
        if self.working_since.elapsed() >= YIELD_AFTER {
            self.working_since = Instant::now();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let polled = self.input.poll_next_unpin(cx);
        if polled.is_pending() {
            self.working_since = Instant::now();
        }
        polled
    }
}
