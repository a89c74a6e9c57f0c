//! The `segments` table: the snapshot's Parquet chunks as a listing table, whose scans read only
//! the rows that the chunks' phrase indexes name when the query filters on
//! `phrase_match(text, 'phrase')`.
//!
//! A caption can hold a phrase only where the phrase starts, so the rows where the phrase may start
//! (from [`phrase_index::phrase_places`]) are a superset of the rows `phrase_match` keeps. The
//! scan is told to read just those rows of each indexed chunk (a Parquet row selection); the
//! filter itself still runs over what is read, so the answer is the same as a full scan's. Chunks
//! without an index are read whole.
//!
//! The indexes are read when the scan starts, not while planning: planning only marks the files
//! ([`IndexedPhrase`]), and [`NarrowPhraseScans`], after DataFusion's physical rules, defers the
//! scans that read everything they match to [`PhraseIndexedScanExec`]. A scan that stops after a
//! limit (`ORDER BY doc_id, seq LIMIT 100` over the sorted chunks) is left alone: it reads a few
//! chunks, where asking every chunk's index first would cost more than it saves.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Constraints, DataFusionError, Result, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::{ListingTable, PartitionedFile};
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use verbatim_archive::FileEntry;
use verbatim_archive::phrase_index::{self, PhrasePlace};

use crate::search::SearchTarget;

/// Index files read at once when a narrowed scan starts, in a local archive: reading is decoding,
/// and each lookup of a frequent phrase holds its chunk's posting lists.
const LOCAL_INDEX_READS: usize = 2;
/// The same for an archive on object storage, where reads wait on the network.
const REMOTE_INDEX_READS: usize = 8;

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

    /// `plan` with each indexed chunk's file marked for narrowing to the rows of `words`.
    fn mark_files(&self, plan: Arc<dyn ExecutionPlan>, words: Vec<String>) -> Arc<dyn ExecutionPlan> {
        let lookup = Arc::new(PhraseLookup { target: self.target.clone(), words });
        let entries: HashMap<Path, &FileEntry> = self
            .target
            .chunks
            .iter()
            .filter(|entry| entry.phrase_index.is_some())
            .map(|entry| (self.target.archive.object(&entry.path), entry))
            .collect();
        map_files(plan, |file| match entries.get(&file.object_meta.location) {
            Some(&entry) => file.with_extension(IndexedPhrase { lookup: lookup.clone(), entry: entry.clone() }),
            None => file,
        })
        .unwrap_or_else(|plan| plan)
    }
}

/// A phrase to look up in the indexes of a snapshot's chunks.
#[derive(Debug)]
struct PhraseLookup {
    target: Arc<SearchTarget>,
    words: Vec<String>,
}

/// Attached to a file of a `segments` scan filtered on a phrase: the chunk it is, with an index,
/// and the phrase.
#[derive(Debug, Clone)]
pub struct IndexedPhrase {
    lookup: Arc<PhraseLookup>,
    entry: FileEntry,
}

