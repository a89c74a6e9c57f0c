//! The DataFusion session over an archive: a spilling memory pool sized from the user's budget,
//! a spill directory, verbatim's functions, and one table per archive table listing exactly the
//! files of the committed snapshot (so uncommitted leftovers of killed runs are never read).

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::config::SpillCompression;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::object_store::DefaultObjectStoreRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use verbatim_archive::{Archive, ArchiveError, CheckDepth, IndexCache, Snapshot, Table};
use verbatim_model::MemoryBudget;
use verbatim_model::budget;

use crate::cancellation::StopBetweenBatches;
use crate::large_limits::SpillLargeTopK;
use crate::search::{SearchFunction, SearchHitsFunction, SearchTarget};
use crate::segments::{NarrowPhraseScans, SegmentsTable};
use crate::statistics::StatisticsFunction;

use crate::error::ReadFinding;
use crate::{QueryError, layout, udf};

/// When a query fails inside a Parquet file and no footer is damaged, snapshots up to this size are
/// decoded whole to name the damaged file; larger ones are left to `verbatim verify --deep`.
const DEEP_CHECK_ON_ERROR_BYTES: u64 = 4 << 30;

/// How a query session is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    /// The memory budget of the whole process; queries get its query pool share.
    pub budget: MemoryBudget,
    /// Where operators spill; the OS temporary directory when `None`.
    pub spill_dir: Option<PathBuf>,
    /// Parallelism of query plans.
    pub target_partitions: usize,
    /// Rows per batch.
    pub batch_size: usize,
    /// Read the snapshot of this version instead of the newest.
    pub as_of: Option<u64>,
    /// Where searches keep copies of a remote archive's phrase indexes (unused for local ones).
    pub index_cache: Option<IndexCache>,
}

impl SessionOptions {
    /// Bytes given to DataFusion's spilling memory pool.
    pub fn pool_bytes(&self) -> usize {
        self.budget.query_pool() as usize
    }
}

/// Opens a session over the archive's current snapshot.
pub async fn open_session(archive: &Archive, options: &SessionOptions) -> Result<SessionContext, QueryError> {
    Ok(ArchiveSession::open(archive, options).await?.ctx)
}

/// A query session over one snapshot of an archive. Its files are read through
/// [`Archive::checked_store`], so a file that is missing or not its recorded size fails the query
/// with an error naming it.
#[derive(Clone)]
pub struct ArchiveSession {
    /// The DataFusion session, with the archive's tables and verbatim's functions registered.
    pub ctx: SessionContext,
    archive: Archive,
    snapshot: Snapshot,
}

impl ArchiveSession {
    /// Opens a session over the archive's current snapshot (or the one `options.as_of` names).
    pub async fn open(archive: &Archive, options: &SessionOptions) -> Result<ArchiveSession, QueryError> {
        let ctx = session_context(options)?;
        ArchiveSession::open_in(ctx, archive, options).await
    }

    /// A session over the archive's snapshot in `ctx`, a context made elsewhere (a cluster
    /// client's): verbatim's functions, the snapshot's tables and the search functions are
    /// registered in it.
    pub async fn open_in(
        ctx: SessionContext,
        archive: &Archive,
        options: &SessionOptions,
    ) -> Result<ArchiveSession, QueryError> {
        ArchiveSession::open_with(ctx, archive, options, PhraseFilters::FromIndexes).await
    }

    /// [`ArchiveSession::open_in`] for engines that send plans elsewhere to run (a cluster):
    /// `segments` is a plain Parquet listing table, which plan serialisation knows, so its
    /// `phrase_match` filters scan the text instead of reading the phrase indexes first.
    pub async fn open_for_cluster_in(
        ctx: SessionContext,
        archive: &Archive,
        options: &SessionOptions,
    ) -> Result<ArchiveSession, QueryError> {
        ArchiveSession::open_with(ctx, archive, options, PhraseFilters::Scan).await
    }

