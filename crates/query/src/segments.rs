//! The `segments` table: the snapshot's Parquet chunks as a listing table, whose scans read only
//! the rows that the chunks' phrase indexes name when the query filters on
//! `phrase_match(text, 'phrase')`.
//!
//! A caption can hold a phrase only where the phrase starts, so the rows where the phrase's words
//! start (from [`phrase_index::phrase_rows`]) are a superset of the rows `phrase_match` keeps. The
//! scan is told to read just those rows of each indexed chunk (a Parquet row selection); the
//! filter itself still runs over what is read, so the answer is the same as a full scan's. Chunks
//! without an index are read whole.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::{Constraints, DataFusionError, Result, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig};
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::parquet::arrow::arrow_reader::RowSelection;
use datafusion::physical_plan::ExecutionPlan;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use verbatim_archive::{FileEntry, phrase_index};

use crate::search::SearchTarget;

/// Index files read at once while a scan is planned.
const CONCURRENT_INDEX_READS: usize = 8;

/// The `segments` table of a snapshot: `listing` over its chunks, narrowed by their phrase indexes
/// for `phrase_match` filters.
#[derive(Debug)]
pub struct SegmentsTable {
    listing: ListingTable,
    target: Arc<SearchTarget>,
}

impl SegmentsTable {
    /// The table reading `listing` (over exactly `target`'s chunks), with `target`'s indexes.
    pub fn new(listing: ListingTable, target: Arc<SearchTarget>) -> SegmentsTable {
        SegmentsTable { listing, target }
    }

    /// For each indexed chunk (by object path), the rows where the phrase `words` starts.
    async fn selections(&self, words: &[String]) -> Result<HashMap<Path, RowSelection>> {
        let indexed: Vec<FileEntry> =
            self.target.chunks.iter().filter(|entry| entry.phrase_index.is_some()).cloned().collect();
        let words = Arc::new(words.to_vec());
        futures::stream::iter(indexed)
            .map(|entry| chunk_selection(self.target.clone(), entry, words.clone()))
            .buffer_unordered(CONCURRENT_INDEX_READS)
            .try_collect()
            .await
    }
}

/// The object path of the chunk `entry` and the rows where the phrase `words` starts in it, from
/// its phrase index.
async fn chunk_selection(
    target: Arc<SearchTarget>,
    entry: FileEntry,
    words: Arc<Vec<String>>,
) -> Result<(Path, RowSelection)> {
    let archive = &target.archive;
    let rows = phrase_index::phrase_rows(
        &target.store,
        |relative| archive.object(relative),
        archive.url().as_str(),
        &entry,
        &words,
        target.cache.as_ref(),
    )
    .await
    .map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok((archive.object(&entry.path), row_selection(&rows, entry.rows)))
}

#[async_trait::async_trait]
impl TableProvider for SegmentsTable {
    fn schema(&self) -> SchemaRef {
        self.listing.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.listing.constraints()
    }

    fn table_type(&self) -> TableType {
        self.listing.table_type()
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        self.listing.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.listing.statistics()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let args = ScanArgs::default()
            .with_projection(projection.map(|p| p.as_slice()))
            .with_filters(Some(filters))
            .with_limit(limit);
        Ok(self.scan_with_args(state, args).await?.into_inner())
    }

    async fn scan_with_args<'a>(&self, state: &dyn Session, args: ScanArgs<'a>) -> Result<ScanResult> {
        let phrase = args.filters().and_then(filtered_phrase);
        let scan = self.listing.scan_with_args(state, args).await?;
        let Some(words) = phrase else { return Ok(scan) };
        let selections = self.selections(&words).await?;
        Ok(ScanResult::new(with_row_selections(scan.into_inner(), &selections)))
    }
}

