//! The phrase index: for each `segments` chunk, an immutable file saying where every word of the
//! chunk occurs, so that a phrase search reads a few posting lists instead of all the text.
//!
//! Words (as `tokenize` splits and lowercases them) are numbered in the order of the chunk's rows;
//! a chunk holds whole documents, each in `seq` order, and one position is skipped between
//! documents so that no phrase runs from one document into the next. A phrase occurs at position
//! `p` when its `i`-th word is at `p + i` for every `i`: caption boundaries play no part. The
//! first position of every row maps positions back to rows.
//!
//! File layout (`segments/<chunk>.phrases`, beside its chunk and listed with it in the manifest):
//!
//! ```text
//! "VBPHRS01"
//! postings  per word, in byte order of the words: its positions, Elias–Fano coded
//! words     zstd: per word, varint length, the word, varint postings bytes, varint count,
//!           the postings' checksum (u32)
//! rows      zstd: per row, its first position as a varint delta from the previous row's
//! footer    10 little-endian u64: words offset, words length, rows offset, rows length,
//!           words, rows, positions, checksums of the words and rows sections and of the
//!           footer's first 9 values; then "VBPHRS01"
//! ```
//!
//! Checksums are xxh3 (64 bits, or its low 32 for postings): a damaged byte in what a search
//! reads fails the search naming the file, never gives a wrong answer.
//!
//! A chunk without an index (written before indexes existed, or with the index turned off) is
//! scanned instead: [`PositionsBuilder`] numbers the words of both, and the same matching runs
//! over what it records, so the two give the same rows.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use verbatim_model::words::{for_each_word, push_lowercase};

use xxhash_rust::xxh3::xxh3_64;

use crate::integrity::StoreReader;
use crate::{ArchiveError, FileEntry};

/// The file name extension of phrase index files.
pub const EXTENSION: &str = "phrases";
const MAGIC: &[u8; 8] = b"VBPHRS01";
const FOOTER_VALUES: usize = 10;
const FOOTER_BYTES: u64 = FOOTER_VALUES as u64 * 8 + 8;
const ZSTD_LEVEL: i32 = 3;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The path of the phrase index of the chunk at `chunk_path` (`….parquet` → `….phrases`).
pub fn index_path(chunk_path: &str) -> String {
    let stem = chunk_path.strip_suffix(".parquet").unwrap_or(chunk_path);
    format!("{stem}.{EXTENSION}")
}

/// A position that holds no recorded word: the gap between documents, or (while scanning for a
/// phrase) a word the phrase does not have.
const NO_WORD: u32 = u32::MAX;

/// Numbers the words of a chunk's rows and records where each occurs: the whole index while a
/// chunk is written (one word id per position, sorted into posting lists when it finishes), or
/// only a phrase's words while a chunk without an index is scanned.
#[derive(Debug, Default)]
pub struct PositionsBuilder {
    only: Option<HashSet<String>>,
    ids: FastMap<Box<str>, u32>,
    words: Vec<Box<str>>,
    tokens: Vec<u32>,
    /// Only-mode: the positions of each recorded word, and the next position.
    scanned: Vec<Vec<u64>>,
    next_position: u64,
    row_starts: Vec<u8>,
    last_row_start: u64,
    last_doc: Option<Box<str>>,
    rows: u64,
    word_bytes: usize,
}

impl PositionsBuilder {
    /// A builder recording every word.
    pub fn new() -> PositionsBuilder {
        PositionsBuilder::default()
    }

    /// A builder recording only `words` (lowercased), and every row's first position.
    pub fn only(words: impl IntoIterator<Item = String>) -> PositionsBuilder {
        PositionsBuilder { only: Some(words.into_iter().collect()), ..PositionsBuilder::default() }
    }

    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes held, and (for the whole index) as many again to sort the positions when it finishes.
    pub fn memory(&self) -> usize {
        2 * self.tokens.capacity() * 4 + self.word_bytes + self.words.len() * 64 + self.row_starts.capacity()
    }

