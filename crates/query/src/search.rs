//! Phrase search. `search_hits('phrase' [, context])` gives every caption where a phrase starts,
//! also when its words run on over the next captions, with `context` captions before and after;
//! `search('phrase' [, context [, limit]])` adds the time as `HH:MM:SS` and a deep link (joined
//! with `documents`), ordered by document and caption.
//!
//! Each `segments` chunk answers from its phrase index when it has one, and by scanning its text
//! otherwise (the same word numbering, so the same rows); then only the hits' captions and their
//! neighbours are read from the chunk, decoding just the pages that hold them.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder, UInt64Array};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, SessionState, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use datafusion::parquet::file::metadata::PageIndexPolicy;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use verbatim_archive::phrase_index::{self, IndexCache, PhrasePlace};
use verbatim_archive::{Archive, FileEntry, StoreReader};

/// The most captions of context each side.
pub const MAX_CONTEXT: i64 = 3;

/// What a search reads: one snapshot's `segments` chunks, through the session's store.
#[derive(Debug, Clone)]
pub struct SearchTarget {
    /// The store the session reads the archive through (checked against the snapshot).
    pub store: Arc<dyn ObjectStore>,
    /// The archive (for object paths and its URL).
    pub archive: Archive,
    /// The snapshot's `segments` chunks.
    pub chunks: Vec<FileEntry>,
    /// Where copies of remote index files are kept; `None` reads them from the store.
    pub cache: Option<IndexCache>,
}

impl SearchTarget {
    /// The places of the chunk `entry` where the phrase `words` may start: from its phrase index
    /// (through the cache), or by scanning its text when it has none. Errors name the file.
    pub async fn phrase_places(&self, entry: &FileEntry, words: &[String]) -> Result<Vec<PhrasePlace>> {
        let archive = &self.archive;
        phrase_index::phrase_places(
            &self.store,
            |relative| archive.object(relative),
            archive.url().as_str(),
            entry,
            words,
            self.cache.as_ref(),
        )
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value),
        _ => None,
    }
}

/// The arguments of `search` and `search_hits`: the phrase's words, context and limit.
struct Arguments {
    phrase: String,
    context: i64,
    limit: Option<i64>,
}

fn arguments(name: &str, args: &TableFunctionArgs, most: usize) -> Result<Arguments> {
    let exprs = args.exprs();
    let usage = if most == 3 { "'phrase' [, context [, limit]]" } else { "'phrase' [, context]" };
    let phrase = match exprs.first().and_then(literal) {
        Some(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s))) => {
            s.clone()
        }
        _ => return plan_err!("{name}({usage}): the phrase must be a string literal"),
    };
    if exprs.len() > most {
        return plan_err!("{name} takes at most {most} arguments ({usage})");
    }
    let integer = |index: usize, what: &str| -> Result<Option<i64>> {
        match exprs.get(index).map(literal) {
            None => Ok(None),
            Some(Some(value)) if value.data_type().is_integer() => Ok(value.cast_to(&DataType::Int64)?.try_into().ok()),
            Some(_) => plan_err!("{name}: {what} must be an integer literal"),
        }
    };
    let context = integer(1, "context")?.unwrap_or(1);
    if !(0..=MAX_CONTEXT).contains(&context) {
        return plan_err!("{name}: context must be 0 to {MAX_CONTEXT} captions, got {context}");
    }
    let limit = integer(2, "limit")?;
    if phrase_index::phrase_words(&phrase).is_empty() {
        return plan_err!("{name}: the phrase {phrase:?} has no words");
    }
    Ok(Arguments { phrase, context, limit })
}

/// The `search` table function: hits with time, link and context, ordered.
#[derive(Debug, Default)]
pub struct SearchFunction;

impl SearchFunction {
    /// The SQL of a search for `phrase` with `context` captions each side and at most `limit` hits.
    pub fn sql(phrase: &str, context: i64, limit: Option<i64>) -> String {
        let quoted = format!("'{}'", phrase.replace('\'', "''"));
        let limit = limit.map_or(String::new(), |n| format!(" LIMIT {n}"));
        format!(
            "SELECT h.doc_id, h.seq, h.start_ms, h.end_ms, hms(h.start_ms) AS start, h.text, \
             youtube_link(d.video_id, h.start_ms) AS link, h.before, h.after \
             FROM search_hits({quoted}, {context}) h \
             LEFT JOIN documents d ON d.doc_id = h.doc_id \
             ORDER BY h.doc_id, h.seq{limit}"
        )
    }
}