    async fn open_with(
        ctx: SessionContext,
        archive: &Archive,
        options: &SessionOptions,
        phrase_filters: PhraseFilters,
    ) -> Result<ArchiveSession, QueryError> {
        let snapshot = match options.as_of {
            Some(version) => archive.snapshot_at(version).await?,
            None => archive.snapshot().await?,
        };
        udf::register_all(&ctx);
        ctx.register_object_store(archive.url(), archive.checked_store(&snapshot));
        let target = Arc::new(SearchTarget {
            store: archive.checked_store(&snapshot),
            archive: archive.clone(),
            chunks: snapshot.files(Table::Segments).to_vec(),
            documents: snapshot.files(Table::Documents).to_vec(),
            version: snapshot.manifest.version,
            cache: options.index_cache.clone().filter(|_| !archive.is_local()),
        });
        let indexes = (phrase_filters == PhraseFilters::FromIndexes).then_some(&target);
        register_archive_tables(&ctx, archive, &snapshot, indexes)?;
        ctx.register_udtf("collocations", Arc::new(StatisticsFunction::collocations(target.clone())));
        ctx.register_udtf("keyness", Arc::new(StatisticsFunction::keyness(target.clone())));
        ctx.register_udtf("frequencies", Arc::new(StatisticsFunction::frequencies(target.clone())));
        ctx.register_udtf("search_hits", Arc::new(SearchHitsFunction::new(target)));
        ctx.register_udtf("search", Arc::new(SearchFunction));
        Ok(ArchiveSession { ctx, archive: archive.clone(), snapshot })
    }

    /// The archive the session reads.
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// The snapshot the session reads.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The error to show for `error`, raised while planning or running a query; `limit` is the memory
    /// limit as shown to people. When reading a file failed without saying which (a Parquet footer
    /// or page that does not decode), the snapshot's footers are checked to name the damaged file.
    pub async fn explain(&self, error: DataFusionError, limit: &str) -> QueryError {
        let error = QueryError::from_datafusion(error, limit);
        let reading = matches!(
            error,
            QueryError::Read { .. }
                | QueryError::Damaged(_)
                | QueryError::Archive(
                    ArchiveError::Damaged { .. } | ArchiveError::FileDamaged { .. } | ArchiveError::Index { .. }
                )
        );
        // Files gone because vacuum removed the snapshot (a result read again long after it was
        // planned) are not lost data: say that the snapshot is no longer kept.
        if reading
            && let Err(gone @ ArchiveError::NoSuchSnapshot { .. }) =
                self.archive.snapshot_at(self.snapshot.manifest.version).await
        {
            return QueryError::Archive(gone);
        }
        let QueryError::Read { source, .. } = error else { return error };
        let mut damaged = self.archive.check_snapshot(&self.snapshot, CheckDepth::Footer, &|_| {}).await;
        let bytes: u64 = self.snapshot.all_files().map(|(_, f)| f.bytes).sum();
        let decode_all = damaged.is_empty() && bytes <= DEEP_CHECK_ON_ERROR_BYTES;
        if decode_all {
            damaged = self.archive.check_snapshot(&self.snapshot, CheckDepth::Deep, &|_| {}).await;
        }
        match damaged.len() {
            0 if decode_all => QueryError::Read { source, finding: ReadFinding::EveryFileDecodes },
            0 => QueryError::Read { source, finding: ReadFinding::FootersRead },
            1 => QueryError::Damaged(damaged.into_iter().next().expect("one damaged file")),
            _ => QueryError::Archive(ArchiveError::Damaged {
                location: self.archive.display().to_string(),
                files: damaged,
            }),
        }
    }
}

fn session_context(options: &SessionOptions) -> Result<SessionContext, QueryError> {
    context_on(runtime_env(options)?, options)
}

/// The runtime of a query session: a spilling pool of the budget's pool share, tracking its top
/// consumers, and the spill folder. A long-running process (a server) shares one between its
/// sessions, so that all its queries together stay within the budget.
pub fn runtime_env(options: &SessionOptions) -> Result<Arc<RuntimeEnv>, QueryError> {
    let pool_bytes = options.pool_bytes();
    let top_consumers = NonZeroUsize::new(5).expect("5 is not zero");
    let pool = TrackConsumersPool::new(FairSpillPool::new(pool_bytes), top_consumers);
    let disk = match &options.spill_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|source| QueryError::SpillFolder { path: dir.display().to_string(), source })?;
            DiskManagerMode::Directories(vec![dir.clone()])
        }
        None => DiskManagerMode::OsTmpDirectory,
    };
    RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(pool))
        .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(disk))
        .build_arc()
        .map_err(QueryError::datafusion)
}

/// A session context sharing `runtime`'s memory pool, spill files and caches, with verbatim's
/// settings (and any `DATAFUSION_*` variables). Its object stores are its own: each session reads
/// its snapshot through a store checked against that snapshot, which another session on the same
/// runtime must not replace.
pub fn context_with_runtime(runtime: Arc<RuntimeEnv>, options: &SessionOptions) -> Result<SessionContext, QueryError> {
    let runtime = RuntimeEnvBuilder::from_runtime_env(&runtime)
        .with_object_store_registry(Arc::new(DefaultObjectStoreRegistry::new()))
        .build_arc()
        .map_err(QueryError::datafusion)?;
    context_on(runtime, options)
}

