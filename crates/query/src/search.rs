//! Phrase search. `search_hits('phrase' [, context])` gives every caption where a phrase starts,
//! also when its words run on over the next captions, with `context` captions before and after;
//! `search('phrase' [, context [, limit]])` adds the time as `HH:MM:SS` and a deep link (joined
//! with `documents`), ordered by document and caption.
//!
//! Each `segments` chunk answers from its phrase index when it has one, and by scanning its text
//! otherwise (the same word numbering, so the same rows); then only the hits' captions and their
//! neighbours are read from the chunk, decoding just the pages that hold them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray, StringBuilder, UInt64Array,
};
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
use datafusion::parquet::arrow::async_reader::ParquetRecordBatchStream;
use datafusion::parquet::file::metadata::PageIndexPolicy;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use verbatim_archive::phrase_index::{self, ChunkIndex, IndexCache, PhrasePlace};
use verbatim_archive::{Archive, FileEntry, StoreReader, Table};

use crate::corpus::candidates::candidate_starts;
use crate::corpus::matcher::Block;
use crate::corpus::{CorpusQuery, Filters};

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
    /// The snapshot's `documents` chunks (read for filters on documents).
    pub documents: Vec<FileEntry>,
    /// The snapshot's version, which each hit carries.
    pub version: u64,
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

/// The arguments of `search` and `search_hits`: the query, context, limit and the version whose
/// documents are left out.
struct Arguments {
    query: CorpusQuery,
    context: i64,
    limit: Option<i64>,
    since: Option<u64>,
}

fn arguments(name: &str, args: &TableFunctionArgs, most: usize) -> Result<Arguments> {
    let exprs = args.exprs();
    let usage = if most == 4 { "'query' [, context [, limit [, since]]]" } else { "'query' [, context [, since]]" };
    let text = match exprs.first().and_then(literal) {
        Some(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s))) => {
            s.clone()
        }
        _ => return plan_err!("{name}({usage}): the query must be a string literal"),
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
    let (limit, since) =
        if most == 4 { (integer(2, "limit")?, integer(3, "since")?) } else { (None, integer(2, "since")?) };
    let since = match since {
        Some(version) if version < 0 => return plan_err!("{name}: since must be a version (0 or more), got {version}"),
        // Version 0 is before the first commit: every document is new since then.
        Some(0) | None => None,
        Some(version) => Some(version as u64),
    };
    if let Some(limit) = limit.filter(|&n| n < 0) {
        return plan_err!("{name}: limit must be 0 or more, got {limit}");
    }
    let query = match CorpusQuery::parse(&text) {
        Ok(query) => query,
        Err(e) => return plan_err!("{name}: the query \"{text}\" does not parse: {e}"),
    };
    Ok(Arguments { query, context, limit, since })
}

/// The `search` table function: hits with time, link and context, ordered.
#[derive(Debug, Default)]
pub struct SearchFunction;

impl SearchFunction {
    /// The SQL of a search for `query` with `context` captions each side, at most `limit` hits,
    /// in the documents added or replaced after version `since`.
    pub fn sql(query: &str, context: i64, limit: Option<i64>, since: Option<u64>) -> String {
        let quoted = format!("'{}'", query.replace('\'', "''"));
        let limit = limit.map_or(String::new(), |n| format!(" LIMIT {n}"));
        let since = since.unwrap_or(0);
        format!(
            "SELECT h.doc_id, h.seq, h.word_index, h.hit_words, h.start_ms, h.end_ms, hms(h.start_ms) AS start, \
             h.text, h.speaker, youtube_link(d.video_id, h.start_ms) AS link, h.before, h.after, \
             h.left_context, h.hit, h.right_context, d.title, d.channel, d.published_at, \
             h.version, d.content_hash \
             FROM search_hits({quoted}, {context}, {since}) h \
             LEFT JOIN documents d ON d.doc_id = h.doc_id \
             ORDER BY h.doc_id, h.seq, h.word_index{limit}"
        )
    }
}

