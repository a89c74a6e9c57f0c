//! Sorts with a large `LIMIT` stay within the memory budget. DataFusion answers `ORDER BY …
//! LIMIT k` with a top-k heap that holds up to `k` rows and cannot spill: with a large `k` (a
//! concordance of every hit, `limit=100000000`) it asks the pool for more than the budget and the
//! query fails although a sort that spills would answer it. [`SpillLargeTopK`] turns such sorts
//! into a full sort, which spills, followed by the limit: same rows, same order.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::limit::LocalLimitExec;
use datafusion::physical_plan::sorts::sort::SortExec;

/// The largest `LIMIT` (plus `OFFSET`) answered with a top-k heap; larger ones sort in full.
pub const TOPK_MAX_ROWS: usize = 65_536;

/// The physical optimizer rule that replaces a sort keeping more than [`TOPK_MAX_ROWS`] rows by a
/// sort of all rows (which spills when the pool runs short) and a limit on its output.
#[derive(Debug, Default)]
pub struct SpillLargeTopK;

impl PhysicalOptimizerRule for SpillLargeTopK {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(sort) = node.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            match sort.fetch() {
                Some(fetch) if fetch > TOPK_MAX_ROWS => {
                    let full_sort = Arc::new(sort.with_fetch(None));
                    // Per partition: a sort that keeps its input's partitions is merged above,
                    // and the merge keeps its own limit.
                    Ok(Transformed::yes(Arc::new(LocalLimitExec::new(full_sort, fetch)) as Arc<dyn ExecutionPlan>))
                }
                _ => Ok(Transformed::no(node)),
            }
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "spill_large_topk"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    async fn plan_text(ctx: &SessionContext, sql: &str) -> String {
        let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        let plan = SpillLargeTopK.optimize(plan, &ConfigOptions::default()).unwrap();
        datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string()
    }

    #[tokio::test]
    async fn only_large_limits_become_full_sorts() {
        let ctx = SessionContext::new();
        let values = "(SELECT * FROM (VALUES (3), (1), (2)) AS t(v))";
        let small = plan_text(&ctx, &format!("SELECT v FROM {values} ORDER BY v LIMIT 10")).await;
        assert!(small.contains("SortExec: TopK(fetch=10)"), "{small}");
        let large = plan_text(&ctx, &format!("SELECT v FROM {values} ORDER BY v LIMIT 100000000")).await;
        assert!(!large.contains("TopK"), "{large}");
        assert!(large.contains("LocalLimitExec: fetch=100000000"), "{large}");
        let rows = ctx.sql(&format!("SELECT v FROM {values} ORDER BY v DESC LIMIT 100000000 OFFSET 1")).await.unwrap();
        let optimized = SpillLargeTopK
            .optimize(rows.clone().create_physical_plan().await.unwrap(), &ConfigOptions::default())
            .unwrap();
        let batches = datafusion::physical_plan::collect(optimized, ctx.task_ctx()).await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
        assert_eq!(text.lines().filter(|line| line.starts_with("| ") && !line.contains('v')).count(), 2, "{text}");
        assert!(text.find("| 2 |").unwrap() < text.find("| 1 |").unwrap(), "{text}");
    }
}