    /// Adds the rows of a `segments` batch (its `doc_id` and `text` columns).
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), ArchiveError> {
        let docs = string_column(batch, "doc_id")?;
        let texts = string_column(batch, "text")?;
        let (docs, texts) = (docs.as_string::<i32>(), texts.as_string::<i32>());
        for row in 0..batch.num_rows() {
            let text = if texts.is_null(row) { "" } else { texts.value(row) };
            self.add_row(docs.value(row), text);
        }
        Ok(())
    }

    /// Adds one row: its document and its text.
    pub fn add_row(&mut self, doc_id: &str, text: &str) {
        if self.last_doc.as_deref() != Some(doc_id) {
            if self.last_doc.is_some() {
                self.skip_position();
            }
            self.last_doc = Some(doc_id.into());
        }
        let start = self.position();
        push_varint(&mut self.row_starts, start - self.last_row_start);
        self.last_row_start = start;
        self.rows += 1;
        let PositionsBuilder { only, ids, words, tokens, scanned, next_position, word_bytes, .. } = self;
        let mut lower = String::new();
        for_each_word(text, |word| {
            let key: &str = if word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
                word
            } else {
                lower.clear();
                push_lowercase(word, &mut lower);
                &lower
            };
            let id = match ids.get(key) {
                Some(&id) => id,
                None if only.as_ref().is_some_and(|only| !only.contains(key)) => NO_WORD,
                None => {
                    let id = words.len() as u32;
                    *word_bytes += key.len();
                    words.push(key.into());
                    ids.insert(key.into(), id);
                    id
                }
            };
            if only.is_some() {
                if id != NO_WORD {
                    scanned.resize_with(words.len(), Vec::new);
                    scanned[id as usize].push(*next_position);
                }
                *next_position += 1;
            } else {
                tokens.push(id);
            }
        });
    }

    /// The position the next word gets.
    fn position(&self) -> u64 {
        if self.only.is_some() { self.next_position } else { self.tokens.len() as u64 }
    }

    /// Leaves a position empty (between documents).
    fn skip_position(&mut self) {
        if self.only.is_some() {
            self.next_position += 1;
        } else {
            self.tokens.push(NO_WORD);
        }
    }

    /// The positions of every word id, in id order: (offsets into the positions, positions).
    fn posting_lists(&self) -> (Vec<usize>, Vec<u32>) {
        let mut offsets = vec![0usize; self.words.len() + 1];
        for &id in &self.tokens {
            if id != NO_WORD {
                offsets[id as usize + 1] += 1;
            }
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut next = offsets.clone();
        let mut positions = vec![0u32; offsets[offsets.len() - 1]];
        for (position, &id) in self.tokens.iter().enumerate() {
            if id != NO_WORD {
                positions[next[id as usize]] = position as u32;
                next[id as usize] += 1;
            }
        }
        (offsets, positions)
    }

    /// Writes the index file of the rows added to `out`; returns its size in bytes.
    pub fn write_to(self, out: &mut impl Write) -> std::io::Result<u64> {
        let (offsets, positions) = self.posting_lists();
        let PositionsBuilder { words, row_starts, rows, tokens, .. } = self;
        let next_position = tokens.len() as u64;
        drop(tokens);
        let mut order: Vec<u32> = (0..words.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| words[a as usize].cmp(&words[b as usize]));
        out.write_all(MAGIC)?;
        let mut offset = MAGIC.len() as u64;
        let mut directory = Vec::with_capacity(words.len() * 16);
        let mut encoded = Vec::new();
        for id in order {
            let (word, list) = (&words[id as usize], &positions[offsets[id as usize]..offsets[id as usize + 1]]);
            encoded.clear();
            elias_fano::encode(list, &mut encoded);
            out.write_all(&encoded)?;
            offset += encoded.len() as u64;
            push_varint(&mut directory, word.len() as u64);
            directory.extend_from_slice(word.as_bytes());
            push_varint(&mut directory, encoded.len() as u64);
            push_varint(&mut directory, list.len() as u64);
            directory.extend_from_slice(&postings_checksum(&encoded).to_le_bytes());
        }
        let count = words.len() as u64;
        drop(words);
        drop(positions);
        let directory = zstd::bulk::compress(&directory, ZSTD_LEVEL)?;
        let rows_block = zstd::bulk::compress(&row_starts, ZSTD_LEVEL)?;
        let words_offset = offset;
        out.write_all(&directory)?;
        let rows_offset = words_offset + directory.len() as u64;
        out.write_all(&rows_block)?;
        let mut footer = [
            words_offset,
            directory.len() as u64,
            rows_offset,
            rows_block.len() as u64,
            count,
            rows,
            next_position,
            xxh3_64(&directory),
            xxh3_64(&rows_block),
            0,
        ];
        footer[FOOTER_VALUES - 1] = footer_checksum(&footer);
        for value in footer {
            out.write_all(&value.to_le_bytes())?;
        }
        out.write_all(MAGIC)?;
        Ok(rows_offset + rows_block.len() as u64 + FOOTER_BYTES)
    }

    /// The rows where `phrase` (its words, lowercased) starts, from what was recorded.
    fn rows_of(&self, phrase: &[String]) -> Result<Vec<u64>, String> {
        if phrase.iter().any(|word| !self.ids.contains_key(word.as_str())) {
            return Ok(Vec::new());
        }
        let lists: Vec<Vec<u64>> = if self.only.is_some() {
            phrase.iter().map(|word| self.scanned[self.ids[word.as_str()] as usize].clone()).collect()
        } else {
            let (offsets, positions) = self.posting_lists();
            let list = |word: &String| {
                let id = self.ids[word.as_str()] as usize;
                positions[offsets[id]..offsets[id + 1]].iter().map(|&p| u64::from(p)).collect()
            };
            phrase.iter().map(list).collect()
        };
        let ordered: Vec<&[u64]> = lists.iter().map(Vec::as_slice).collect();
        let starts = phrase_starts(&ordered);
        if starts.is_empty() {
            return Ok(Vec::new());
        }
        rows_holding(self.row_starts.as_slice(), self.rows, &starts)
    }
}