impl TableFunctionImpl for SearchFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let Arguments { query, context, limit, since } = arguments("search", &args, 4)?;
        let Some(state) = args.session().as_any().downcast_ref::<SessionState>() else {
            return plan_err!("search: the session is not a DataFusion session state");
        };
        let sql = SearchFunction::sql(&query.text, context, limit, since);
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
        let Arguments { query, context, since, .. } = arguments("search_hits", &args, 3)?;
        let hits = SearchHits { target: self.target.clone(), query: Arc::new(query), context, since };
        Ok(Arc::new(SearchHitsTable::new(hits)))
    }
}

/// The columns of `search_hits`.
pub static HITS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("seq", DataType::Int32, false),
        Field::new("word_index", DataType::Int32, false),
        Field::new("hit_words", DataType::Int32, false),
        Field::new("start_ms", DataType::Int64, false),
        Field::new("end_ms", DataType::Int64, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("speaker", DataType::Utf8, true),
        Field::new("before", DataType::Utf8, false),
        Field::new("after", DataType::Utf8, false),
        Field::new("left_context", DataType::Utf8, false),
        Field::new("hit", DataType::Utf8, false),
        Field::new("right_context", DataType::Utf8, false),
        Field::new("version", DataType::UInt64, false),
    ]))
});

/// One search: where it looks, what it looks for and the captions of context each side.
#[derive(Debug, Clone)]
pub struct SearchHits {
    /// The snapshot's chunks and how to read them.
    pub target: Arc<SearchTarget>,
    /// The query.
    pub query: Arc<CorpusQuery>,
    /// Captions of context each side.
    pub context: i64,
    /// Only the documents added or replaced after this version.
    pub since: Option<u64>,
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
            "SearchHitsExec: query={:?}, context={}, chunks={}",
            self.hits.query.text,
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

    /// Searches the partition's chunks in order, a window of candidate starts at a time (or, for
    /// a chunk the index cannot narrow down, a document at a time), the next chunk's candidates
    /// and the next window's rows read while the previous window's hits are taken.
    fn execute(&self, partition: usize, _ctx: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let hits = self.hits.clone();
        let chunks = self.chunks_of(partition).to_vec();
        let projection = self.projection.clone();
        let batches = futures::stream::once(spawned(Search::start(hits)))
            .map_ok(move |search| {
                futures::stream::iter(chunks.clone())
                    .map(move |entry| spawned(ChunkSearch::start(search.clone(), entry)))
                    .buffered(2)
                    .map_ok(ChunkSearch::hits)
                    .try_flatten()
            })
            .try_flatten()
            .try_filter_map(move |batch| {
                let projected = match &projection {
                    Some(columns) => batch.project(columns).map(Some).map_err(DataFusionError::from),
                    None => Ok(Some(batch)),
                };
                async move { projected }
            });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), batches)))
    }
}

/// Candidate starts of one chunk whose hits are read and confirmed together. A frequent word has
/// hundreds of thousands of places in a chunk: taken in windows, its search holds a window's rows
/// at a time rather than the chunk's.
const WINDOW_PLACES: usize = 8192;

/// `task` run on its own tokio task (so that windows and chunks are searched in parallel).
async fn spawned<T: Send + 'static>(task: impl std::future::Future<Output = Result<T>> + Send + 'static) -> Result<T> {
    SpawnedTask::spawn(task).join_unwind().await.map_err(|e| DataFusionError::External(Box::new(e)))?
}

/// A search under way: what it looks for, where, and the documents its filters take.
struct Search {
    target: Arc<SearchTarget>,
    query: Arc<CorpusQuery>,
    context: u64,
    /// The documents the query's document filters take; `None` without such filters.
    documents: Option<HashSet<String>>,
}