/// A session context on exactly `runtime`, with verbatim's settings.
fn context_on(runtime: Arc<RuntimeEnv>, options: &SessionOptions) -> Result<SessionContext, QueryError> {
    // Any DataFusion option can be set from the environment (DATAFUSION_EXECUTION_BATCH_SIZE=4096, …),
    // as in datafusion-cli; verbatim's own settings below take precedence.
    let config = SessionConfig::from_env().map_err(QueryError::datafusion)?;
    let config = configure(config, options);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(NarrowPhraseScans))
        .with_physical_optimizer_rule(Arc::new(SpillLargeTopK))
        .with_physical_optimizer_rule(Arc::new(StopBetweenBatches))
        .build();
    Ok(SessionContext::new_with_state(state))
}

/// `config` with verbatim's query settings: partitions, batch size, spill compression, filters
/// evaluated while decoding Parquet, and a sort reservation that fits the pool.
pub fn configure(config: SessionConfig, options: &SessionOptions) -> SessionConfig {
    let pool_bytes = options.budget.query_pool();
    let mut config = config
        .with_target_partitions(options.target_partitions.max(1))
        .with_batch_size(options.batch_size.max(1))
        .with_information_schema(true);
    // An ORDER BY inside a view or subquery stays: `search(...)` is a view ordered by document
    // and caption, and DataFusion would otherwise drop that order (hits came back in a different
    // order from run to run).
    config.options_mut().sql_parser.enable_subquery_sort_elimination = false;
    let execution = &mut config.options_mut().execution;
    execution.spill_compression = SpillCompression::Lz4Frame;
    // Evaluate filters while decoding Parquet: columns a filter does not need are decoded only for
    // the rows that pass (a phrase search decodes the text, then the few matching rows' other columns).
    execution.parquet.pushdown_filters = true;
    execution.parquet.reorder_filters = true;
    // Strings are read as `Utf8`, not DataFusion's default `Utf8View`. A view array points into
    // the decoded Parquet pages, so a few selected rows (a phrase filter's hits) hold whole pages
    // in memory: every caption with a frequent phrase over 20 GB peaked at 1.16 GiB under a
    // 1 GiB limit. And DataFusion 55's streaming `GROUP BY` of a view column (per document over
    // the sorted `segments`) copies its growing string buffer into every batch it emits: a top-50
    // of documents asked for 645 MB and failed there.
    execution.parquet.schema_force_view_types = false;
    // The merge phase of an external sort reserves this up front; keep it small against the pool.
    execution.sort_spill_reservation_bytes = budget::merge_reservation(pool_bytes) as usize;
    // `segments` partitions are ranges of documents (see `layout`): a grouping by `doc_id` and more
    // keys is already partitioned, at any partition count. Without this, DataFusion shuffles it
    // again below 4 partitions, keeping document order through a merge that buffers one side
    // without bound, because the partitions hold disjoint documents (a per-speaker aggregate over
    // a window failed its memory limit at 2 GB that way).
    config.options_mut().optimizer.subset_repartition_threshold = 1;
    config
}

/// How `segments` answers `phrase_match(text, 'phrase')` filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhraseFilters {
    /// Reading only the rows the chunks' phrase indexes name (see [`SegmentsTable`]).
    FromIndexes,
    /// Scanning all the text.
    Scan,
}

/// Registers `segments`, `documents` and `rejects` over the snapshot's files (empty tables
/// included); `segments` reads the phrase indexes of `indexes` for phrase filters when given.
fn register_archive_tables(
    ctx: &SessionContext,
    archive: &Archive,
    snapshot: &Snapshot,
    indexes: Option<&Arc<SearchTarget>>,
) -> Result<(), QueryError> {
    let df = QueryError::datafusion;
    for table in Table::ALL {
        let urls = snapshot
            .files(table)
            .iter()
            .map(|f| ListingTableUrl::parse(archive.file_url(&f.path).as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(df)?;
        let schema = table.schema();
        if urls.is_empty() {
            ctx.register_table(table.name(), Arc::new(EmptyTable::new(schema))).map_err(df)?;
            continue;
        }
        let mut options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        if table == Table::Segments {
            let target_partitions = ctx.state().config().target_partitions();
            if let Some(order) = layout::document_order(snapshot.files(table), target_partitions) {
                options =
                    options.with_file_sort_order(vec![order.sort_order]).with_output_partitioning(order.partitioning);
            }
        }
        let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
        let listing = ListingTable::try_new(config).map_err(df)?;
        let provider: Arc<dyn TableProvider> = match indexes {
            Some(target) if table == Table::Segments => Arc::new(SegmentsTable::new(listing, target.clone())),
            _ => Arc::new(listing),
        };
        ctx.register_table(table.name(), provider).map_err(df)?;
    }
    Ok(())
}
