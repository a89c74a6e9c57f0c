//! What an archive already holds, looked up without loading it whole: the content hash of a
//! document (to tell new, changed and unchanged sources apart) and the rejects already recorded.
//!
//! Memory grows with the run, not with the archive. `documents` files whose manifest entry has a
//! document range are arranged in chains of disjoint, increasing ranges (one chain per run that
//! wrote them, until compaction merges them); a lookup binary-searches each chain for the one
//! file that may hold the id and reads that file's sorted `(doc_id, content_hash)` columns into a
//! cache bounded in bytes. Files without a range (older archives, bundles whose ids came out of
//! order) are read once and only the entries of this run's sources are kept.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use futures::StreamExt;
use parquet::arrow::ProjectionMask;

use crate::integrity::read_footer;
use crate::{Archive, ArchiveError, DocRange, FileEntry, Table};

/// Where a committed (or staged) document is, and with what content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDocument {
    /// Its content hash.
    pub content_hash: String,
    /// The `documents` file that holds its row (relative path); its `segments` and `words` rows
    /// are in the files of the same name in those tables.
    pub documents_file: String,
}

/// A `documents` file with the range of ids it holds, in id order.
#[derive(Debug, Clone)]
struct RangedFile {
    range: DocRange,
    entry: FileEntry,
}

/// The sorted `(doc_id, content_hash)` columns of one ranged file.
#[derive(Debug)]
struct SortedKeys {
    ids: StringArray,
    hashes: StringArray,
}

impl SortedKeys {
    fn bytes(&self) -> usize {
        self.ids.get_array_memory_size() + self.hashes.get_array_memory_size()
    }

    fn hash_of(&self, doc_id: &str) -> Option<&str> {
        let (mut low, mut high) = (0, self.ids.len());
        while low < high {
            let middle = (low + high) / 2;
            match self.ids.value(middle).cmp(doc_id) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(self.hashes.value(middle)),
            }
        }
        None
    }
}

/// Looks up archived documents by id; cheap to share between worker threads.
#[derive(Debug)]
pub struct DocumentIndex {
    archive: Archive,
    runtime: tokio::runtime::Handle,
    /// Chains of files with disjoint ranges, each sorted by range.
    chains: Vec<Vec<RangedFile>>,
    /// Entries of the run's sources found in files without a range.
    unranged: HashMap<String, KnownDocument>,
    cache: Mutex<Cache>,
}

#[derive(Debug)]
struct Cache {
    files: VecDeque<(String, Arc<SortedKeys>)>,
    bytes: usize,
    limit: usize,
}

impl DocumentIndex {
    /// An index over `files` (the `documents` files of a snapshot, plus staged ones). Files without
    /// a range are read now, keeping the entries whose id is one of `source_ids` or a bundle member
    /// of one (`id#key`). At most `cache_bytes` of ranged files' keys are kept at once.
    pub(crate) async fn build(
        archive: &Archive,
        files: Vec<FileEntry>,
        source_ids: &HashSet<String>,
        cache_bytes: usize,
    ) -> Result<DocumentIndex, ArchiveError> {
        let (ranged, unranged_files): (Vec<FileEntry>, Vec<FileEntry>) =
            files.into_iter().partition(|entry| entry.doc_range.is_some());
        let mut unranged = HashMap::new();
        for entry in &unranged_files {
            read_columns(archive, entry, Table::Documents, ["doc_id", "content_hash"], |batch| {
                let (ids, hashes) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
                for row in 0..batch.num_rows() {
                    let id = ids.value(row);
                    if belongs_to(id, source_ids) {
                        let known = KnownDocument {
                            content_hash: hashes.value(row).to_string(),
                            documents_file: entry.path.clone(),
                        };
                        unranged.insert(id.to_string(), known);
                    }
                }
            })
            .await?;
        }
        let ranged = ranged
            .into_iter()
            .filter_map(|entry| Some(RangedFile { range: entry.doc_range.clone()?, entry }))
            .collect();
        Ok(DocumentIndex {
            archive: archive.clone(),
            runtime: tokio::runtime::Handle::current(),
            chains: chains(ranged, |file: &RangedFile| &file.range),
            unranged,
            cache: Mutex::new(Cache { files: VecDeque::new(), bytes: 0, limit: cache_bytes }),
        })
    }

    /// The archived document `doc_id`, if there is one. Blocks on the archive's store when the
    /// file that may hold it is not cached: call it from a worker thread, not from async code.
    pub fn lookup(&self, doc_id: &str) -> Result<Option<KnownDocument>, ArchiveError> {
        if let Some(known) = self.unranged.get(doc_id) {
            return Ok(Some(known.clone()));
        }
        for chain in &self.chains {
            let after = chain.partition_point(|file| file.range.first.as_str() <= doc_id);
            let Some(file) = after.checked_sub(1).map(|i| &chain[i]) else { continue };
            if file.range.last.as_str() < doc_id {
                continue;
            }
            let keys = self.keys_of(&file.entry)?;
            if let Some(hash) = keys.hash_of(doc_id) {
                let known = KnownDocument { content_hash: hash.to_string(), documents_file: file.entry.path.clone() };
                return Ok(Some(known));
            }
        }
        Ok(None)
    }

    fn keys_of(&self, entry: &FileEntry) -> Result<Arc<SortedKeys>, ArchiveError> {
        {
            let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(index) = cache.files.iter().position(|(path, _)| *path == entry.path) {
                let hit = cache.files.remove(index).expect("position is in range");
                let keys = hit.1.clone();
                cache.files.push_back(hit);
                return Ok(keys);
            }
        }
        let keys = Arc::new(self.runtime.block_on(read_sorted_keys(&self.archive, entry))?);
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.bytes += keys.bytes();
        cache.files.push_back((entry.path.clone(), keys.clone()));
        while cache.bytes > cache.limit && cache.files.len() > 1 {
            if let Some((_, evicted)) = cache.files.pop_front() {
                cache.bytes -= evicted.bytes();
            }
        }
        Ok(keys)
    }
}