impl Search {
    /// Starts `hits`: reads the `documents` table when the query filters on documents or asks
    /// for the documents new since a version.
    async fn start(hits: SearchHits) -> Result<Arc<Search>> {
        let filters = &hits.query.filters;
        let mut documents =
            if filters.on_documents() { Some(documents_taken(&hits.target, &hits.query.filters).await?) } else { None };
        if let Some(version) = hits.since {
            let new = documents_new_since(&hits.target, version).await?;
            documents = Some(match documents {
                Some(taken) => taken.intersection(&new).cloned().collect(),
                None => new,
            });
        }
        Ok(Arc::new(Search { target: hits.target, query: hits.query, context: hits.context as u64, documents }))
    }

    /// Whether a hit in document `doc_id`, in a caption of `speaker`, passes the filters.
    fn takes(&self, doc_id: &str, speaker: Option<&str>) -> bool {
        self.documents.as_ref().is_none_or(|documents| documents.contains(doc_id))
            && self.query.filters.takes_speaker(speaker)
    }
}

/// The `columns` of the chunk `entry` of `archive`, read through `store` in batches.
pub(crate) async fn chunk_columns(
    store: &Arc<dyn ObjectStore>,
    archive: &Archive,
    entry: &FileEntry,
    columns: &[&str],
) -> Result<ParquetRecordBatchStream<StoreReader>> {
    let reader = StoreReader::new(store.clone(), archive.object(&entry.path), entry.bytes);
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
    let indexes: Vec<usize> =
        columns.iter().map(|name| builder.schema().index_of(name)).collect::<std::result::Result<_, _>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), indexes);
    Ok(builder.with_projection(mask).with_batch_size(8192).build()?)
}

/// The ids of the documents of the snapshot `filters` take.
pub(crate) async fn documents_taken(target: &SearchTarget, filters: &Filters) -> Result<HashSet<String>> {
    let mut taken = HashSet::new();
    for entry in &target.documents {
        let columns = ["doc_id", "channel", "language", "published_at"];
        let mut stream = chunk_columns(&target.store, &target.archive, entry, &columns).await?;
        while let Some(batch) = stream.try_next().await? {
            let text = |name: &str| -> Result<ArrayRef> { Ok(cast(column(&batch, name)?, &DataType::Utf8)?) };
            let (ids, channels, languages, published) =
                (text("doc_id")?, text("channel")?, text("language")?, text("published_at")?);
            let (ids, channels, languages, published) = (
                ids.as_string::<i32>(),
                channels.as_string::<i32>(),
                languages.as_string::<i32>(),
                published.as_string::<i32>(),
            );
            fn value(array: &datafusion::arrow::array::StringArray, row: usize) -> Option<&str> {
                (!array.is_null(row)).then(|| array.value(row))
            }
            for row in 0..batch.num_rows() {
                if filters.takes_document(value(channels, row), value(languages, row), value(published, row)) {
                    taken.insert(ids.value(row).to_string());
                }
            }
        }
    }
    Ok(taken)
}

/// The ids of the documents of `target`'s snapshot that are not in snapshot `version` with the
/// same content: added or replaced since. Errors name the versions still kept when `version` is
/// not.
async fn documents_new_since(target: &SearchTarget, version: u64) -> Result<HashSet<String>> {
    let external = |e| DataFusionError::External(Box::new(e));
    let archive = &target.archive;
    let before = archive.snapshot_at(version).await.map_err(external)?;
    let old: HashSet<(String, String)> =
        document_hashes(&archive.checked_store(&before), archive, before.files(Table::Documents))
            .await?
            .into_iter()
            .collect();
    let now = document_hashes(&target.store, archive, &target.documents).await?;
    Ok(now.into_iter().filter(|pair| !old.contains(pair)).map(|(doc, _)| doc).collect())
}