impl TableFunctionImpl for SearchFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let Arguments { phrase, context, limit } = arguments("search", &args, 3)?;
        let Some(state) = args.session().as_any().downcast_ref::<SessionState>() else {
            return plan_err!("search: the session is not a DataFusion session state");
        };
        let sql = SearchFunction::sql(&phrase, context, limit);
        // Planning reads only the catalog (no I/O), so it can complete here, synchronously.
        let plan = futures::executor::block_on(state.create_logical_plan(&sql))?;
        Ok(Arc::new(ViewTable::new(plan, Some(sql))))
    }
}

/// The `search_hits` table function: every caption where a phrase starts, unordered, with
/// `doc_id, seq, start_ms, end_ms, text, before, after`.
#[derive(Debug)]
pub struct SearchHitsFunction {
    target: Arc<SearchTarget>,
}

impl SearchHitsFunction {
    /// The function over `target`.
    pub fn new(target: Arc<SearchTarget>) -> SearchHitsFunction {
        SearchHitsFunction { target }
    }
}

impl TableFunctionImpl for SearchHitsFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let Arguments { phrase, context, .. } = arguments("search_hits", &args, 2)?;
        let hits = SearchHits { target: self.target.clone(), words: phrase_index::phrase_words(&phrase), context };
        Ok(Arc::new(SearchHitsTable::new(hits)))
    }
}

/// The columns of `search_hits`.
pub static HITS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("seq", DataType::Int32, false),
        Field::new("start_ms", DataType::Int64, false),
        Field::new("end_ms", DataType::Int64, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("before", DataType::Utf8, false),
        Field::new("after", DataType::Utf8, false),
    ]))
});

/// One search: where it looks, the phrase's words and the captions of context each side.
#[derive(Debug, Clone)]
pub struct SearchHits {
    /// The snapshot's chunks and how to read them.
    pub target: Arc<SearchTarget>,
    /// The phrase's words, as `tokenize` gives them.
    pub words: Vec<String>,
    /// Captions of context each side.
    pub context: i64,
}

/// The table `search_hits(...)` returns: the hits of one search.
#[derive(Debug)]
pub struct SearchHitsTable {
    hits: SearchHits,
    single_partition: bool,
}

impl SearchHitsTable {
    /// The table of `hits`.
    pub fn new(hits: SearchHits) -> SearchHitsTable {
        SearchHitsTable { hits, single_partition: false }
    }

    /// The table of `hits`, scanned as one partition whatever the session's parallelism. For
    /// engines that split a plan's partitions among tasks only for scans they know: Ballista 55
    /// hands a task partitions `0..k` of a leaf it cannot restrict, so a search split in
    /// partitions would be read twice in part and not at all in part.
    pub fn single_partition(hits: SearchHits) -> SearchHitsTable {
        SearchHitsTable { hits, single_partition: true }
    }

    /// The search it stands for.
    pub fn hits(&self) -> &SearchHits {
        &self.hits
    }
}

#[async_trait::async_trait]
impl TableProvider for SearchHitsTable {
    fn schema(&self) -> SchemaRef {
        HITS_SCHEMA.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let partitions = if self.single_partition { 1 } else { state.config().target_partitions() };
        Ok(Arc::new(SearchHitsExec::try_new(self.hits.clone(), projection.cloned(), partitions)?))
    }
}

/// Searches a snapshot's chunks: partition `p` of `n` searches the `p`-th of `n` consecutive runs of
/// chunks, one chunk after another, so a cluster's executors share the chunks between them.
#[derive(Debug)]
pub struct SearchHitsExec {
    hits: SearchHits,
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
}

