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

use crate::integrity::StoreReader;
use crate::{ArchiveError, FileEntry};

/// The file name extension of phrase index files.
pub const EXTENSION: &str = "phrases";

/// The path of the phrase index of the chunk at `chunk_path` (`….parquet` → `….phrases`).
pub fn index_path(chunk_path: &str) -> String {
    let stem = chunk_path.strip_suffix(".parquet").unwrap_or(chunk_path);
    format!("{stem}.{EXTENSION}")
}

/// The positions `p` such that `lists[i]` holds `p + i` for every `i` (each list sorted).
pub fn phrase_starts(lists: &[&[u64]]) -> Vec<u64> {
    let Some((driver, rarest)) = lists.iter().enumerate().min_by_key(|(_, list)| list.len()) else {
        return Vec::new();
    };
    let mut cursors = vec![0usize; lists.len()];
    let mut starts = Vec::new();
    'candidates: for &position in rarest.iter() {
        let Some(start) = position.checked_sub(driver as u64) else { continue };
        for (index, list) in lists.iter().enumerate() {
            if index == driver {
                continue;
            }
            let wanted = start + index as u64;
            let cursor = &mut cursors[index];
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
enum IndexSource<'a> {
    Store(&'a Arc<dyn ObjectStore>, &'a Path),
    Local(std::fs::File),
}

impl IndexSource<'_> {
    async fn range(&self, range: Range<u64>) -> Result<Bytes, String> {
        match self {
            IndexSource::Store(store, object) => store.get_range(object, range).await.map_err(|e| e.to_string()),
            IndexSource::Local(file) => {
                use std::os::unix::fs::FileExt;
                let mut buffer = vec![0; (range.end - range.start) as usize];
                file.read_exact_at(&mut buffer, range.start).map_err(|e| e.to_string())?;
                Ok(Bytes::from(buffer))
            }
        }
    }

    async fn ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>, String> {
        match self {
            IndexSource::Store(store, object) => store.get_ranges(object, ranges).await.map_err(|e| e.to_string()),
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

/// The rows of a chunk where `phrase` (lowercased words, at least one) starts, read from the
/// chunk's index (of `size` bytes) through `source`.
async fn rows_from_index(source: &IndexSource<'_>, size: u64, phrase: &[String]) -> Result<Vec<u64>, String> {
    let directory = file::Directory::read(source, size).await?;
    let Some(lists) = directory.positions_of(source, phrase).await? else {
        return Ok(Vec::new());
    };
    let ordered: Vec<&[u64]> = lists.iter().map(Vec::as_slice).collect();
    let starts = phrase_starts(&ordered);
    if starts.is_empty() {
        return Ok(Vec::new());
    }
    directory.rows_holding(source, &starts).await
}

/// Checks an index file of `size` bytes for `rows` rows: its footer and directory, and (`deep`)
/// every word's positions and every row's start.
pub(crate) async fn check_index(
    store: &Arc<dyn ObjectStore>,
    object: &Path,
    size: u64,
    rows: u64,
    deep: bool,
) -> Result<(), String> {
    let source = IndexSource::Store(store, object);
    let directory = file::Directory::read(&source, size).await?;
    if directory.rows != rows {
        return Err(format!("indexes {} rows, its chunk has {rows}", directory.rows));
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
    ) -> Result<Option<std::fs::File>, String> {
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
        let bytes = store.get(object).await.map_err(|e| e.to_string())?.bytes().await.map_err(|e| e.to_string())?;
        if bytes.len() as u64 != size {
            return Err(format!("{} bytes read, the manifest records {size}", bytes.len()));
        }
        let folder = path.parent().expect("a cache file has a folder");
        let cache_error = |e: std::io::Error| format!("index cache {}: {e}", self.dir.display());
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

/// The rows of the `segments` chunk `entry` where `phrase` (from [`phrase_words`]) starts: from
/// its phrase index when it has one (through `cache` when given), else by scanning its text.
/// `object_of` gives the object of a path relative to the archive root. Errors name the file.
pub async fn phrase_rows(
    store: &Arc<dyn ObjectStore>,
    object_of: impl Fn(&str) -> Path,
    archive_url: &str,
    entry: &FileEntry,
    phrase: &[String],
    cache: Option<&IndexCache>,
) -> Result<Vec<u64>, ArchiveError> {
    if phrase.is_empty() {
        return Ok(Vec::new());
    }
    let Some(index) = &entry.phrase_index else {
        let object = object_of(&entry.path);
        return rows_by_scanning(store, &object, entry.bytes, phrase)
            .await
            .map_err(|reason| ArchiveError::Corrupt { path: entry.path.clone(), reason });
    };
    let object = object_of(&index.path);
    let corrupt = |reason: String| ArchiveError::Corrupt { path: index.path.clone(), reason };
    let local = match cache {
        Some(cache) => {
            cache.local_copy(store, &object, archive_url, &index.path, index.bytes).await.map_err(corrupt)?
        }
        None => None,
    };
    let rows = match local {
        Some(file) => rows_from_index(&IndexSource::Local(file), index.bytes, phrase).await,
        None => rows_from_index(&IndexSource::Store(store, &object), index.bytes, phrase).await,
    }
    .map_err(corrupt)?;
    if rows.last().is_some_and(|&row| row >= entry.rows) {
        return Err(corrupt(format!("names row {}, its chunk has {}", rows[rows.len() - 1], entry.rows)));
    }
    Ok(rows)
}

/// The rows where `phrase` starts, by reading the chunk's `doc_id` and `text` columns.
async fn rows_by_scanning(
    store: &Arc<dyn ObjectStore>,
    object: &Path,
    size: u64,
    phrase: &[String],
) -> Result<Vec<u64>, String> {
    let reader = StoreReader::new(store.clone(), object.clone(), size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await.map_err(|e| e.to_string())?;
    let schema = builder.parquet_schema();
    let columns: Vec<usize> = ["doc_id", "text"]
        .iter()
        .map(|name| builder.schema().index_of(name).map_err(|_| format!("no {name} column: not a segments chunk")))
        .collect::<Result<_, _>>()?;
    let mask = ProjectionMask::roots(schema, columns);
    let mut stream = builder.with_projection(mask).with_batch_size(8192).build().map_err(|e| e.to_string())?;
    let mut positions = PositionsBuilder::only(phrase.iter().cloned());
    while let Some(batch) = stream.try_next().await.map_err(|e| e.to_string())? {
        positions.add_batch(&batch).map_err(|e| e.to_string())?;
    }
    positions.rows_of(phrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(rows: &[(&str, &str)]) -> (PositionsBuilder, Vec<u8>) {
        let mut builder = PositionsBuilder::new();
        let mut again = PositionsBuilder::new();
        for (doc, text) in rows {
            builder.add_row(doc, text);
            again.add_row(doc, text);
        }
        let mut file = Vec::new();
        let size = again.write_to(&mut file).expect("writes to memory");
        assert_eq!(size, file.len() as u64);
        (builder, file)
    }

    async fn from_file(file: &[u8], phrase: &str) -> Vec<u64> {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let object = Path::from("i.phrases");
        store.put(&object, file.to_vec().into()).await.expect("in memory");
        rows_from_index(&IndexSource::Store(&store, &object), file.len() as u64, &phrase_words(phrase))
            .await
            .expect("index reads")
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
        let (builder, file) = build(ROWS);
        for (phrase, rows) in [
            ("national supercomputing", vec![0, 3]),
            ("pipelines to national supercomputing centres", vec![0]),
            ("Supercomputing", vec![1, 3, 4, 6]),
            ("it's national", vec![5]),
            ("again supercomputing", vec![]),
            ("absent words", vec![]),
        ] {
            let words = phrase_words(phrase);
            assert_eq!(builder.rows_of(&words).expect("decodes"), rows, "{phrase} in memory");
            assert_eq!(from_file(&file, phrase).await, rows, "{phrase} from the file");
            let mut only = PositionsBuilder::only(words.clone());
            ROWS.iter().for_each(|(doc, text)| only.add_row(doc, text));
            assert_eq!(only.rows_of(&words).expect("decodes"), rows, "{phrase} recording only its words");
        }
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
        let mut builder = PositionsBuilder::new();
        let mut again = PositionsBuilder::new();
        for (doc, text) in &rows {
            builder.add_row(doc, text);
            again.add_row(doc, text);
        }
        let mut file = Vec::new();
        again.write_to(&mut file).expect("writes to memory");
        for phrase in ["w1 w7", "w2999 w2993", "w0", "w5 w35 w65", "w1 w1"] {
            let words = phrase_words(phrase);
            let expected = builder.rows_of(&words).expect("decodes");
            assert_eq!(from_file(&file, phrase).await, expected, "{phrase}");
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
    }
}