/// The `(doc_id, content_hash)` of every document in the `documents` chunks `entries`.
async fn document_hashes(
    store: &Arc<dyn ObjectStore>,
    archive: &Archive,
    entries: &[FileEntry],
) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for entry in entries {
        let mut stream = chunk_columns(store, archive, entry, &["doc_id", "content_hash"]).await?;
        while let Some(batch) = stream.try_next().await? {
            let (ids, hashes) = (
                cast(column(&batch, "doc_id")?, &DataType::Utf8)?,
                cast(column(&batch, "content_hash")?, &DataType::Utf8)?,
            );
            let (ids, hashes) = (ids.as_string::<i32>(), hashes.as_string::<i32>());
            pairs.extend((0..batch.num_rows()).map(|row| (ids.value(row).to_string(), hashes.value(row).to_string())));
        }
    }
    Ok(pairs)
}

/// The search of one chunk: the chunk's Parquet metadata and how its candidates were found.
struct ChunkSearch {
    search: Arc<Search>,
    entry: FileEntry,
    object: Path,
    metadata: ArrowReaderMetadata,
}

/// Where a chunk's hits may start.
enum Candidates {
    /// At these positions (ascending), as its index says.
    Indexed(Arc<ChunkIndex>, Arc<Vec<u64>>),
    /// Anywhere: the chunk is scanned.
    Everywhere,
}

impl ChunkSearch {
    /// Looks the query up in the chunk's index: the chunk's windows of candidates, or its scan;
    /// nothing when the query cannot match in it.
    async fn start(search: Arc<Search>, entry: FileEntry) -> Result<Option<(Arc<ChunkSearch>, Candidates)>> {
        let target = &search.target;
        let archive = &target.archive;
        let index = ChunkIndex::open(
            &target.store,
            |relative| archive.object(relative),
            archive.url().as_str(),
            &entry,
            target.cache.as_ref(),
        )
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let candidates = match index {
            Some(index) => match candidate_starts(&search.query.expr, &index)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
            {
                Some(starts) if starts.is_empty() => return Ok(None),
                Some(starts) => Candidates::Indexed(Arc::new(index), Arc::new(starts)),
                None => Candidates::Everywhere,
            },
            None => Candidates::Everywhere,
        };
        let object = archive.object(&entry.path);
        let mut reader = StoreReader::new(target.store.clone(), object.clone(), entry.bytes);
        // The offset index lets the reader fetch and decode only the pages holding selected rows.
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let metadata = ArrowReaderMetadata::load_async(&mut reader, options).await?;
        Ok(Some((Arc::new(ChunkSearch { search, entry, object, metadata }), candidates)))
    }

