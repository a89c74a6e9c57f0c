//! How verbatim's phrase-search plans travel between a cluster's client, scheduler and executors.
//!
//! DataFusion's plan serialisation knows Parquet listing tables and views, which is what the
//! archive's tables and `search(...)` are; the hits of `search_hits(...)` come from verbatim's own
//! table and plan, written here as a tag and a JSON [`SearchSpec`]: the archive's URL, the
//! snapshot's `segments` chunks (with their phrase indexes), the phrase's words and the context.
//! Whoever decodes it opens the archive with its own store settings. Everything else goes to
//! Ballista's codecs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};
use verbatim_archive::phrase_index::IndexCache;
use verbatim_archive::{Archive, FileEntry};
use verbatim_query::corpus::CorpusQuery;
use verbatim_query::search::{MAX_CONTEXT, SearchHits, SearchHitsExec, SearchHitsTable, SearchTarget};
use verbatim_query::statistics::statistics_function_of;

/// The tag in front of an encoded search (never the start of a protobuf message Ballista writes).
const SEARCH_TAG: &[u8] = b"verbatim-search-hits/2\n";

/// One search, as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSpec {
    /// The archive's root URL.
    pub archive: String,
    /// The snapshot's `segments` chunks.
    pub chunks: Vec<FileEntry>,
    /// The snapshot's `documents` chunks.
    pub documents: Vec<FileEntry>,
    /// The query, as written (parsed again where it arrives).
    pub query: String,
    /// The snapshot's version.
    pub version: u64,
    /// Only the documents added or replaced after this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// Captions of context each side.
    pub context: i64,
    /// For a plan: the columns it gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<Vec<usize>>,
    /// For a plan: its partition count.
    #[serde(default)]
    pub partitions: usize,
}

impl SearchSpec {
    fn of(hits: &SearchHits) -> SearchSpec {
        SearchSpec {
            archive: hits.target.archive.url().to_string(),
            chunks: hits.target.chunks.clone(),
            documents: hits.target.documents.clone(),
            query: hits.query.text.clone(),
            version: hits.target.version,
            since: hits.since,
            context: hits.context,
            projection: None,
            partitions: 0,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) -> Result<()> {
        buf.extend_from_slice(SEARCH_TAG);
        serde_json::to_writer(buf, self).map_err(|e| DataFusionError::Internal(format!("encoding a search: {e}")))
    }

    /// The search in `buf`, or `None` when `buf` holds something else. A search that could not
    /// have been planned (no words, context out of range) is refused.
    fn decode(buf: &[u8]) -> Option<Result<SearchSpec>> {
        let json = buf.strip_prefix(SEARCH_TAG)?;
        let spec: Result<SearchSpec> =
            serde_json::from_slice(json).map_err(|e| DataFusionError::Internal(format!("decoding a search: {e}")));
        Some(spec.and_then(|spec| {
            if CorpusQuery::parse(&spec.query).is_err() || !(0..=MAX_CONTEXT).contains(&spec.context) {
                return Err(DataFusionError::Internal(format!(
                    "a search of {:?} with {} captions of context cannot be run",
                    spec.query, spec.context
                )));
            }
            Ok(spec)
        }))
    }
}

/// Opens the archives that decoded searches name, once each, with the process's store settings.
#[derive(Debug, Default)]
pub struct ArchiveOpener {
    store_options: Vec<(String, String)>,
    cache: Option<IndexCache>,
    opened: Mutex<HashMap<String, Archive>>,
}

impl ArchiveOpener {
    /// An opener with `store_options`, keeping copies of remote archives' indexes in `cache`.
    pub fn new(store_options: Vec<(String, String)>, cache: Option<IndexCache>) -> ArchiveOpener {
        ArchiveOpener { store_options, cache, opened: Mutex::new(HashMap::new()) }
    }