/// Posting lists as Elias–Fano codes: a sorted list of `n` positions below `u` takes about
/// `n * (2 + log2(u / n))` bits. Layout: the number of low bits `l` (one byte), the low `l` bits of
/// every position packed little-endian, then the high parts in unary (bit `(p >> l) + i` set for
/// the `i`-th position `p`).
mod elias_fano {
    /// Appends the code of `positions` (ascending) to `out`.
    pub fn encode(positions: &[u32], out: &mut Vec<u8>) {
        let n = positions.len() as u64;
        let universe = positions.last().map_or(0, |&p| u64::from(p) + 1);
        let low_bits = if n == 0 || universe <= n { 0 } else { (universe / n).ilog2() };
        out.push(low_bits as u8);
        let low_start = out.len();
        out.resize(low_start + ((n * u64::from(low_bits)).div_ceil(8)) as usize, 0);
        let mask = (1u64 << low_bits) - 1;
        for (i, &p) in positions.iter().enumerate() {
            let (value, mut bit) = (u64::from(p) & mask, i as u64 * u64::from(low_bits));
            let mut left = low_bits;
            let mut value = value;
            while left > 0 {
                let byte = low_start + (bit / 8) as usize;
                let shift = (bit % 8) as u32;
                let take = left.min(8 - shift);
                out[byte] |= ((value & ((1 << take) - 1)) as u8) << shift;
                value >>= take;
                bit += u64::from(take);
                left -= take;
            }
        }
        let high_start = out.len();
        let high_bits = n + (universe >> low_bits) + 1;
        out.resize(high_start + high_bits.div_ceil(8) as usize, 0);
        for (i, &p) in positions.iter().enumerate() {
            let bit = (u64::from(p) >> low_bits) + i as u64;
            out[high_start + (bit / 8) as usize] |= 1 << (bit % 8);
        }
    }