    /// The chunk's hits, a window of candidates (or a document) at a time, in row order.
    fn hits(started: Option<(Arc<ChunkSearch>, Candidates)>) -> BoxStream<'static, Result<RecordBatch>> {
        let Some((chunk, candidates)) = started else { return futures::stream::empty().boxed() };
        match candidates {
            Candidates::Indexed(index, starts) => futures::stream::iter(window_ranges(&starts, WINDOW_PLACES))
                .map(move |range| {
                    let (chunk, index, starts) = (chunk.clone(), index.clone(), starts.clone());
                    spawned(async move { chunk.window_hits(&index, &starts[range]).await })
                })
                .buffered(2)
                .try_filter_map(|batch| async move { Ok(batch) })
                .boxed(),
            Candidates::Everywhere => chunk.scan().boxed(),
        }
    }

    /// The hits starting at some of `starts` (ascending positions of the chunk's index).
    async fn window_hits(&self, index: &ChunkIndex, starts: &[u64]) -> Result<Option<RecordBatch>> {
        let external = |e| DataFusionError::External(Box::new(e));
        let (words, captions) = self.search.query.expr.reach();
        let last_position = index.positions().saturating_sub(1);
        // The rows of each start, and of the words `words` before and after it.
        let mut asked: Vec<u64> =
            starts.iter().flat_map(|&p| [p.saturating_sub(words), p, (p + words).min(last_position)]).collect();
        asked.sort_unstable();
        asked.dedup();
        let located = index.locate(&asked).await.map_err(external)?;
        let row_of = |position: u64| located[asked.binary_search(&position).expect("every position is located")];
        let mut spans: Vec<(u64, u64)> = starts
            .iter()
            .map(|&p| (row_of(p.saturating_sub(words)).0, row_of((p + words).min(last_position)).0))
            .collect();
        if captions > 0 || self.search.query.expr.has_windows() {
            spans = self.widen(index, &spans, words, captions).await?;
        }
        let rows = index.rows();
        let context = self.search.context;
        let mut wanted: Vec<(u64, u64)> = spans;
        // Context: captions before the hit's first caption and after its last one (within the
        // words of its reach).
        wanted.extend(starts.iter().map(|&p| {
            let (first, last) = (row_of(p.saturating_sub(words)).0, row_of((p + words).min(last_position)).0);
            (first.saturating_sub(context), (last + context).min(rows - 1))
        }));
        let selected = merged_rows(wanted);
        let batch = read_rows(&self.search.target.store, &self.object, &self.entry, &self.metadata, &selected).await?;
        // A hit counts only where it starts at a candidate: its deciding words were all read.
        let row_starts: HashMap<u64, u64> = starts.iter().map(|&p| row_of(p)).collect();
        let accept = |row: u64, word: u32| {
            row_starts.get(&row).is_some_and(|&first| starts.binary_search(&(first + u64::from(word))).is_ok())
        };
        let hits = self.block_hits(&batch, &selected, accept)?;
        if hits.is_empty() {
            return Ok(None);
        }
        Ok(Some(hit_batch(&batch, &selected, &hits, context, self.search.target.version)?))
    }

    /// `spans` of rows widened by `captions` captions each side, and then by the rows of `words`
    /// words beyond those.
    async fn widen(
        &self,
        index: &ChunkIndex,
        spans: &[(u64, u64)],
        words: u64,
        captions: u64,
    ) -> Result<Vec<(u64, u64)>> {
        let external = |e| DataFusionError::External(Box::new(e));
        let (rows, last_position) = (index.rows(), index.positions().saturating_sub(1));
        let mut edges: Vec<u64> = spans
            .iter()
            .flat_map(|&(first, last)| [first.saturating_sub(captions), last + captions + 1])
            .filter(|&row| row < rows)
            .collect();
        edges.sort_unstable();
        edges.dedup();
        let firsts = index.first_positions(&edges).await.map_err(external)?;
        let first_of = |row: u64| firsts[edges.binary_search(&row).expect("every edge is read")];
        let mut asked: Vec<u64> = Vec::with_capacity(spans.len() * 2);
        for &(first, last) in spans {
            asked.push(first_of(first.saturating_sub(captions)).saturating_sub(words));
            if last + captions + 1 < rows {
                asked.push((first_of(last + captions + 1) + words).min(last_position));
            }
        }
        asked.sort_unstable();
        asked.dedup();
        let located = index.locate(&asked).await.map_err(external)?;
        let row_of = |position: u64| located[asked.binary_search(&position).expect("every position is located")].0;
        Ok(spans
            .iter()
            .map(|&(first, last)| {
                let from = row_of(first_of(first.saturating_sub(captions)).saturating_sub(words));
                let to = if last + captions + 1 < rows {
                    row_of((first_of(last + captions + 1) + words).min(last_position))
                } else {
                    rows - 1
                };
                (from, to)
            })
            .collect())
    }

    /// The hits among `batch`'s rows (the chunk's rows `rows`, ascending), matched a run of
    /// consecutive rows of one document at a time; `accept` says which starts (row, word in it)
    /// count.
    fn block_hits(&self, batch: &RecordBatch, rows: &[u64], accept: impl Fn(u64, u32) -> bool) -> Result<Vec<Hit>> {
        let (docs_array, texts_array) =
            (cast(column(batch, "doc_id")?, &DataType::Utf8)?, cast(column(batch, "text")?, &DataType::Utf8)?);
        let speakers_array = cast(column(batch, "speaker")?, &DataType::Utf8)?;
        let (docs, texts, speakers) =
            (docs_array.as_string::<i32>(), texts_array.as_string::<i32>(), speakers_array.as_string::<i32>());
        let mut hits = Vec::new();
        let mut run_start = 0;
        while run_start < rows.len() {
            let mut run_end = run_start + 1;
            while run_end < rows.len()
                && rows[run_end] == rows[run_end - 1] + 1
                && docs.value(run_end) == docs.value(run_start)
            {
                run_end += 1;
            }
            if self.search.documents.as_ref().is_none_or(|taken| taken.contains(docs.value(run_start))) {
                let mut block = Block::new();
                for index in run_start..run_end {
                    block.add_caption(if texts.is_null(index) { "" } else { texts.value(index) });
                }
                let text_of = |caption: u32| {
                    let index = run_start + caption as usize;
                    if texts.is_null(index) { "" } else { texts.value(index) }
                };
                for (first, last) in block.hits(&self.search.query.expr) {
                    let (caption, word) = block.place(first);
                    let index = run_start + caption as usize;
                    let speaker = (!speakers.is_null(index)).then(|| speakers.value(index));
                    if accept(rows[index], word) && self.search.takes(docs.value(index), speaker) {
                        let context = self.search.context as u32;
                        let (left, hit, right) = hit_texts(&block, (first, last), context, &text_of);
                        let words = (last - first + 1) as u32;
                        let speaker = speaker.map(str::to_string);
                        hits.push(Hit { index, word, words, speaker, left, hit, right });
                    }
                }
            }
            run_start = run_end;
        }
        Ok(hits)
    }

    /// The hits of the whole chunk, read in order, a document at a time.
    fn scan(self: Arc<Self>) -> impl futures::Stream<Item = Result<RecordBatch>> + Send + 'static {
        let chunk = self;
        futures::stream::once(async move {
            let reader = StoreReader::new(chunk.search.target.store.clone(), chunk.object.clone(), chunk.entry.bytes);
            let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, chunk.metadata.clone());
            let columns: Vec<usize> = READ_COLUMNS
                .iter()
                .map(|name| builder.schema().index_of(name))
                .collect::<std::result::Result<_, _>>()?;
            let mask = ProjectionMask::roots(builder.parquet_schema(), columns);
            let stream = builder.with_projection(mask).with_batch_size(8192).build()?;
            Ok::<_, DataFusionError>(
                DocumentRuns { chunk, stream: Some(stream), pending: Vec::new(), pending_doc: None }.into_stream(),
            )
        })
        .try_flatten()
    }
}

