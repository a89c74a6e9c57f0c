//! The phrase index: for each `segments` chunk, an immutable file saying where every word of the
//! chunk occurs, so that a phrase search reads a few posting lists instead of all the text.
//!
//! Words (as `tokenize` splits and lowercases them) are numbered in the order of the chunk's rows;
//! a chunk holds whole documents, each in `seq` order, and one position is skipped between
//! documents so that no phrase runs from one document into the next. A phrase occurs at position
//! `p` when its `i`-th word is at `p + i` for every `i`: caption boundaries play no part. The
//! first position of every row maps positions back to rows.
//!
//! The file (`segments/<chunk>.phrases`, beside its chunk and listed with it in the manifest)
//! groups words and rows so that a search reads a few small parts of it: see [`file`].
//!
//! A chunk without an index (written before indexes existed, or with the index turned off) is
//! scanned instead: [`PositionsBuilder`] numbers the words of both, and the same matching runs
//! over what it records, so the two give the same rows.

mod builder;
mod error;
mod file;
mod interpolative;

use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};

pub use builder::PositionsBuilder;
pub use error::IndexError;

use crate::store_reader::StoreReader;
use crate::{ArchiveError, FileEntry, IndexFile};

/// The file name extension of phrase index files.
pub const EXTENSION: &str = "phrases";

/// The path of the phrase index of the chunk at `chunk_path` (`….parquet` → `….phrases`).
pub fn index_path(chunk_path: &str) -> String {
    let stem = chunk_path.strip_suffix(".parquet").unwrap_or(chunk_path);
    format!("{stem}.{EXTENSION}")
}

/// The positions `p` such that `lists[i]` holds `p + i` for every `i` (each list sorted).
pub fn phrase_starts(lists: &[&[u64]]) -> Vec<u64> {
    let offset_lists: Vec<(u64, &[u64])> = lists.iter().enumerate().map(|(i, list)| (i as u64, *list)).collect();
    aligned_starts(&offset_lists)
}

/// The positions `p` such that each `(offset, list)` holds `p + offset` (each list sorted); the
/// shortest list drives the intersection.
pub fn aligned_starts(lists: &[(u64, &[u64])]) -> Vec<u64> {
    let Some(&(driver_offset, driver)) = lists.iter().min_by_key(|(_, list)| list.len()) else {
        return Vec::new();
    };
    let mut cursors = vec![0usize; lists.len()];
    let mut starts = Vec::new();
    'candidates: for &position in driver {
        let Some(start) = position.checked_sub(driver_offset) else { continue };
        for ((offset, list), cursor) in lists.iter().zip(cursors.iter_mut()) {
            let wanted = start + offset;
            *cursor += list[*cursor..].partition_point(|&p| p < wanted);
            match list.get(*cursor) {
                None => break 'candidates,
                Some(&found) if found != wanted => continue 'candidates,
                Some(_) => {}
            }
        }
        starts.push(start);
    }
    starts
}

/// The row holding `position`, given each row's first position (ascending): the last row
/// starting at or before it (rows without words share their successor's start, and the
/// successor is the one holding the word).
fn holding_row(row_starts: &[u64], position: u64) -> Option<usize> {
    row_starts.partition_point(|&start| start <= position).checked_sub(1)
}

/// Where an index file is read from: the store, or a local copy.
enum IndexSource {
    Store(Arc<dyn ObjectStore>, Path),
    Local(std::fs::File),
}

impl IndexSource {
    async fn range(&self, range: Range<u64>) -> Result<Bytes, IndexError> {
        match self {
            IndexSource::Store(store, object) => Ok(store.get_range(object, range).await?),
            IndexSource::Local(file) => {
                use std::os::unix::fs::FileExt;
                let mut buffer = vec![0; (range.end - range.start) as usize];
                file.read_exact_at(&mut buffer, range.start).map_err(IndexError::LocalCopy)?;
                Ok(Bytes::from(buffer))
            }
        }
    }

    async fn ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>, IndexError> {
        match self {
            IndexSource::Store(store, object) => Ok(store.get_ranges(object, ranges).await?),
            IndexSource::Local(_) => {
                let mut out = Vec::with_capacity(ranges.len());
                for range in ranges {
                    out.push(self.range(range.clone()).await?);
                }
                Ok(out)
            }
        }
    }
}