/// The words of the phrase of a `phrase_match(text, 'phrase')` conjunct of `filters`, if any
/// (and it has words).
fn filtered_phrase(filters: &[Expr]) -> Option<Vec<String>> {
    filters.iter().flat_map(split_conjunction).find_map(|filter| {
        let Expr::ScalarFunction(call) = filter else { return None };
        let [text, phrase] = call.args.as_slice() else { return None };
        if call.func.name() != "phrase_match" {
            return None;
        }
        let text_column = matches!(uncast(text), Expr::Column(column) if column.name == "text");
        let phrase = match uncast(phrase) {
            Expr::Literal(
                ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)),
                _,
            ) if text_column => s,
            _ => return None,
        };
        let words = phrase_index::phrase_words(phrase);
        (!words.is_empty()).then_some(words)
    })
}

/// `expr` without the casts type coercion puts around it.
fn uncast(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast(cast) => uncast(&cast.expr),
        Expr::TryCast(cast) => uncast(&cast.expr),
        other => other,
    }
}

/// The selection of `rows` (ascending) among a chunk's `total` rows.
pub(crate) fn row_selection(rows: &[u64], total: u64) -> RowSelection {
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    for &row in rows {
        let row = row as usize;
        match ranges.last_mut() {
            Some(range) if range.end == row => range.end += 1,
            _ => ranges.push(row..row + 1),
        }
    }
    RowSelection::from_consecutive_ranges(ranges.into_iter(), total as usize)
}

/// `plan` (a Parquet scan) reading only the selected rows of the files `selections` names; any
/// other plan unchanged.
fn with_row_selections(
    plan: Arc<dyn ExecutionPlan>,
    selections: &HashMap<Path, RowSelection>,
) -> Arc<dyn ExecutionPlan> {
    let Some(config) =
        plan.downcast_ref::<DataSourceExec>().and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
    else {
        return plan;
    };
    let mut config = config.clone();
    config.file_groups = std::mem::take(&mut config.file_groups)
        .into_iter()
        .map(|group| {
            let statistics = group.file_statistics(None).cloned();
            let files = group
                .into_inner()
                .into_iter()
                .map(|file| match selections.get(&file.object_meta.location) {
                    Some(selection) => file.with_extension(ParquetRowSelection::new(selection.clone())),
                    None => file,
                })
                .collect();
            let group = FileGroup::new(files);
            match statistics {
                Some(statistics) => group.with_statistics(Arc::new(statistics)),
                None => group,
            }
        })
        .collect();
    DataSourceExec::from_data_source(config)
}

#[cfg(test)]
mod tests {
    use datafusion::execution::FunctionRegistry;
    use datafusion::logical_expr::{cast, col, lit};
    use datafusion::prelude::SessionContext;

    use super::*;

    #[test]
    fn the_phrase_of_a_phrase_match_conjunct_is_found() {
        let ctx = SessionContext::new();
        crate::udf::register_all(&ctx);
        let phrase_match = ctx.udf("phrase_match").expect("registered");
        let call = |text: Expr, phrase: Expr| phrase_match.call(vec![text, phrase]);
        let on_text = call(cast(col("text"), datafusion::arrow::datatypes::DataType::Utf8), lit("Open, Source!"));
        let filters = [col("seq").gt(lit(3)).and(on_text)];
        assert_eq!(filtered_phrase(&filters), Some(vec!["open".to_string(), "source".to_string()]));
        // Not on the text column, without words, or under a negation: no narrowing.
        assert_eq!(filtered_phrase(&[call(col("speaker"), lit("open source"))]), None);
        assert_eq!(filtered_phrase(&[call(col("text"), lit(" ,. "))]), None);
        assert_eq!(filtered_phrase(&[!call(col("text"), lit("open source"))]), None);
        assert_eq!(filtered_phrase(&[call(col("text"), lit("a")).or(col("seq").eq(lit(1)))]), None);
    }

    #[test]
    fn rows_become_a_selection_of_runs() {
        let selection = row_selection(&[0, 1, 2, 7, 9], 12);
        assert_eq!(selection.row_count(), 5);
        let ranges: Vec<_> = selection.iter().map(|s| (s.skip, s.row_count)).collect();
        assert_eq!(ranges, [(false, 3), (true, 4), (false, 1), (true, 1), (false, 1), (true, 2)]);
        assert_eq!(row_selection(&[], 5).row_count(), 0);
    }
}