/// The columns a search reads of a chunk.
const READ_COLUMNS: [&str; 6] = ["doc_id", "seq", "start_ms", "end_ms", "text", "speaker"];

/// A chunk read in order and cut into whole documents, each matched when it is complete.
struct DocumentRuns {
    chunk: Arc<ChunkSearch>,
    stream: Option<ParquetRecordBatchStream<StoreReader>>,
    /// Rows of the document being read, and its id.
    pending: Vec<RecordBatch>,
    pending_doc: Option<String>,
}

impl DocumentRuns {
    fn into_stream(self) -> BoxStream<'static, Result<RecordBatch>> {
        futures::stream::try_unfold(self, |mut runs| async move {
            loop {
                let Some(stream) = runs.stream.as_mut() else { return Ok(None) };
                let Some(batch) = stream.try_next().await? else {
                    runs.stream = None;
                    let last = runs.finish_document()?;
                    return Ok(last.map(|hits| (hits, runs)));
                };
                let docs_array = cast(column(&batch, "doc_id")?, &DataType::Utf8)?;
                let docs = docs_array.as_string::<i32>();
                let mut found = Vec::new();
                let mut from = 0;
                while from < batch.num_rows() {
                    let doc = docs.value(from);
                    let mut to = from + 1;
                    while to < batch.num_rows() && docs.value(to) == doc {
                        to += 1;
                    }
                    if runs.pending_doc.as_deref() != Some(doc) {
                        found.extend(runs.finish_document()?);
                        runs.pending_doc = Some(doc.to_string());
                    }
                    runs.pending.push(batch.slice(from, to - from));
                    from = to;
                }
                if !found.is_empty() {
                    return Ok(Some((concat_batches(&HITS_SCHEMA, &found)?, runs)));
                }
            }
        })
        .boxed()
    }

    /// The hits of the document whose rows are pending, `None` when it has none.
    fn finish_document(&mut self) -> Result<Option<RecordBatch>> {
        let parts = std::mem::take(&mut self.pending);
        self.pending_doc = None;
        let Some(first) = parts.first() else { return Ok(None) };
        let batch = concat_batches(&first.schema(), &parts)?;
        // The rows of one document, consecutive: numbered from 0.
        let rows: Vec<u64> = (0..batch.num_rows() as u64).collect();
        let hits = self.chunk.block_hits(&batch, &rows, |_, _| true)?;
        if hits.is_empty() {
            return Ok(None);
        }
        let search = &self.chunk.search;
        Ok(Some(hit_batch(&batch, &rows, &hits, search.context, search.target.version)?))
    }
}