    /// The `count` positions coded in `bytes`.
    pub fn decode(bytes: &[u8], count: u64) -> Result<Vec<u64>, String> {
        let corrupt = || "a posting list does not decode".to_string();
        let (&low_bits, rest) = bytes.split_first().ok_or_else(corrupt)?;
        let low_bits = u32::from(low_bits);
        if low_bits > 32 {
            return Err(corrupt());
        }
        let low_len = ((count * u64::from(low_bits)).div_ceil(8)) as usize;
        let (low, high) = (rest.get(..low_len).ok_or_else(corrupt)?, &rest[low_len..]);
        let mut positions = Vec::with_capacity(count as usize);
        let mut found = 0u64;
        'bytes: for (index, &byte) in high.iter().enumerate() {
            let mut byte = byte;
            while byte != 0 {
                if found == count {
                    break 'bytes;
                }
                let bit = index as u64 * 8 + u64::from(byte.trailing_zeros());
                byte &= byte - 1;
                let high_part = bit - found;
                let mut value = 0u64;
                let (mut at, mut got) = (found * u64::from(low_bits), 0u32);
                while got < low_bits {
                    let shift = (at % 8) as u32;
                    let take = (low_bits - got).min(8 - shift);
                    let piece = (u64::from(low[(at / 8) as usize]) >> shift) & ((1 << take) - 1);
                    value |= piece << got;
                    got += take;
                    at += u64::from(take);
                }
                positions.push((high_part << low_bits) | value);
                found += 1;
            }
        }
        if found != count {
            return Err(format!("{found} positions decode, the index records {count}"));
        }
        Ok(positions)
    }
}