/// The object path of the chunk of `indexed` and the rows where its phrase may start in it, from
/// the chunk's phrase index.
async fn chunk_selection(indexed: IndexedPhrase) -> Result<(Path, RowSelection)> {
    let IndexedPhrase { lookup, entry } = indexed;
    let rows = PhrasePlace::rows(&lookup.target.phrase_places(&entry, &lookup.words).await?);
    Ok((lookup.target.archive.object(&entry.path), row_selection(&rows, entry.rows)))
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
        Ok(ScanResult::new(self.mark_files(scan.into_inner(), words)))
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

/// `plan`, a file scan, with `change` applied to each of its files (`Err(plan)` for other plans).
fn map_files(
    plan: Arc<dyn ExecutionPlan>,
    mut change: impl FnMut(PartitionedFile) -> PartitionedFile,
) -> std::result::Result<Arc<dyn ExecutionPlan>, Arc<dyn ExecutionPlan>> {
    let Some(exec) = plan.downcast_ref::<DataSourceExec>() else { return Err(plan) };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else { return Err(plan) };
    let mut config = config.clone();
    config.file_groups = std::mem::take(&mut config.file_groups)
        .into_iter()
        .map(|group| {
            let statistics = group.file_statistics(None).cloned();
            let group = FileGroup::new(group.into_inner().into_iter().map(&mut change).collect());
            match statistics {
                Some(statistics) => group.with_statistics(Arc::new(statistics)),
                None => group,
            }
        })
        .collect();
    Ok(Arc::new(exec.clone().with_data_source(Arc::new(config))))
}

/// The files of `plan` marked for narrowing, when it is a file scan that reads everything it
/// matches (no limit).
fn marked_files(plan: &dyn ExecutionPlan) -> Vec<IndexedPhrase> {
    let Some(exec) = plan.downcast_ref::<DataSourceExec>() else { return Vec::new() };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else { return Vec::new() };
    if config.limit.is_some() {
        return Vec::new();
    }
    config
        .file_groups
        .iter()
        .flat_map(|group| group.iter())
        .filter_map(|f| f.extension::<IndexedPhrase>().cloned())
        .collect()
}

/// The physical optimizer rule that defers each `segments` scan filtered on a phrase, and reading
/// all it matches, to a [`PhraseIndexedScanExec`]. Registered after DataFusion's rules, once the scan has its final
/// form (filters pushed into it, limits, partitioning).
#[derive(Debug, Default)]
pub struct NarrowPhraseScans;

impl PhysicalOptimizerRule for NarrowPhraseScans {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if marked_files(node.as_ref()).is_empty() {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(Arc::new(PhraseIndexedScanExec::new(node)) as Arc<dyn ExecutionPlan>))
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "narrow_phrase_scans"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A `segments` scan that first asks its chunks' phrase indexes where the filtered phrase starts,
/// once for all partitions, then runs the scan reading only those rows of each indexed chunk.
///
/// The row selections stay in memory until the scan ends (a frequent phrase over a large archive
/// makes millions of them), so they are reserved from the query's memory pool, up to half of it:
/// operators above the scan, a sort for one, spill earlier rather than take the process past its
/// budget. A chunk whose selection does not fit is read whole; the filter still keeps only its
/// matching rows.
#[derive(Debug)]
pub struct PhraseIndexedScanExec {
    scan: Arc<dyn ExecutionPlan>,
    narrowed: Arc<tokio::sync::OnceCell<NarrowedScan>>,
}

/// The scan reading only the selected rows, and the memory its selections hold.
#[derive(Debug)]
struct NarrowedScan {
    plan: Arc<dyn ExecutionPlan>,
    _selections: MemoryReservation,
}

impl PhraseIndexedScanExec {
    /// Defers `scan`, a Parquet scan whose files are marked with [`IndexedPhrase`].
    pub fn new(scan: Arc<dyn ExecutionPlan>) -> PhraseIndexedScanExec {
        PhraseIndexedScanExec { scan, narrowed: Arc::new(tokio::sync::OnceCell::new()) }
    }
}

/// `scan` reading only the rows its marked files' indexes name, with the selections' memory
/// reserved from `pool` (at most half of it); chunks whose selections do not fit are read whole.
async fn narrowed_scan(scan: Arc<dyn ExecutionPlan>, pool: &Arc<dyn MemoryPool>) -> Result<NarrowedScan> {
    let reservation = MemoryConsumer::new("PhraseIndexedScan").register(pool);
    let most = match pool.memory_limit() {
        MemoryLimit::Finite(bytes) => verbatim_model::budget::index_selections(bytes as u64) as usize,
        MemoryLimit::Infinite | MemoryLimit::Unknown => usize::MAX,
    };
    let mut selections: HashMap<Path, RowSelection> = HashMap::new();
    let marked = marked_files(scan.as_ref());
    let local = marked.first().is_none_or(|file| file.lookup.target.archive.is_local());
    let concurrent = if local { LOCAL_INDEX_READS } else { REMOTE_INDEX_READS };
    let mut chunks = futures::stream::iter(marked).map(chunk_selection).buffer_unordered(concurrent);
    while let Some((path, selection)) = chunks.try_next().await? {
        let bytes = selection_bytes(&selection);
        if reservation.size() + bytes <= most && reservation.try_grow(bytes).is_ok() {
            selections.insert(path, selection);
        }
    }
    let partitions = scan.properties().output_partitioning().partition_count();
    let plan = map_files(scan, |file| match selections.remove(&file.object_meta.location) {
        Some(selection) => file.with_extension(ParquetRowSelection::new(selection)),
        // Read whole: no index, or its selection did not fit in the memory pool.
        None => file,
    })
    .map_err(|_| DataFusionError::Internal("a phrase-indexed scan is not a file scan".into()))?;
    if plan.properties().output_partitioning().partition_count() != partitions {
        return Err(DataFusionError::Internal("narrowing a phrase-indexed scan changed its partitions".into()));
    }
    Ok(NarrowedScan { plan, _selections: reservation })
}

/// Memory held by a row selection.
fn selection_bytes(selection: &RowSelection) -> usize {
    selection.iter().count() * std::mem::size_of::<RowSelector>()
}

impl DisplayAs for PhraseIndexedScanExec {
    fn fmt_as(&self, format: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "PhraseIndexedScanExec: ")?;
        match self.scan.downcast_ref::<DataSourceExec>() {
            Some(exec) => exec.fmt_as(format, f),
            None => write!(f, "{}", self.scan.name()),
        }
    }
}

impl ExecutionPlan for PhraseIndexedScanExec {
    fn name(&self) -> &str {
        "PhraseIndexedScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.scan.properties()
    }

    // No children: the scan it defers is run by it, and was optimized before it was made.
    leaf_plan_methods!("PhraseIndexedScanExec");

    /// The metrics of the scan it runs (the narrowed scan shares them).
    fn metrics(&self) -> Option<MetricsSet> {
        self.scan.metrics()
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let (scan, narrowed) = (self.scan.clone(), self.narrowed.clone());
        let batches = futures::stream::once(async move {
            let pool = context.memory_pool().clone();
            let narrowed = narrowed.get_or_try_init(|| narrowed_scan(scan, &pool)).await?;
            narrowed.plan.execute(partition, context)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), batches)))
    }
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