/// Whether `doc_id` is one of `source_ids` or a member (`id#key`) of one.
fn belongs_to(doc_id: &str, source_ids: &HashSet<String>) -> bool {
    source_ids.contains(doc_id) || doc_id.match_indices('#').any(|(index, _)| source_ids.contains(&doc_id[..index]))
}

/// Arranges items with document ranges into chains of disjoint, increasing ranges (greedy: in
/// order of range, each item joins the first chain whose last range ends before it starts).
pub(crate) fn chains<T>(mut items: Vec<T>, range: impl Fn(&T) -> &DocRange) -> Vec<Vec<T>> {
    items.sort_by(|a, b| (&range(a).first, &range(a).last).cmp(&(&range(b).first, &range(b).last)));
    let mut chains: Vec<Vec<T>> = Vec::new();
    for item in items {
        let open =
            chains.iter_mut().find(|chain| chain.last().is_some_and(|last| range(last).last < range(&item).first));
        match open {
            Some(chain) => chain.push(item),
            None => chains.push(vec![item]),
        }
    }
    chains
}

/// The number of chains of disjoint, increasing document ranges among `ranges`: how many sorted
/// runs a merge of them would have to interleave (1 when they are in document order).
pub fn sorted_runs<'a>(ranges: impl IntoIterator<Item = &'a DocRange>) -> usize {
    chains(ranges.into_iter().collect(), |range| *range).len()
}

async fn read_sorted_keys(archive: &Archive, entry: &FileEntry) -> Result<SortedKeys, ArchiveError> {
    let mut batches = Vec::new();
    read_columns(archive, entry, Table::Documents, ["doc_id", "content_hash"], |batch| batches.push(batch.clone()))
        .await?;
    let column = |index: usize| -> Result<StringArray, ArchiveError> {
        let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(index).as_ref()).collect();
        let joined = if arrays.is_empty() {
            Arc::new(StringArray::from(Vec::<&str>::new())) as arrow::array::ArrayRef
        } else {
            arrow::compute::concat(&arrays)
                .map_err(|e| ArchiveError::Arrow { table: "documents", source: Box::new(e) })?
        };
        Ok(joined.as_string::<i32>().clone())
    };
    Ok(SortedKeys { ids: column(0)?, hashes: column(1)? })
}

/// The (source, content hash) pairs already recorded as rejects, for the sources of this run.
#[derive(Debug, Default, Clone)]
pub struct RejectKeys {
    keys: HashSet<(String, String)>,
}

impl RejectKeys {
    /// Whether this source with this content was already recorded as rejected.
    pub fn contains(&self, source: &str, content_hash: &str) -> bool {
        self.keys.contains(&(source.to_string(), content_hash.to_string()))
    }
}

/// Reads the reject keys of `sources` from `rejects` chunk files.
pub(crate) async fn reject_keys(
    archive: &Archive,
    files: &[FileEntry],
    sources: &HashSet<String>,
) -> Result<RejectKeys, ArchiveError> {
    let mut keys = RejectKeys::default();
    for file in files {
        read_columns(archive, file, Table::Rejects, ["source", "content_hash"], |batch| {
            let (names, hashes) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
            for row in 0..batch.num_rows() {
                if !hashes.is_null(row) && sources.contains(names.value(row)) {
                    keys.keys.insert((names.value(row).to_string(), hashes.value(row).to_string()));
                }
            }
        })
        .await?;
    }
    Ok(keys)
}

/// Streams the two string `columns` of `file` (a file of `table`) to `each`, a row group at a time.
pub(crate) async fn read_columns(
    archive: &Archive,
    file: &FileEntry,
    table: Table,
    columns: [&str; 2],
    mut each: impl FnMut(&RecordBatch),
) -> Result<(), ArchiveError> {
    let store = archive.store();
    let object = archive.object(&file.path);
    let shown = archive.show(&file.path);
    let (builder, _) = read_footer(&store, &object, table, file.bytes)
        .await
        .map_err(|source| ArchiveError::FileDamaged { path: shown.clone(), source })?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns);
    let mut stream = builder.with_projection(mask).build().map_err(ArchiveError::parquet(&shown))?;
    while let Some(batch) = stream.next().await {
        each(&batch.map_err(ArchiveError::parquet(&shown))?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: &str, last: &str) -> DocRange {
        DocRange { first: first.into(), last: last.into() }
    }

    #[test]
    fn overlapping_runs_make_one_chain_each() {
        assert_eq!(sorted_runs(&[range("a", "c"), range("d", "f"), range("g", "h")]), 1);
        assert_eq!(sorted_runs(&[range("a", "c"), range("b", "e"), range("d", "f"), range("f", "z")]), 2);
        assert_eq!(sorted_runs(&[range("a", "z"), range("b", "c"), range("d", "e")]), 2);
        assert_eq!(sorted_runs(&[range("a", "z"), range("b", "y"), range("c", "x")]), 3);
        assert_eq!(sorted_runs(&[]), 0);
    }

    #[test]
    fn bundle_members_belong_to_their_file() {
        let ids: HashSet<String> = ["talks/a".to_string()].into();
        assert!(belongs_to("talks/a", &ids));
        assert!(belongs_to("talks/a#v1", &ids));
        assert!(!belongs_to("talks/ab", &ids));
        assert!(!belongs_to("talks/b#talks/a", &ids));
    }
}