fn string_column(batch: &RecordBatch, name: &str) -> Result<Arc<dyn Array>, ArchiveError> {
    let arrow_error = |source| ArchiveError::Arrow { table: "segments", source: Box::new(source) };
    let column = batch.column_by_name(name).ok_or_else(|| {
        arrow_error(arrow::error::ArrowError::SchemaError(format!("no column {name} in a segments batch")))
    })?;
    match column.data_type() {
        DataType::Utf8 => Ok(column.clone()),
        _ => arrow::compute::cast(column, &DataType::Utf8).map_err(arrow_error),
    }
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

/// The rows holding `positions` (ascending), once each, from the row map `row_starts` (each of
/// `rows` rows' first position, as varint deltas), read only as far as the last position; with no
/// positions, the whole map is read (a check that it decodes).
fn rows_holding(mut row_starts: impl Read, rows: u64, positions: &[u64]) -> Result<Vec<u64>, String> {
    let corrupt = |e: std::io::Error| format!("the row map does not decode: {e}");
    let (mut left, mut start) = (rows, 0u64);
    let mut next_start = || -> Result<Option<u64>, String> {
        if left == 0 {
            return Ok(None);
        }
        left -= 1;
        start += read_varint(&mut row_starts).map_err(corrupt)?;
        Ok(Some(start))
    };
    // The row holding a position is the last one starting at or before it (rows without words
    // share their successor's start, and the successor is the one holding the word).
    let (mut started, mut upcoming, mut holding) = (0u64, next_start()?, Vec::new());
    for &position in positions {
        while upcoming.is_some_and(|start| start <= position) {
            started += 1;
            upcoming = next_start()?;
        }
        let row = started.checked_sub(1).ok_or("a position lies before the first row")?;
        if holding.last() != Some(&row) {
            holding.push(row);
        }
    }
    if positions.is_empty() {
        while upcoming.is_some() {
            upcoming = next_start()?;
        }
    }
    Ok(holding)
}

fn postings_checksum(bytes: &[u8]) -> u32 {
    xxh3_64(bytes) as u32
}

fn footer_checksum(values: &[u64; FOOTER_VALUES]) -> u64 {
    let bytes: Vec<u8> = values[..FOOTER_VALUES - 1].iter().flat_map(|v| v.to_le_bytes()).collect();
    xxh3_64(&bytes)
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads one LEB128 varint.
fn read_varint(input: &mut impl Read) -> std::io::Result<u64> {
    let (mut value, mut shift, mut byte) = (0u64, 0u32, [0u8]);
    loop {
        input.read_exact(&mut byte)?;
        if shift >= 64 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "a varint runs past 64 bits"));
        }
        value |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

/// The footer of an index file.
#[derive(Debug, Clone)]
struct Footer {
    words: Range<u64>,
    rows_block: Range<u64>,
    word_count: u64,
    rows: u64,
    words_checksum: u64,
    rows_checksum: u64,
}

impl Footer {
    /// Reads and checks the footer of the index file of `size` bytes at `source`.
    async fn read(source: &IndexSource<'_>, size: u64) -> Result<Footer, String> {
        if size < MAGIC.len() as u64 + FOOTER_BYTES {
            return Err(format!("{size} bytes is too short for a phrase index"));
        }
        Footer::parse(&source.range(size - FOOTER_BYTES..size).await?, size)
    }

    fn parse(bytes: &[u8], size: u64) -> Result<Footer, String> {
        if bytes.len() as u64 != FOOTER_BYTES || &bytes[FOOTER_VALUES * 8..] != MAGIC {
            return Err("not a phrase index (no footer marker)".to_string());
        }
        let value = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        let values: [u64; FOOTER_VALUES] = std::array::from_fn(value);
        if footer_checksum(&values) != values[FOOTER_VALUES - 1] {
            return Err("the footer's checksum does not match: the file is damaged".to_string());
        }
        let words = value(0)..value(0).saturating_add(value(1));
        let rows_block = value(2)..value(2).saturating_add(value(3));
        if words.start < MAGIC.len() as u64 || words.end > rows_block.start || rows_block.end + FOOTER_BYTES != size {
            return Err(format!("footer sections do not fit a file of {size} bytes"));
        }
        Ok(Footer {
            words,
            rows_block,
            word_count: value(4),
            rows: value(5),
            words_checksum: value(7),
            rows_checksum: value(8),
        })
    }

    /// The word list, checked and decompressed.
    async fn word_list(&self, source: &IndexSource<'_>) -> Result<Vec<u8>, String> {
        let block = source.range(self.words.clone()).await?;
        if xxh3_64(&block) != self.words_checksum {
            return Err("the word list's checksum does not match: the file is damaged".to_string());
        }
        zstd::stream::decode_all(block.as_ref()).map_err(|e| format!("the word list does not decompress: {e}"))
    }

    /// The rows holding `positions` (ascending), once each: the row map is checked, then
    /// decompressed as a stream and read only as far as the last position. With no positions,
    /// the whole map is read.
    async fn rows_at(&self, source: &IndexSource<'_>, positions: &[u64]) -> Result<Vec<u64>, String> {
        let block = source.range(self.rows_block.clone()).await?;
        if xxh3_64(&block) != self.rows_checksum {
            return Err("the row map's checksum does not match: the file is damaged".to_string());
        }
        let decoder = zstd::stream::read::Decoder::with_buffer(block.as_ref())
            .map_err(|e| format!("the row map does not decompress: {e}"))?;
        rows_holding(std::io::BufReader::with_capacity(64 << 10, decoder), self.rows, positions)
    }
}

/// Where a word's postings are.
#[derive(Debug, Clone)]
struct WordEntry {
    range: Range<u64>,
    count: u64,
    checksum: u32,
}

impl WordEntry {
    /// The positions of the word, from its postings `bytes`.
    fn positions(&self, bytes: &[u8]) -> Result<Vec<u64>, String> {
        if postings_checksum(bytes) != self.checksum {
            return Err("a posting list's checksum does not match: the file is damaged".to_string());
        }
        elias_fano::decode(bytes, self.count)
    }
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
    let footer = Footer::read(source, size).await?;
    let directory = footer.word_list(source).await?;
    let wanted: HashSet<&str> = phrase.iter().map(String::as_str).collect();
    let mut found: HashMap<&str, WordEntry> = HashMap::new();
    for_each_word_entry(&directory, &footer, |word, entry| {
        if let Some(word) = wanted.get(word) {
            found.insert(*word, entry);
        }
    })?;
    if found.len() != wanted.len() {
        return Ok(Vec::new());
    }
    let ranges: Vec<Range<u64>> = wanted.iter().map(|w| found[*w].range.clone()).collect();
    let bytes = source.ranges(&ranges).await?;
    let mut lists: FastMap<&str, Vec<u64>> = FastMap::default();
    for (word, bytes) in wanted.iter().zip(bytes) {
        lists.insert(word, found[*word].positions(&bytes)?);
    }
    let ordered: Vec<&[u64]> = phrase.iter().map(|w| lists[w.as_str()].as_slice()).collect();
    let starts = phrase_starts(&ordered);
    if starts.is_empty() {
        return Ok(Vec::new());
    }
    footer.rows_at(source, &starts).await
}

/// Calls `on_word` with every word of an index's word list and where its postings are.
fn for_each_word_entry(
    directory: &[u8],
    footer: &Footer,
    mut on_word: impl FnMut(&str, WordEntry),
) -> Result<(), String> {
    let corrupt = || "the word list does not decode".to_string();
    let (mut rest, mut offset) = (directory, MAGIC.len() as u64);
    for _ in 0..footer.word_count {
        let length = read_varint(&mut rest).map_err(|_| corrupt())? as usize;
        let (word, after) = rest.split_at_checked(length).ok_or_else(corrupt)?;
        rest = after;
        let bytes = read_varint(&mut rest).map_err(|_| corrupt())?;
        let count = read_varint(&mut rest).map_err(|_| corrupt())?;
        let mut checksum = [0u8; 4];
        rest.read_exact(&mut checksum).map_err(|_| corrupt())?;
        let range = offset..offset + bytes;
        offset += bytes;
        let word = std::str::from_utf8(word).map_err(|_| corrupt())?;
        on_word(word, WordEntry { range, count, checksum: u32::from_le_bytes(checksum) });
    }
    if offset != footer.words.start {
        return Err(format!("postings end at {offset}, the word list starts at {}", footer.words.start));
    }
    Ok(())
}

/// Checks an index file of `size` bytes for `rows` rows: its footer, and (`deep`) its word list,
/// row map and every posting list.
pub(crate) async fn check_index(
    store: &Arc<dyn ObjectStore>,
    object: &Path,
    size: u64,
    rows: u64,
    deep: bool,
) -> Result<(), String> {
    let source = IndexSource::Store(store, object);
    let footer = Footer::read(&source, size).await?;
    if footer.rows != rows {
        return Err(format!("indexes {} rows, its chunk has {rows}", footer.rows));
    }
    if deep {
        let directory = footer.word_list(&source).await?;
        footer.rows_at(&source, &[]).await?;
        let postings = source.range(MAGIC.len() as u64..footer.words.start).await?;
        let mut damaged = Ok(());
        for_each_word_entry(&directory, &footer, |_, entry| {
            let range =
                (entry.range.start - MAGIC.len() as u64) as usize..(entry.range.end - MAGIC.len() as u64) as usize;
            if damaged.is_ok() {
                damaged = entry.positions(&postings[range]).map(drop);
            }
        })?;
        damaged?;
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
    /// fetched whole from `store` when it is not there yet; `None` when the file is larger than the
    /// whole cache (it is then read from the store).
    async fn local_copy(
        &self,
        store: &Arc<dyn ObjectStore>,
        object: &Path,
        archive_url: &str,
        relative: &str,
        size: u64,
    ) -> Result<Option<PathBuf>, String> {
        let key = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(archive_url.as_bytes()));
        let path = self.dir.join(key).join(relative.replace('/', "__"));
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
            // Mark it used: eviction removes the copies used longest ago.
            let _ = std::fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            return Ok(Some(path));
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
        let temporary = folder.join(format!(".{}.{}", std::process::id(), uuid::Uuid::now_v7()));
        std::fs::write(&temporary, &bytes).map_err(cache_error)?;
        std::fs::rename(&temporary, &path).map_err(cache_error)?;
        evict(&self.dir, self.limit_bytes);
        Ok(Some(path))
    }
}

/// Removes the least recently used files under `dir` until at most `limit` bytes remain.
fn evict(dir: &FsPath, limit: u64) {
    let mut files = Vec::new();
    for folder in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(folder.path()).into_iter().flatten().flatten() {
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
        Some(local) => {
            let file = std::fs::File::open(&local).map_err(|e| corrupt(format!("{}: {e}", local.display())))?;
            rows_from_index(&IndexSource::Local(file), index.bytes, phrase).await
        }
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
    fn damaged_footers_are_refused() {
        let (_, mut file) = build(ROWS);
        let size = file.len() as u64;
        assert!(Footer::parse(&file[file.len() - FOOTER_BYTES as usize..], size).is_ok());
        let at = file.len() - 80;
        file[at] ^= 0xff;
        assert!(Footer::parse(&file[file.len() - FOOTER_BYTES as usize..], size).is_err());
        assert!(Footer::parse(b"short", size).is_err());
    }

    #[test]
    fn elias_fano_codes_round_trip() {
        let mut state = 7u64;
        let mut next = |bound: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % bound
        };
        for _ in 0..200 {
            let (count, spread) = (next(300) as usize, 1 + next(100_000));
            let mut list: Vec<u32> = (0..count).map(|_| next(spread * count as u64 + 1) as u32).collect();
            list.sort_unstable();
            list.dedup();
            let mut bytes = Vec::new();
            elias_fano::encode(&list, &mut bytes);
            let decoded = elias_fano::decode(&bytes, list.len() as u64).expect("decodes");
            assert_eq!(decoded, list.iter().map(|&p| u64::from(p)).collect::<Vec<_>>());
        }
        let mut bytes = Vec::new();
        elias_fano::encode(&[0, 1, 2, u32::MAX - 1], &mut bytes);
        assert_eq!(elias_fano::decode(&bytes, 4).expect("decodes"), vec![0, 1, 2, u64::from(u32::MAX - 1)]);
        assert!(elias_fano::decode(&bytes, 5).is_err());
    }

    #[test]
    fn varints_round_trip() {
        let mut bytes = Vec::new();
        let values = [0u64, 1, 127, 128, 300, u64::from(u32::MAX) + 5];
        let mut last = 0;
        for v in values {
            push_varint(&mut bytes, v - last);
            last = v;
        }
        let mut input = bytes.as_slice();
        let decoded: Vec<u64> = values.iter().map(|_| read_varint(&mut input).expect("decodes")).collect();
        let sums: Vec<u64> = decoded.iter().scan(0, |sum, d| Some(*sum + d).inspect(|s| *sum = *s)).collect();
        assert_eq!(sums, values);
        assert!(read_varint(&mut input).is_err(), "nothing is left");
    }

    #[test]
    fn the_row_map_names_the_rows_holding_positions() {
        // Rows start at 0, 3, 3 (no words), 5 and 9.
        let mut map = Vec::new();
        for delta in [0, 3, 0, 2, 4] {
            push_varint(&mut map, delta);
        }
        assert_eq!(rows_holding(map.as_slice(), 5, &[0, 2, 3, 4, 8, 9, 20]).expect("decodes"), vec![0, 2, 3, 4]);
        assert!(rows_holding(map.as_slice(), 5, &[]).expect("the whole map reads").is_empty());
        assert!(rows_holding(map.as_slice(), 6, &[]).is_err(), "a map shorter than its rows is damaged");
        assert!(rows_holding(&map[1..], 5, &[0]).is_err());
    }
}
