//! How far a running query has got, read from its plan's live metrics: rows and bytes its scans
//! have read, scan partitions finished, spills, and the memory pool's use against its size.

use std::sync::Arc;

use datafusion::execution::memory_pool::MemoryPool;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricValue;

/// A sample of a query's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryProgress {
    /// Rows the scans have produced.
    pub rows_read: u64,
    /// Bytes the scans have read from files.
    pub bytes_read: u64,
    /// Scan partitions finished.
    pub partitions_done: u64,
    /// Scan partitions in all.
    pub partitions: u64,
    /// Spill files written.
    pub spills: u64,
    /// Bytes spilled.
    pub spilled_bytes: u64,
    /// Bytes the memory pool has handed out.
    pub memory_used: u64,
}

/// The progress of `plan` (running) whose operators reserve memory from `pool`.
pub fn sample(plan: &Arc<dyn ExecutionPlan>, pool: &Arc<dyn MemoryPool>) -> QueryProgress {
    let mut progress = QueryProgress { memory_used: pool.reserved() as u64, ..QueryProgress::default() };
    add(plan, &mut progress);
    progress
}

fn add(plan: &Arc<dyn ExecutionPlan>, progress: &mut QueryProgress) {
    let is_scan = plan.children().is_empty();
    if is_scan {
        progress.partitions += plan.properties().output_partitioning().partition_count() as u64;
    }
    if let Some(metrics) = plan.metrics() {
        for metric in metrics.iter() {
            match metric.value() {
                MetricValue::OutputRows(count) if is_scan => progress.rows_read += count.value() as u64,
                MetricValue::Count { name, count } if is_scan && name == "bytes_scanned" => {
                    progress.bytes_read += count.value() as u64
                }
                MetricValue::EndTimestamp(at) if is_scan && at.value().is_some() => progress.partitions_done += 1,
                MetricValue::SpillCount(count) => progress.spills += count.value() as u64,
                MetricValue::SpilledBytes(count) => progress.spilled_bytes += count.value() as u64,
                _ => {}
            }
        }
    }
    for child in plan.children() {
        add(child, progress);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn a_finished_scan_reports_its_rows_and_partitions() {
        let ctx = SessionContext::new();
        let frame = ctx.sql("SELECT * FROM generate_series(1, 1000) AS t(v) WHERE v % 2 = 0").await.unwrap();
        let plan = frame.create_physical_plan().await.unwrap();
        let batches = datafusion::physical_plan::collect(plan.clone(), ctx.task_ctx()).await.unwrap();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 500);
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1 << 20));
        let progress = sample(&plan, &pool);
        assert_eq!(progress.rows_read, 1000, "{progress:?}");
        assert!(progress.partitions >= 1 && progress.partitions_done == progress.partitions, "{progress:?}");
        assert_eq!(progress.memory_used, 0);
    }
}