/// A place in a chunk where a phrase may start: found by the phrase index, which records word
/// buckets rather than words, and confirmed (or not) by [`phrase_at`] on the rows' text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhrasePlace {
    /// The row (of the chunk) where the phrase would start.
    pub row: u64,
    /// Words of that row before the phrase.
    pub skip: u64,
    /// The row holding the phrase's last word, if the phrase is there. When the index did not
    /// record some of the phrase's words, a place near a document's end may name a row of the
    /// next document: confirm a place on its own document's rows.
    pub last_row: u64,
}

impl PhrasePlace {
    /// The rows of `places` (ascending, as places come), once each.
    pub fn rows(places: &[PhrasePlace]) -> Vec<u64> {
        let mut rows: Vec<u64> = places.iter().map(|place| place.row).collect();
        rows.dedup();
        rows
    }
}

/// Whether `phrase` (from [`phrase_words`]) occurs `skip` words into the first of `texts`, the
/// texts of consecutive rows of one document, running on into the next ones as needed.
pub fn phrase_at<'t>(texts: impl IntoIterator<Item = &'t str>, skip: u64, phrase: &[String]) -> bool {
    let (mut skip, mut matched, mut found) = (skip, 0usize, true);
    let mut lowercased = String::new();
    for text in texts {
        verbatim_model::words::for_each_word(text, |word| {
            if skip > 0 {
                skip -= 1;
                return;
            }
            if !found || matched == phrase.len() {
                return;
            }
            lowercased.clear();
            verbatim_model::words::push_lowercase(word, &mut lowercased);
            found = lowercased == phrase[matched];
            matched += 1;
        });
        if !found || matched == phrase.len() {
            break;
        }
    }
    found && matched == phrase.len()
}

/// The places where a phrase of `words` words starts at each of `starts`, given `locate`: the
/// row holding a position and that row's first position.
fn places_at(
    starts: &[u64],
    words: usize,
    locate: impl Fn(u64) -> Result<(u64, u64), IndexError>,
) -> Result<Vec<PhrasePlace>, IndexError> {
    starts
        .iter()
        .map(|&start| {
            let (row, row_start) = locate(start)?;
            let (last_row, _) = locate(start + words as u64 - 1)?;
            Ok(PhrasePlace { row, skip: start - row_start, last_row })
        })
        .collect()
}

/// [`places_at`], given each row's first position.
fn places_of(row_starts: &[u64], starts: &[u64], words: usize) -> Result<Vec<PhrasePlace>, IndexError> {
    places_at(starts, words, |position| {
        let row = holding_row(row_starts, position).ok_or("a position lies before the first row")?;
        Ok((row as u64, row_starts[row]))
    })
}

/// The places of a chunk where `phrase` (lowercased words, at least one) may start, read from
/// the chunk's index (of `size` bytes) through `source`; `None` when the index is of an older
/// format, which this version does not read.
async fn places_from_index(
    source: &IndexSource,
    size: u64,
    phrase: &[String],
) -> Result<Option<Vec<PhrasePlace>>, IndexError> {
    let Some(directory) = file::Directory::read(source, size).await? else {
        return Ok(None);
    };
    let labels: Vec<String> = phrase.iter().map(|word| builder::bucket_label(builder::bucket_of(word))).collect();
    let Some(lists) = directory.positions_of(source, &labels).await? else {
        return Ok(Some(Vec::new()));
    };
    // Words whose positions are not recorded may be anywhere: the others place the phrase, and
    // a phrase of such words only is scanned for.
    let recorded: Vec<(u64, &[u64])> = lists
        .iter()
        .enumerate()
        .filter_map(|(offset, list)| list.as_deref().map(|list| (offset as u64, list)))
        .collect();
    if recorded.is_empty() {
        return Ok(None);
    }
    let starts = aligned_starts(&recorded);
    if starts.is_empty() {
        return Ok(Some(Vec::new()));
    }
    // Each start and the position of the phrase's last word, located in one pass (a phrase
    // whose last words are not recorded may seem to run past the chunk's last position).
    let last_word = phrase.len() as u64 - 1;
    let last_position = directory.positions().saturating_sub(1);
    let mut positions: Vec<u64> =
        starts.iter().flat_map(|&start| [start, (start + last_word).min(last_position)]).collect();
    positions.sort_unstable();
    positions.dedup();
    let located = directory.locate(source, &positions).await?;
    let locate = |position: u64| {
        positions
            .binary_search(&position.min(last_position))
            .map(|at| located[at])
            .map_err(|_| IndexError::from("a position was not located"))
    };
    places_at(&starts, phrase.len(), locate).map(Some)
}