impl SearchHitsExec {
    /// The plan for `hits` with the columns `projection` picks (all when `None`), in at most
    /// `partitions` partitions (at least one, at most one per chunk).
    pub fn try_new(hits: SearchHits, projection: Option<Vec<usize>>, partitions: usize) -> Result<SearchHitsExec> {
        let schema = match &projection {
            Some(columns) => Arc::new(HITS_SCHEMA.project(columns)?),
            None => HITS_SCHEMA.clone(),
        };
        let partitions = partitions.min(hits.target.chunks.len()).max(1);
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(SearchHitsExec { hits, projection, properties: Arc::new(properties) })
    }

    /// The search it runs.
    pub fn hits(&self) -> &SearchHits {
        &self.hits
    }

    /// The columns it gives, as indexes into [`HITS_SCHEMA`] (all when `None`).
    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }

    /// The chunks partition `partition` searches.
    fn chunks_of(&self, partition: usize) -> &[FileEntry] {
        let chunks = &self.hits.target.chunks;
        let per_partition = chunks.len().div_ceil(self.properties.output_partitioning().partition_count()).max(1);
        let from = (partition * per_partition).min(chunks.len());
        &chunks[from..(from + per_partition).min(chunks.len())]
    }
}

impl DisplayAs for SearchHitsExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "SearchHitsExec: words={:?}, context={}, chunks={}",
            self.hits.words,
            self.hits.context,
            self.hits.target.chunks.len()
        )
    }
}

impl ExecutionPlan for SearchHitsExec {
    fn name(&self) -> &str {
        "SearchHitsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    leaf_plan_methods!("SearchHitsExec");

    /// Searches the partition's chunks in order, a window of places at a time, the next
    /// chunk's places and the next window's rows read while the previous window's hits are taken.
    fn execute(&self, partition: usize, _ctx: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let (target, words, context) = (self.hits.target.clone(), Arc::new(self.hits.words.clone()), self.hits.context);
        let projection = self.projection.clone();
        let batches = futures::stream::iter(self.chunks_of(partition).to_vec())
            .map(move |entry| {
                let (target, words) = (target.clone(), words.clone());
                spawned(async move { ChunkSearch::start(target, entry, words, context as u64).await })
            })
            .buffered(2)
            .map_ok(|chunk| futures::stream::iter(chunk.into_iter().flat_map(ChunkSearch::windows).map(Ok)))
            .try_flatten()
            .map_ok(|window| spawned(async move { window.hits().await }))
            .try_buffered(2)
            .try_filter_map(move |batch| {
                let projected = match (&projection, batch) {
                    (Some(columns), Some(batch)) => batch.project(columns).map(Some).map_err(DataFusionError::from),
                    (None, batch) => Ok(batch),
                    (_, None) => Ok(None),
                };
                async move { projected }
            });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), batches)))
    }
}

/// Places of one chunk whose hits are read and confirmed together. A frequent phrase has hundreds
/// of thousands of places in a chunk: taken in windows, its search holds a window's rows at a
/// time rather than the chunk's.
const WINDOW_PLACES: usize = 8192;

/// `task` run on its own tokio task (so that windows and chunks are searched in parallel).
async fn spawned<T: Send + 'static>(task: impl std::future::Future<Output = Result<T>> + Send + 'static) -> Result<T> {
    SpawnedTask::spawn(task).join_unwind().await.map_err(|e| DataFusionError::External(Box::new(e)))?
}

/// The search of one chunk: where the phrase may start in it, and its Parquet file and metadata.
struct ChunkSearch {
    target: Arc<SearchTarget>,
    entry: FileEntry,
    object: Path,
    words: Arc<Vec<String>>,
    context: u64,
    places: Vec<PhrasePlace>,
    metadata: ArrowReaderMetadata,
}

impl ChunkSearch {
    /// Looks the phrase up in the chunk (its index, or its text) and, when it may occur there,
    /// reads the chunk's metadata; `None` when it cannot occur in the chunk.
    async fn start(
        target: Arc<SearchTarget>,
        entry: FileEntry,
        words: Arc<Vec<String>>,
        context: u64,
    ) -> Result<Option<ChunkSearch>> {
        let places = target.phrase_places(&entry, &words).await?;
        if places.is_empty() {
            return Ok(None);
        }
        let object = target.archive.object(&entry.path);
        let mut reader = StoreReader::new(target.store.clone(), object.clone(), entry.bytes);
        // The offset index lets the reader fetch and decode only the pages holding selected rows.
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let metadata = ArrowReaderMetadata::load_async(&mut reader, options).await?;
        Ok(Some(ChunkSearch { target, entry, object, words, context, places, metadata }))
    }

