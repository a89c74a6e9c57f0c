//! The memory budget: one limit for the whole process, divided into named shares. Every fraction
//! of the limit that a stage uses is written here, once, so that the shares can be seen to add up:
//!
//! | share | of | size |
//! |---|---|---|
//! | query pool (DataFusion's spilling pool) | the limit | 60% |
//! | executor pool (a cluster executor's tasks) | the limit | 60% |
//! | phrase-index row selections | a query pool | half |
//! | sort-merge reservation | a query pool | 1/16, at most 10 MiB |
//! | ingest: archived document keys | the limit | 1/16, 4 to 64 MiB |
//! | ingest: each worker | the rest, less 64 MiB | an equal part |
//! | compaction: merge inputs | the limit | 3/5, less the outputs |
//! | compaction: output row groups | the limit | 1/16, 1 to 64 MiB |
//! | compaction: output phrase index | the limit | 1/8 |
//!
//! What the shares leave over covers what no share counts: scan buffers and batches between
//! operators (not tracked by DataFusion's pool), runtimes and allocator overhead.

/// Bytes in a mebibyte.
const MIB: u64 = 1 << 20;

/// The smallest pool DataFusion is given, whatever the limit.
const MIN_POOL: u64 = MIB;

/// Memory of an ingest that is not any worker's: the runtime, channels and pending commit lists.
const INGEST_OVERHEAD: u64 = 64 * MIB;

/// A process's memory limit and its shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    limit: u64,
}

/// What one ingest worker may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerShares {
    /// The largest input file it reads whole (larger ones are rejected).
    pub file: u64,
    /// Rows handed to the Parquet writer at a time.
    pub batch: u64,
    /// The encoded size of an open row group.
    pub row_group: u64,
    /// The buffer of a chunk's upload to the store.
    pub upload_buffer: u64,
    /// The phrase index of its open chunk (the chunk closes at the next file past it).
    pub phrase_index: u64,
}

/// How an ingest divides the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestShares {
    /// Keys of archived documents kept in memory to tell new, changed and unchanged ones apart.
    pub document_keys: u64,
    /// Each worker's part.
    pub worker: WorkerShares,
}

/// How a compaction divides the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionShares {
    /// What the input streams of one merge may hold together (a row group per table and chain):
    /// it bounds how many chains are merged at once.
    pub merge_inputs: u64,
    /// The encoded size of an output row group.
    pub output_row_group: u64,
    /// The phrase index of an open output chunk (the chunk closes at the next document past it).
    pub phrase_index: u64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> MemoryBudget {
        MemoryBudget { limit }
    }

    /// The whole limit, in bytes.
    pub fn limit(self) -> u64 {
        self.limit
    }

    /// DataFusion's spilling memory pool for the queries of a process: 60% of the limit. All the
    /// queries of one process (a server's, a notebook's) share one pool.
    pub fn query_pool(self) -> u64 {
        (self.limit / 5 * 3).max(MIN_POOL)
    }

    /// The pool a cluster executor's tasks share: the same share as a local query pool.
    pub fn executor_pool(self) -> u64 {
        self.query_pool()
    }

    /// How an ingest with `workers` threads divides the limit.
    pub fn ingest(self, workers: usize) -> IngestShares {
        let document_keys = (self.limit / 16).clamp(4 * MIB, 64 * MIB);
        let per_worker =
            self.limit.saturating_sub(INGEST_OVERHEAD + document_keys).max(16 * MIB) / workers.max(1) as u64;
        let row_group = (per_worker / 4).clamp(MIB, 128 * MIB);
        IngestShares {
            document_keys,
            worker: WorkerShares {
                file: (per_worker / 4).max(4 * MIB),
                batch: (per_worker / 16).clamp(256 << 10, 8 * MIB),
                row_group,
                upload_buffer: (row_group / 4).clamp(MIB, 8 * MIB),
                phrase_index: (per_worker * 3 / 16).max(4 * MIB),
            },
        }
    }

    /// How a compaction divides the limit.
    pub fn compaction(self) -> CompactionShares {
        let output_row_group = (self.limit / 16).clamp(MIB, 64 * MIB);
        let phrase_index = self.limit / 8;
        let outputs = 2 * output_row_group + phrase_index;
        CompactionShares { merge_inputs: (self.limit / 5 * 3).saturating_sub(outputs), output_row_group, phrase_index }
    }
}

/// The part of a query pool of `pool` bytes that phrase-index row selections may reserve: half.
/// The rest stays for the operators above the scan (a merge of sorted partitions cannot spill).
pub fn index_selections(pool: u64) -> u64 {
    pool / 2
}

/// What an external sort reserves up front for its merge in a pool of `pool` bytes: small against
/// the pool, so that sorts spill early rather than fail.
pub fn merge_reservation(pool: u64) -> u64 {
    (pool / 16).min(10 * MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_shares_stay_within_the_limit_and_scale_with_it() {
        let limit = 512 * MIB;
        let shares = MemoryBudget::new(limit).ingest(2);
        let worker = shares.worker;
        let per_worker = worker.file + worker.batch + 2 * worker.row_group + worker.phrase_index;
        assert!(2 * per_worker + INGEST_OVERHEAD + shares.document_keys <= limit, "{shares:?}");
        assert_eq!(MemoryBudget::new(16 << 30).ingest(2).worker.row_group, 128 * MIB);
        let tiny = MemoryBudget::new(MIB).ingest(8).worker;
        assert!(tiny.row_group >= MIB && tiny.file >= 4 * MIB);
    }

    #[test]
    fn compaction_and_query_shares_stay_within_the_limit() {
        for limit in [64 * MIB, 512 * MIB, 1 << 30, 16 << 30] {
            let budget = MemoryBudget::new(limit);
            let compaction = budget.compaction();
            let outputs = 2 * compaction.output_row_group + compaction.phrase_index;
            assert!(compaction.merge_inputs + outputs <= limit / 5 * 3, "{limit}: {compaction:?}");
            assert!(budget.query_pool() <= limit && budget.query_pool() == budget.executor_pool());
            let pool = budget.query_pool();
            assert!(index_selections(pool) + merge_reservation(pool) < pool);
        }
        assert_eq!(MemoryBudget::new(1 << 30).query_pool(), (1 << 30) / 5 * 3);
    }
}