/// Checks an index file of `size` bytes for `rows` rows: its footer and directory, and (`deep`)
/// every word's positions and every row's start.
pub(crate) async fn check_index(
    store: &Arc<dyn ObjectStore>,
    object: &Path,
    size: u64,
    rows: u64,
    deep: bool,
) -> Result<(), IndexError> {
    let source = IndexSource::Store(store.clone(), object.clone());
    let Some(directory) = file::Directory::read(&source, size).await? else {
        // An older format: searches scan the chunk instead; there is nothing to check.
        return Ok(());
    };
    if directory.rows != rows {
        return Err(IndexError::malformed(format!("indexes {} rows, its chunk has {rows}", directory.rows)));
    }
    if deep {
        directory.check_all(&source).await?;
    }
    Ok(())
}

/// Words of `phrase` as the index holds them: `tokenize`d (lowercased, punctuation dropped).
pub fn phrase_words(phrase: &str) -> Vec<String> {
    verbatim_model::words::tokenize(phrase)
}

/// A local folder keeping copies of index files of remote archives, at most `limit_bytes` in all
/// (least recently used copies are removed first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexCache {
    /// The folder.
    pub dir: PathBuf,
    /// The most bytes the folder may hold.
    pub limit_bytes: u64,
}

impl IndexCache {
    /// The most bytes the folder holds unless told otherwise.
    pub const DEFAULT_LIMIT_BYTES: u64 = 1 << 30;

    /// The local copy of `relative` (an index file of `size` bytes of the archive at `archive_url`),
    /// opened, and fetched whole from `store` when it is not there yet; `None` when the file is
    /// larger than the whole cache (it is then read from the store). Searches of other chunks may
    /// evict the copy at any time; the open file stays readable until it is closed.
    async fn local_copy(
        &self,
        store: &Arc<dyn ObjectStore>,
        object: &Path,
        archive_url: &str,
        relative: &str,
        size: u64,
    ) -> Result<Option<std::fs::File>, IndexError> {
        let key = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(archive_url.as_bytes()));
        let path = self.dir.join(key).join(relative.replace('/', "__"));
        if let Ok(file) = std::fs::File::open(&path)
            && file.metadata().is_ok_and(|m| m.len() == size)
        {
            // Mark it used: eviction removes the copies used longest ago.
            let _ = std::fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            return Ok(Some(file));
        }
        if size > self.limit_bytes {
            return Ok(None);
        }
        let bytes = store.get(object).await?.bytes().await?;
        if bytes.len() as u64 != size {
            return Err(IndexError::malformed(format!("{} bytes read, the manifest records {size}", bytes.len())));
        }
        let folder = path.parent().expect("a cache file has a folder");
        let cache_error = |source| IndexError::Cache { dir: self.dir.clone(), source };
        std::fs::create_dir_all(folder).map_err(cache_error)?;
        // Written under a hidden name (which eviction leaves alone), then renamed into place.
        let temporary = folder.join(format!(".{}.{}", std::process::id(), uuid::Uuid::now_v7()));
        let mut file =
            std::fs::File::options().read(true).write(true).create_new(true).open(&temporary).map_err(cache_error)?;
        std::io::Write::write_all(&mut file, &bytes).map_err(cache_error)?;
        std::fs::rename(&temporary, &path).map_err(cache_error)?;
        evict(&self.dir, self.limit_bytes);
        Ok(Some(file))
    }
}