    /// The chunk's windows of places, in row order.
    fn windows(self) -> impl Iterator<Item = HitWindow> {
        let chunk = Arc::new(self);
        window_ranges(&chunk.places, WINDOW_PLACES)
            .into_iter()
            .map(move |places| HitWindow { chunk: chunk.clone(), places })
    }
}

/// Ranges of at most about `size` places (ascending by row), never splitting the places of one row.
fn window_ranges(places: &[PhrasePlace], size: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < places.len() {
        let mut end = (start + size.max(1)).min(places.len());
        while end < places.len() && places[end].row == places[end - 1].row {
            end += 1;
        }
        ranges.push(start..end);
        start = end;
    }
    ranges
}

/// One window of a chunk's places.
struct HitWindow {
    chunk: Arc<ChunkSearch>,
    places: std::ops::Range<usize>,
}

impl HitWindow {
    /// The hits among the window's places, if any.
    async fn hits(self) -> Result<Option<RecordBatch>> {
        let chunk = &self.chunk;
        let places = &chunk.places[self.places.clone()];
        let selected = with_context(places, chunk.context, chunk.entry.rows);
        let rows = read_rows(&chunk.target.store, &chunk.object, &chunk.entry, &chunk.metadata, &selected).await?;
        let hits = confirmed_hits(&rows, &selected, places, &chunk.words)?;
        if hits.is_empty() {
            return Ok(None);
        }
        Ok(Some(hit_batch(&rows, &selected, &hits, chunk.context)?))
    }
}

/// The rows to read: each place's rows (where the phrase would start to where it would end) and
/// `context` rows each side, ascending and once each.
fn with_context(places: &[PhrasePlace], context: u64, rows: u64) -> Vec<u64> {
    let mut selected: Vec<u64> = Vec::with_capacity(places.len() * (2 * context as usize + 1));
    for place in places {
        let from = place.row.saturating_sub(context).max(selected.last().map_or(0, |last| last + 1));
        let to = (place.row + context).max(place.last_row);
        selected.extend(from..(to + 1).min(rows));
    }
    selected
}

/// The rows (ascending, once each) where the phrase `words` does start, of the `places` where it
/// may: each place checked against the text of the `selected` rows read.
fn confirmed_hits(rows: &RecordBatch, selected: &[u64], places: &[PhrasePlace], words: &[String]) -> Result<Vec<u64>> {
    let texts_array = cast(column(rows, "text")?, &DataType::Utf8)?;
    let texts = texts_array.as_string::<i32>();
    let mut hits: Vec<u64> = Vec::new();
    for place in places {
        if hits.last() == Some(&place.row) {
            continue;
        }
        let first = selected.binary_search(&place.row).expect("every place's rows are selected");
        let span = (place.last_row - place.row) as usize;
        let read = (first..=first + span).map(|index| if texts.is_null(index) { "" } else { texts.value(index) });
        if phrase_index::phrase_at(read, place.skip, words) {
            hits.push(place.row);
        }
    }
    Ok(hits)
}

/// Reads the `selected` rows (ascending) of the chunk: `doc_id, seq, start_ms, end_ms, text`.
async fn read_rows(
    store: &Arc<dyn ObjectStore>,
    object: &Path,
    entry: &FileEntry,
    metadata: &ArrowReaderMetadata,
    selected: &[u64],
) -> Result<RecordBatch> {
    let reader = StoreReader::new(store.clone(), object.clone(), entry.bytes);
    let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata.clone());
    let columns: Vec<usize> = ["doc_id", "seq", "start_ms", "end_ms", "text"]
        .iter()
        .map(|name| builder.schema().index_of(name))
        .collect::<std::result::Result<_, _>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), columns);
    let selection = crate::segments::row_selection(selected, entry.rows);
    let stream = builder.with_projection(mask).with_row_selection(selection).build()?;
    let batches: Vec<RecordBatch> = stream.try_collect().await?;
    let schema = batches.first().map_or_else(|| Arc::new(Schema::empty()), RecordBatch::schema);
    let rows = concat_batches(&schema, &batches)?;
    if rows.num_rows() != selected.len() {
        return Err(DataFusionError::Execution(format!(
            "{}: {} rows read, {} selected",
            entry.path,
            rows.num_rows(),
            selected.len()
        )));
    }
    Ok(rows)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| DataFusionError::Execution(format!("no {name} column in segments")))
}