/// A hit: the index of its first caption among the rows read, its first word in that caption,
/// how many words it spans, and its text: the hit's own, and the text of its captions before and
/// after it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hit {
    index: usize,
    word: u32,
    words: u32,
    speaker: Option<String>,
    left: String,
    hit: String,
    right: String,
}

/// The text of the hit from word `first` to word `last` of `block`, as written (captions joined
/// with a space), and its context: the text before it in its first caption and `context`
/// captions before that, the text after it in its last caption and `context` captions after.
fn hit_texts<'t>(
    block: &Block,
    (first, last): (usize, usize),
    context: u32,
    text_of: &impl Fn(u32) -> &'t str,
) -> (String, String, String) {
    let ((first_caption, _), (last_caption, _)) = (block.place(first), block.place(last));
    let ((start, _), (_, end)) = (block.bytes(first), block.bytes(last));
    let flatten = |pieces: &[&str]| pieces.iter().flat_map(|p| p.split_whitespace()).collect::<Vec<_>>().join(" ");
    let (opening, closing) = (text_of(first_caption), text_of(last_caption));
    let hit = if first_caption == last_caption {
        flatten(&[&opening[start..end]])
    } else {
        let mut pieces = vec![&opening[start..]];
        pieces.extend((first_caption + 1..last_caption).map(text_of));
        pieces.push(&closing[..end]);
        flatten(&pieces)
    };
    let mut left: Vec<&str> = (first_caption.saturating_sub(context)..first_caption).map(text_of).collect();
    left.push(&opening[..start]);
    let mut right = vec![&closing[end..]];
    right.extend((last_caption + 1..=(last_caption + context).min(block.captions().saturating_sub(1))).map(text_of));
    (flatten(&left), hit, flatten(&right))
}

/// Consecutive ranges of at most `size` of `items`' indexes.
fn window_ranges<T>(items: &[T], size: usize) -> Vec<std::ops::Range<usize>> {
    let size = size.max(1);
    (0..items.len()).step_by(size).map(|start| start..(start + size).min(items.len())).collect()
}

/// The rows of `spans` (inclusive row ranges), ascending and once each.
fn merged_rows(mut spans: Vec<(u64, u64)>) -> Vec<u64> {
    spans.sort_unstable();
    let mut rows: Vec<u64> = Vec::new();
    for (first, last) in spans {
        let from = rows.last().map_or(first, |&previous| first.max(previous + 1));
        rows.extend(from..=last);
    }
    rows
}

/// Reads the `selected` rows (ascending) of the chunk: the [`READ_COLUMNS`].
async fn read_rows(
    store: &Arc<dyn ObjectStore>,
    object: &Path,
    entry: &FileEntry,
    metadata: &ArrowReaderMetadata,
    selected: &[u64],
) -> Result<RecordBatch> {
    let reader = StoreReader::new(store.clone(), object.clone(), entry.bytes);
    let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata.clone());
    let columns: Vec<usize> =
        READ_COLUMNS.iter().map(|name| builder.schema().index_of(name)).collect::<std::result::Result<_, _>>()?;
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