/// Removes the least recently used files under `dir` until at most `limit` bytes remain.
fn evict(dir: &FsPath, limit: u64) {
    let mut files = Vec::new();
    for folder in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(folder.path()).into_iter().flatten().flatten() {
            if file.file_name().to_string_lossy().starts_with('.') {
                continue; // being written by a search
            }
            if let Ok(meta) = file.metadata() {
                let used = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                files.push((used, meta.len(), file.path()));
            }
        }
    }
    let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
    files.sort();
    for (_, len, path) in files {
        if total <= limit {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
}

/// The places of the `segments` chunk `entry` where `phrase` (from [`phrase_words`]) may start,
/// ascending: from its phrase index when it has one (through `cache` when given), else by scanning
/// its text (then exactly). [`phrase_at`] tells which are hits. `object_of` gives the object of
/// a path relative to the archive root. Errors name the file.
pub async fn phrase_places(
    store: &Arc<dyn ObjectStore>,
    object_of: impl Fn(&str) -> Path,
    archive_url: &str,
    entry: &FileEntry,
    phrase: &[String],
    cache: Option<&IndexCache>,
) -> Result<Vec<PhrasePlace>, ArchiveError> {
    if phrase.is_empty() {
        return Ok(Vec::new());
    }
    let scan = || async {
        places_by_scanning(store, &object_of(&entry.path), entry.bytes, phrase)
            .await
            .map_err(|source| ArchiveError::Index { path: entry.path.clone(), source: Box::new(source) })
    };
    let Some(index) = &entry.phrase_index else {
        return scan().await;
    };
    let corrupt = |source| ArchiveError::Index { path: index.path.clone(), source: Box::new(source) };
    let source = index_source(store, &object_of, archive_url, index, cache).await.map_err(corrupt)?;
    let places = places_from_index(&source, index.bytes, phrase).await.map_err(corrupt)?;
    let Some(places) = places else {
        return scan().await;
    };
    if let Some(beyond) = places.iter().find(|place| place.last_row >= entry.rows) {
        return Err(corrupt(IndexError::malformed(format!(
            "names row {}, its chunk has {}",
            beyond.last_row, entry.rows
        ))));
    }
    Ok(places)
}

/// Where the index file `index` is read from: a local copy in `cache` when there is one, else
/// the store.
async fn index_source(
    store: &Arc<dyn ObjectStore>,
    object_of: impl Fn(&str) -> Path,
    archive_url: &str,
    index: &IndexFile,
    cache: Option<&IndexCache>,
) -> Result<IndexSource, IndexError> {
    let object = object_of(&index.path);
    let local = match cache {
        Some(cache) => cache.local_copy(store, &object, archive_url, &index.path, index.bytes).await?,
        None => None,
    };
    Ok(match local {
        Some(file) => IndexSource::Local(file),
        None => IndexSource::Store(store.clone(), object),
    })
}

/// A chunk's phrase index, opened: where words may occur, and which rows hold which positions.
/// The index records word buckets, so the positions of a word are a superset of where it is:
/// what they find is to be confirmed on the text.
pub struct ChunkIndex {
    source: IndexSource,
    directory: file::Directory,
    /// The index file, for errors.
    path: String,
}

impl ChunkIndex {
    /// Opens the index of the `segments` chunk `entry` (through `cache` when given; `object_of`
    /// gives the object of a path relative to the archive root); `None` when the chunk has no
    /// index, or one of an older format (the chunk is to be scanned then). Errors name the file.
    pub async fn open(
        store: &Arc<dyn ObjectStore>,
        object_of: impl Fn(&str) -> Path,
        archive_url: &str,
        entry: &FileEntry,
        cache: Option<&IndexCache>,
    ) -> Result<Option<ChunkIndex>, ArchiveError> {
        let Some(index) = &entry.phrase_index else { return Ok(None) };
        let corrupt = |source| ArchiveError::Index { path: index.path.clone(), source: Box::new(source) };
        let source = index_source(store, object_of, archive_url, index, cache).await.map_err(corrupt)?;
        let Some(directory) = file::Directory::read(&source, index.bytes).await.map_err(corrupt)? else {
            return Ok(None);
        };
        if directory.rows != entry.rows {
            let problem = format!("indexes {} rows, its chunk has {}", directory.rows, entry.rows);
            return Err(corrupt(IndexError::malformed(problem)));
        }
        Ok(Some(ChunkIndex { source, directory, path: index.path.clone() }))
    }

    /// Positions in the chunk: every position lies below this.
    pub fn positions(&self) -> u64 {
        self.directory.positions()
    }

    /// For each of `words` (lowercased, as [`phrase_words`] gives them), the positions where it
    /// may occur, ascending: empty where it does not, `None` where the index does not record
    /// them (the chunk's commonest words: they may be anywhere).
    pub async fn candidates(&self, words: &[String]) -> Result<Vec<Option<Vec<u64>>>, ArchiveError> {
        let labels: Vec<String> = words.iter().map(|word| builder::bucket_label(builder::bucket_of(word))).collect();
        self.directory.each_positions(&self.source, &labels).await.map_err(|e| self.corrupt(e))
    }

    /// The row holding each of `positions` (ascending, each below [`ChunkIndex::positions`]) and
    /// that row's first position.
    pub async fn locate(&self, positions: &[u64]) -> Result<Vec<(u64, u64)>, ArchiveError> {
        if let Some(&beyond) = positions.iter().find(|&&p| p >= self.positions()) {
            let problem = format!("position {beyond} asked of an index of {} positions", self.positions());
            return Err(self.corrupt(IndexError::malformed(problem)));
        }
        let located = self.directory.locate(&self.source, positions).await.map_err(|e| self.corrupt(e))?;
        if let Some(&(row, _)) = located.iter().find(|(row, _)| *row >= self.directory.rows) {
            let problem = format!("names row {row}, its chunk has {}", self.directory.rows);
            return Err(self.corrupt(IndexError::malformed(problem)));
        }
        Ok(located)
    }

    /// The first position of each of `rows` (ascending, each below the chunk's rows).
    pub async fn first_positions(&self, rows: &[u64]) -> Result<Vec<u64>, ArchiveError> {
        self.directory.first_positions(&self.source, rows).await.map_err(|e| self.corrupt(e))
    }

    /// The chunk's words (lowercased) starting with `prefix` that `keep` takes, in byte order;
    /// `None` when the index has no vocabulary (written by an older version).
    pub async fn words_where(
        &self,
        prefix: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Option<Vec<String>>, ArchiveError> {
        self.directory.words_where(&self.source, prefix, keep).await.map_err(|e| self.corrupt(e))
    }

    /// Rows of the chunk.
    pub fn rows(&self) -> u64 {
        self.directory.rows
    }

    fn corrupt(&self, source: IndexError) -> ArchiveError {
        ArchiveError::Index { path: self.path.clone(), source: Box::new(source) }
    }
}

/// The places where `phrase` starts, by reading the chunk's `doc_id` and `text` columns.
async fn places_by_scanning(
    store: &Arc<dyn ObjectStore>,
    object: &Path,
    size: u64,
    phrase: &[String],
) -> Result<Vec<PhrasePlace>, IndexError> {
    let reader = StoreReader::new(store.clone(), object.clone(), size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
    let schema = builder.parquet_schema();
    let columns: Vec<usize> = ["doc_id", "text"]
        .iter()
        .map(|name| {
            builder
                .schema()
                .index_of(name)
                .map_err(|_| IndexError::malformed(format!("no {name} column: not a segments chunk")))
        })
        .collect::<Result<_, _>>()?;
    let mask = ProjectionMask::roots(schema, columns);
    let mut stream = builder.with_projection(mask).with_batch_size(8192).build()?;
    let mut positions = PositionsBuilder::only(phrase.iter().cloned());
    while let Some(batch) = stream.try_next().await? {
        positions.add_batch(&batch)?;
    }
    places_of(positions.row_starts(), &positions.starts_of(phrase), phrase.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(rows: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = PositionsBuilder::new();
        for (doc, text) in rows {
            builder.add_row(doc, text);
        }
        let mut file = Vec::new();
        let size = builder.write_to(&mut file).expect("writes to memory");
        assert_eq!(size, file.len() as u64);
        file
    }

    async fn places_in_file(file: &[u8], phrase: &str) -> Vec<PhrasePlace> {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let object = Path::from("i.phrases");
        store.put(&object, file.to_vec().into()).await.expect("in memory");
        places_from_index(&IndexSource::Store(store.clone(), object.clone()), file.len() as u64, &phrase_words(phrase))
            .await
            .expect("index reads")
            .expect("the current format")
    }

    #[tokio::test]
    async fn the_vocabulary_lists_the_chunks_words_for_prefixes_and_patterns() {
        // More words than a vocabulary block holds, so prefixes fall in and across blocks.
        let many: Vec<String> = (0..10_000).map(|i| format!("w{i:05} Python PYTHONIC naïve Straße")).collect();
        let rows: Vec<(&str, &str)> = many.iter().map(|text| ("d", text.as_str())).collect();
        let file = build(&rows);
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let object = Path::from("i.phrases");
        store.put(&object, file.clone().into()).await.expect("in memory");
        let source = IndexSource::Store(store, object);
        let directory = file::Directory::read(&source, file.len() as u64).await.unwrap().unwrap();
        let words = |prefix: &'static str| {
            let directory = &directory;
            let source = &source;
            async move { directory.words_where(source, prefix, |_| true).await.unwrap().unwrap() }
        };
        assert_eq!(words("py").await, ["python", "pythonic"]);
        assert_eq!(words("na").await, ["naïve"]);
        assert_eq!(words("w0999").await.len(), 10);
        assert_eq!(words("w").await.len(), 10_000);
        assert_eq!(words("").await.len(), 10_004);
        assert!(words("zz").await.is_empty());
        let straße = directory.words_where(&source, "", |w| w.contains('ß')).await.unwrap();
        assert_eq!(straße.unwrap(), ["straße"]);
        directory.check_all(&source).await.expect("a sound file checks");
    }

    /// The places found by scanning `rows` for `phrase`'s own words (exact).
    fn places_scanned<D: AsRef<str>, T: AsRef<str>>(rows: &[(D, T)], phrase: &str) -> Vec<PhrasePlace> {
        let words = phrase_words(phrase);
        let mut only = PositionsBuilder::only(words.clone());
        rows.iter().for_each(|(doc, text)| only.add_row(doc.as_ref(), text.as_ref()));
        places_of(only.row_starts(), &only.starts_of(&words), words.len()).expect("positions lie in rows")
    }

    /// The rows of `places` where `phrase` is confirmed by the rows' text.
    fn hit_rows<D, T: AsRef<str>>(rows: &[(D, T)], places: &[PhrasePlace], phrase: &str) -> Vec<u64> {
        let words = phrase_words(phrase);
        let confirmed: Vec<PhrasePlace> = places
            .iter()
            .filter(|p| {
                let texts = rows[p.row as usize..=p.last_row as usize].iter().map(|(_, text)| text.as_ref());
                phrase_at(texts, p.skip, &words)
            })
            .copied()
            .collect();
        PhrasePlace::rows(&confirmed)
    }

    const ROWS: &[(&str, &str)] = &[
        ("a", "We build data pipelines to national"),
        ("a", "SUPERCOMPUTING centres."),
        ("a", ""),
        ("a", "national... supercomputing again"),
        ("b", "supercomputing starts doc b"),
        ("b", "and it's national"),
        ("c", "supercomputing, not after national in b"),
    ];

    #[tokio::test]
    async fn phrases_are_found_across_rows_but_not_across_documents() {
        let file = build(ROWS);
        for (phrase, rows) in [
            ("national supercomputing", vec![0, 3]),
            ("pipelines to national supercomputing centres", vec![0]),
            ("Supercomputing", vec![1, 3, 4, 6]),
            ("it's national", vec![5]),
            ("again supercomputing", vec![]),
            ("absent words", vec![]),
        ] {
            let scanned = places_scanned(ROWS, phrase);
            assert_eq!(PhrasePlace::rows(&scanned), rows, "{phrase} scanned");
            assert_eq!(hit_rows(ROWS, &scanned, phrase), rows, "{phrase}: scanned places are all hits");
            assert_eq!(hit_rows(ROWS, &places_in_file(&file, phrase).await, phrase), rows, "{phrase} from the file");
        }
        let across = places_scanned(ROWS, "pipelines to national supercomputing centres");
        assert_eq!(across, [PhrasePlace { row: 0, skip: 3, last_row: 1 }]);
    }

    #[tokio::test]
    async fn words_sharing_a_bucket_are_told_apart_by_their_text() {
        let target = "supercomputing";
        let bucket = builder::bucket_of(target);
        let twin = (0..1_000_000)
            .map(|i| format!("w{i}"))
            .find(|word| builder::bucket_of(word) == bucket)
            .expect("some word shares the bucket");
        let rows = [("a", format!("national {twin}")), ("a", format!("national {target}"))];
        let rows: Vec<(&str, &str)> = rows.iter().map(|(doc, text)| (*doc, text.as_str())).collect();
        let places = places_in_file(&build(&rows), "national supercomputing").await;
        assert_eq!(PhrasePlace::rows(&places), [0, 1], "the index holds buckets: both rows may match");
        assert_eq!(hit_rows(&rows, &places, "national supercomputing"), [1]);
        assert!(phrase_at([rows[1].1], 0, &phrase_words("NATIONAL, supercomputing!")));
        assert!(!phrase_at([rows[1].1], 1, &phrase_words("national supercomputing")));
    }

    #[test]
    fn phrase_starts_handles_repeated_words_and_offsets() {
        let very: &[u64] = &[3, 4, 5, 9];
        assert_eq!(phrase_starts(&[very, very]), vec![3, 4]);
        assert_eq!(phrase_starts(&[very, very, very]), vec![3]);
        assert_eq!(phrase_starts(&[&[1, 7], &[0, 8]]), vec![7]);
        assert!(phrase_starts(&[&[], &[1]]).is_empty());
    }

    #[test]
    fn the_holding_row_is_the_last_starting_at_or_before() {
        // Rows start at 0, 3, 3 (no words), 5 and 9.
        let starts = [0, 3, 3, 5, 9];
        let rows: Vec<Option<usize>> = [0, 2, 3, 4, 8, 9, 20].iter().map(|&p| holding_row(&starts, p)).collect();
        assert_eq!(rows, [Some(0), Some(0), Some(2), Some(2), Some(3), Some(4), Some(4)]);
        assert_eq!(holding_row(&[2], 1), None);
    }

    #[tokio::test]
    async fn large_indexes_span_many_groups_and_read_the_same() {
        // 30,000 rows of 3 words from a vocabulary of 3,000: several word and row groups.
        let rows: Vec<(String, String)> = (0..30_000u32)
            .map(|i| (format!("d{}", i / 700), format!("w{} w{} w{}", i % 3000, (i * 7) % 3000, (i * 13) % 3000)))
            .collect();
        let file = build(&rows.iter().map(|(d, t)| (d.as_str(), t.as_str())).collect::<Vec<_>>());
        for phrase in ["w1 w7", "w2999 w2993", "w0", "w5 w35 w65", "w1 w1"] {
            let expected = PhrasePlace::rows(&places_scanned(&rows, phrase));
            assert!(!expected.is_empty() || phrase == "w1 w1", "{phrase} occurs");
            assert_eq!(hit_rows(&rows, &places_in_file(&file, phrase).await, phrase), expected, "{phrase}");
        }
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let object = Path::from("i.phrases");
        store.put(&object, file.clone().into()).await.expect("in memory");
        check_index(&store, &object, file.len() as u64, 30_000, true).await.expect("the whole index checks");
        for at in [100, file.len() / 2, file.len() - 200] {
            let mut damaged = file.clone();
            damaged[at] ^= 0x10;
            store.put(&object, damaged.into()).await.expect("in memory");
            assert!(check_index(&store, &object, file.len() as u64, 30_000, true).await.is_err(), "byte {at}");
        }
        // An index of the older format is not read: its chunk is scanned instead.
        let mut older = file.clone();
        let end = older.len();
        older[end - 8..].copy_from_slice(b"VBPHRS02");
        let source = IndexSource::Local(tempfile_with(&older));
        let read = places_from_index(&source, older.len() as u64, &phrase_words("w1 w7")).await;
        assert!(matches!(read, Ok(None)), "an older index is scanned instead: {read:?}");
    }

    #[tokio::test]
    async fn the_commonest_words_are_found_from_the_others_and_confirmed_on_the_text() {
        // "the" is a third of the words and "of" in a row in four (both unrecorded), the numbered
        // words rare (recorded). Documents of 50 rows.
        let mut rows: Vec<(String, String)> = (0..12_000u32)
            .map(|i| {
                let text = if i % 4 == 0 {
                    format!("the w{} of the", i % 997)
                } else {
                    format!("the w{} w{}", i % 991, i % 13)
                };
                (format!("d{}", i / 50), text)
            })
            .collect();
        // At the end, a phrase whose common words run on into the next document.
        rows.extend([("y0", "the zeta"), ("y1", "of the")].map(|(d, t)| (d.to_string(), t.to_string())));
        let rows: Vec<(&str, &str)> = rows.iter().map(|(d, t)| (d.as_str(), t.as_str())).collect();
        let file = build(&rows);
        let source = IndexSource::Local(tempfile_with(&file));
        let directory = file::Directory::read(&source, file.len() as u64).await.unwrap().unwrap();
        let label = |word: &str| builder::bucket_label(builder::bucket_of(word));
        let lists = directory.each_positions(&source, &[label("the"), label("w5"), label("absent")]).await.unwrap();
        assert_eq!(lists[0], None, "the commonest word's positions are not recorded");
        assert!(lists[1].as_ref().is_some_and(|list| !list.is_empty()), "a rare word's are");
        assert_eq!(lists[2], Some(vec![]), "an absent word has none");
        directory.check_all(&source).await.expect("a file with unrecorded words checks");
        for phrase in ["the w5", "w5 of the", "w1 the w2", "the w990", "w3 w3 the", "the w7 of", "zeta of the"] {
            let places = places_from_index(&source, file.len() as u64, &phrase_words(phrase)).await.unwrap();
            let places = places.expect("a phrase with a recorded word is placed by the index");
            // Confirmed on the place's own document only, as searches do.
            let mut confirmed: Vec<u64> = places
                .iter()
                .filter(|p| {
                    let doc = rows[p.row as usize].0;
                    let texts = rows[p.row as usize..].iter().take_while(|(d, _)| *d == doc).map(|(_, t)| *t);
                    phrase_at(texts, p.skip, &phrase_words(phrase))
                })
                .map(|p| p.row)
                .collect();
            confirmed.dedup();
            let expected = PhrasePlace::rows(&places_scanned(&rows, phrase));
            assert!(!expected.is_empty() || phrase == "zeta of the", "{phrase} occurs");
            assert_eq!(confirmed, expected, "{phrase}");
        }
        let zeta = places_from_index(&source, file.len() as u64, &phrase_words("zeta of the")).await.unwrap().unwrap();
        let last = rows.len() as u64 - 1;
        assert_eq!(zeta, [PhrasePlace { row: last - 1, skip: 1, last_row: last }], "placed into the next document");
        for phrase in ["the", "the the", "of the the"] {
            let places = places_from_index(&source, file.len() as u64, &phrase_words(phrase)).await.unwrap();
            assert_eq!(places, None, "{phrase}: only unrecorded words, the chunk is scanned");
        }
        // A file of the version before (every word recorded) reads as it is.
        let mut before = build(&rows[..40]);
        let end = before.len();
        before[end - 8..].copy_from_slice(b"VBPHRS04");
        let source = IndexSource::Local(tempfile_with(&before));
        let places = places_from_index(&source, before.len() as u64, &phrase_words("the w5")).await.unwrap();
        assert_eq!(PhrasePlace::rows(&places.expect("VBPHRS04 is read")), [5]);
    }

    fn tempfile_with(bytes: &[u8]) -> std::fs::File {
        let mut file = tempfile::tempfile().expect("a temporary file");
        std::io::Write::write_all(&mut file, bytes).expect("writes");
        file
    }
}