/// One output row per hit: its columns, and the texts of its neighbours in the same document.
fn hit_batch(rows: &RecordBatch, selected: &[u64], hits: &[u64], context: u64) -> Result<RecordBatch> {
    let docs_array = cast(column(rows, "doc_id")?, &DataType::Utf8)?;
    let texts_array = cast(column(rows, "text")?, &DataType::Utf8)?;
    let (docs, texts) = (docs_array.as_string::<i32>(), texts_array.as_string::<i32>());
    let at: Vec<usize> = hits.iter().map(|hit| selected.binary_search(hit).expect("every hit is selected")).collect();
    let indices = UInt64Array::from_iter_values(at.iter().map(|&i| i as u64));
    let take = |array: &ArrayRef| -> Result<ArrayRef> { Ok(datafusion::arrow::compute::take(array, &indices, None)?) };
    let neighbours = |index: usize, offsets: &mut dyn Iterator<Item = i64>| -> String {
        let mut joined = String::new();
        for offset in offsets {
            let Some(other) = index.checked_add_signed(offset as isize) else { continue };
            let row = selected[index] as i64 + offset;
            // Only rows that were read and are next to the hit in the same document.
            if other >= selected.len() || selected[other] as i64 != row || docs.value(other) != docs.value(index) {
                continue;
            }
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(texts.value(other));
        }
        joined
    };
    let (mut before, mut after) = (StringBuilder::new(), StringBuilder::new());
    let context = context as i64;
    for &index in &at {
        before.append_value(neighbours(index, &mut (-context..0)));
        after.append_value(neighbours(index, &mut (1..=context)));
    }
    // The hit schema's types are checked by `try_new`.
    let columns: Vec<ArrayRef> = vec![
        take(&docs_array)?,
        take(column(rows, "seq")?)?,
        take(column(rows, "start_ms")?)?,
        take(column(rows, "end_ms")?)?,
        take(&texts_array)?,
        Arc::new(before.finish()),
        Arc::new(after.finish()),
    ];
    Ok(RecordBatch::try_new(HITS_SCHEMA.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_rows_are_merged_and_clipped() {
        let at = |rows: &[u64]| -> Vec<PhrasePlace> {
            rows.iter().map(|&row| PhrasePlace { row, skip: 0, last_row: row }).collect()
        };
        assert_eq!(with_context(&at(&[0, 2, 9]), 1, 10), vec![0, 1, 2, 3, 8, 9]);
        assert_eq!(with_context(&at(&[5]), 0, 10), vec![5]);
        assert_eq!(with_context(&at(&[1, 2]), 3, 4), vec![0, 1, 2, 3]);
        // A phrase running on over the next rows: they are read to confirm it.
        let across = [PhrasePlace { row: 2, skip: 1, last_row: 5 }, PhrasePlace { row: 3, skip: 0, last_row: 3 }];
        assert_eq!(with_context(&across, 1, 10), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn windows_cover_every_place_once_and_keep_a_row_together() {
        let places: Vec<PhrasePlace> =
            [1, 2, 2, 2, 5, 7, 7, 9].iter().map(|&row| PhrasePlace { row, skip: 0, last_row: row }).collect();
        assert_eq!(window_ranges(&places, 2), vec![0..4, 4..7, 7..8]);
        assert_eq!(window_ranges(&places, 100), vec![0..8]);
        assert_eq!(window_ranges(&places[..0], 2), Vec::<std::ops::Range<usize>>::new());
    }

    #[test]
    fn search_sql_quotes_the_phrase() {
        let sql = SearchFunction::sql("it's here", 2, Some(5));
        assert!(sql.contains("search_hits('it''s here', 2)") && sql.ends_with("LIMIT 5"), "{sql}");
    }
}