    fn hits(&self, spec: SearchSpec) -> Result<SearchHits> {
        let archive = {
            let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
            match opened.get(&spec.archive) {
                Some(archive) => archive.clone(),
                None => {
                    let archive = Archive::at_with(&spec.archive, &self.store_options)
                        .map_err(|e| DataFusionError::External(Box::new(e)))?;
                    opened.insert(spec.archive.clone(), archive.clone());
                    archive
                }
            }
        };
        let target = SearchTarget {
            store: archive.store(),
            cache: self.cache.clone().filter(|_| !archive.is_local()),
            archive,
            chunks: spec.chunks,
            documents: spec.documents,
            version: spec.version,
        };
        let query = CorpusQuery::parse(&spec.query).map_err(|e| DataFusionError::Plan(format!("search: {e}")))?;
        Ok(SearchHits { target: Arc::new(target), query: Arc::new(query), context: spec.context, since: spec.since })
    }
}

/// Logical plans: verbatim's search table, then Ballista's codec.
#[derive(Debug)]
pub struct LogicalCodec {
    opener: Arc<ArchiveOpener>,
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalCodec {
    /// A codec opening archives with `opener`.
    pub fn new(opener: Arc<ArchiveOpener>) -> LogicalCodec {
        LogicalCodec { opener, ballista: BallistaLogicalExtensionCodec::default() }
    }
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match SearchSpec::decode(buf) {
            // Decoded on a scheduler: Ballista 55 cannot split a scan it does not know among tasks.
            Some(spec) => Ok(Arc::new(SearchHitsTable::single_partition(self.opener.hits(spec?)?))),
            None => self.ballista.try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(function) = statistics_function_of(node.as_ref()) {
            return Err(DataFusionError::Plan(format!(
                "{function}(...) runs in one process, not on a cluster: run it without --cluster"
            )));
        }
        match node.downcast_ref::<SearchHitsTable>() {
            Some(table) => SearchSpec::of(table.hits()).encode(buf),
            None => self.ballista.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }
}

/// Physical plans: verbatim's search plan, then Ballista's codec.
#[derive(Debug)]
pub struct PhysicalCodec {
    opener: Arc<ArchiveOpener>,
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalCodec {
    /// A codec opening archives with `opener`.
    pub fn new(opener: Arc<ArchiveOpener>) -> PhysicalCodec {
        PhysicalCodec { opener, ballista: BallistaPhysicalExtensionCodec::default() }
    }
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match SearchSpec::decode(buf) {
            Some(spec) => {
                let spec = spec?;
                if spec.partitions != 1 {
                    // A task runs partitions 0..k of a leaf Ballista cannot restrict: more than one
                    // would read some chunks twice and others never.
                    return Err(DataFusionError::Internal(format!(
                        "a search plan in {} partitions cannot run on a cluster",
                        spec.partitions
                    )));
                }
                let (projection, partitions) = (spec.projection.clone(), spec.partitions);
                Ok(Arc::new(SearchHitsExec::try_new(self.opener.hits(spec)?, projection, partitions)?))
            }
            None => self.ballista.try_decode(buf, inputs, ctx, proto_converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        match node.downcast_ref::<SearchHitsExec>() {
            Some(exec) => {
                let mut spec = SearchSpec::of(exec.hits());
                spec.projection = exec.projection().map(<[usize]>::to_vec);
                spec.partitions = exec.properties().output_partitioning().partition_count();
                spec.encode(buf)
            }
            None => self.ballista.try_encode(node, buf, proto_converter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_round_trips_and_other_bytes_are_not_taken_for_one() {
        let spec = SearchSpec {
            archive: "file:///tmp/archive/".into(),
            chunks: vec![FileEntry {
                path: "segments/a.parquet".into(),
                rows: 10,
                bytes: 100,
                doc_range: None,
                phrase_index: None,
            }],
            documents: Vec::new(),
            query: "open source".into(),
            version: 1,
            since: None,
            context: 2,
            projection: Some(vec![0, 4]),
            partitions: 3,
        };
        let mut buf = Vec::new();
        spec.encode(&mut buf).unwrap();
        assert_eq!(SearchSpec::decode(&buf).unwrap().unwrap(), spec);
        assert!(SearchSpec::decode(b"\x0a\x03abc").is_none());
        assert!(SearchSpec::decode(&buf[..buf.len() - 3]).unwrap().is_err());
        for bad in [SearchSpec { context: -1, ..spec.clone() }, SearchSpec { query: "(".into(), ..spec.clone() }] {
            let mut buf = Vec::new();
            bad.encode(&mut buf).unwrap();
            assert!(SearchSpec::decode(&buf).unwrap().is_err(), "{bad:?}");
        }
    }
}