/// One output row per hit: its columns, and the texts of its neighbours in the same document
/// (`rows`: the chunk's row of each of `batch`'s rows, ascending).
fn hit_batch(batch: &RecordBatch, rows: &[u64], hits: &[Hit], context: u64, version: u64) -> Result<RecordBatch> {
    let docs_array = cast(column(batch, "doc_id")?, &DataType::Utf8)?;
    let texts_array = cast(column(batch, "text")?, &DataType::Utf8)?;
    let (docs, texts) = (docs_array.as_string::<i32>(), texts_array.as_string::<i32>());
    let indices = UInt64Array::from_iter_values(hits.iter().map(|hit| hit.index as u64));
    let take = |array: &ArrayRef| -> Result<ArrayRef> { Ok(datafusion::arrow::compute::take(array, &indices, None)?) };
    let neighbours = |index: usize, offsets: &mut dyn Iterator<Item = i64>| -> String {
        let mut joined = String::new();
        for offset in offsets {
            let Some(other) = index.checked_add_signed(offset as isize) else { continue };
            let row = rows[index] as i64 + offset;
            // Only rows that were read and are next to the hit in the same document.
            if other >= rows.len() || rows[other] as i64 != row || docs.value(other) != docs.value(index) {
                continue;
            }
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(if texts.is_null(other) { "" } else { texts.value(other) });
        }
        joined
    };
    let (mut before, mut after) = (StringBuilder::new(), StringBuilder::new());
    let context = context as i64;
    for hit in hits {
        before.append_value(neighbours(hit.index, &mut (-context..0)));
        after.append_value(neighbours(hit.index, &mut (1..=context)));
    }
    let texts_of = |pick: fn(&Hit) -> &str| Arc::new(hits.iter().map(|hit| Some(pick(hit))).collect::<StringArray>());
    let word_index = Int32Array::from_iter_values(hits.iter().map(|hit| hit.word as i32));
    let hit_words = Int32Array::from_iter_values(hits.iter().map(|hit| hit.words as i32));
    // The hit schema's types are checked by `try_new`.
    let columns: Vec<ArrayRef> = vec![
        take(&docs_array)?,
        take(column(batch, "seq")?)?,
        Arc::new(word_index),
        Arc::new(hit_words),
        take(column(batch, "start_ms")?)?,
        take(column(batch, "end_ms")?)?,
        take(&texts_array)?,
        Arc::new(hits.iter().map(|hit| hit.speaker.as_deref()).collect::<StringArray>()),
        Arc::new(before.finish()),
        Arc::new(after.finish()),
        texts_of(|hit| &hit.left),
        texts_of(|hit| &hit.hit),
        texts_of(|hit| &hit.right),
        Arc::new(UInt64Array::from(vec![version; hits.len()])),
    ];
    Ok(RecordBatch::try_new(HITS_SCHEMA.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_merged_into_rows_once_each() {
        assert_eq!(merged_rows(vec![(8, 9), (0, 2), (1, 3)]), vec![0, 1, 2, 3, 8, 9]);
        assert_eq!(merged_rows(vec![(5, 5)]), vec![5]);
        assert_eq!(merged_rows(vec![]), Vec::<u64>::new());
    }

    #[test]
    fn windows_cover_every_start_once() {
        let starts = [1u64, 2, 3, 5, 7, 9, 11];
        assert_eq!(window_ranges(&starts, 3), vec![0..3, 3..6, 6..7]);
        assert_eq!(window_ranges(&starts, 100), vec![0..7]);
        assert_eq!(window_ranges(&starts[..0], 2), Vec::<std::ops::Range<usize>>::new());
    }

    #[test]
    fn search_sql_quotes_the_query() {
        let sql = SearchFunction::sql("it's here", 2, Some(5), None);
        assert!(sql.contains("search_hits('it''s here', 2, 0)") && sql.ends_with("LIMIT 5"), "{sql}");
    }
}
