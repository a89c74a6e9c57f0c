//! Recording where the words of a chunk's rows occur ([`PositionsBuilder`]): by bucket while a
//! chunk is written, by word while a chunk without an index is scanned.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use verbatim_model::words::{for_each_word, push_lowercase};
use xxhash_rust::xxh3::xxh3_64;

use super::{file, phrase_starts};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// Bits of a word's bucket: an index records the positions of 2^18 buckets of words.
pub(super) const BUCKET_BITS: u32 = 18;

/// Buckets of an index.
const BUCKETS: usize = 1 << BUCKET_BITS;

/// Positions per block of [`PositionsBuilder::tokens`] (4 MiB).
const TOKEN_BLOCK: usize = 1 << 20;

/// A position that holds no recorded word: the gap between documents, or (while scanning for a
/// phrase) a word the phrase does not have.
const NO_WORD: u32 = u32::MAX;

/// Records where the words of a chunk's rows occur, and every row's first position.
///
/// While a chunk is written ([`PositionsBuilder::new`]) it keeps the bucket of the word at each
/// position ([`bucket_of`]: a hash of the lowercased word, no lookup in a table of words, which
/// is what makes indexing cheap), sorted into one posting list per bucket when it finishes. A
/// phrase's buckets then give every place it may start: a superset, since words share buckets,
/// that [`super::phrase_at`] narrows to the exact answer. While a chunk without an index is
/// scanned ([`PositionsBuilder::only`]) it records the positions of the phrase's own words.
#[derive(Debug, Default)]
pub struct PositionsBuilder {
    only: Option<HashSet<String>>,
    /// Only-mode: ids of the words seen, packed as [`packed`] does or (longer and non-ASCII words)
    /// lowercased.
    packed_ids: FastMap<u128, u32>,
    long_ids: FastMap<Box<str>, u32>,
    /// Only-mode: the positions of each recorded word, by id.
    scanned: Vec<Vec<u64>>,
    /// Whole-index mode: the bucket at each position, in blocks of [`TOKEN_BLOCK`] (a growing
    /// chunk never copies what it holds).
    tokens: Vec<Vec<u32>>,
    /// The position the next word gets.
    next_position: u64,
    row_starts: Vec<u64>,
    /// Each document's id and number of words, in the order added.
    document_words: Vec<(Box<str>, u64)>,
    lowercased: String,
    /// Whole-index mode: the distinct words, packed as [`packed_ascii`] does or (longer and
    /// non-ASCII words) lowercased.
    vocabulary_packed: FastSet<u128>,
    vocabulary_long: FastSet<Box<str>>,
}

impl PositionsBuilder {
    /// A builder recording the bucket of every word.
    pub fn new() -> PositionsBuilder {
        PositionsBuilder::default()
    }

    /// A builder recording only `words` (lowercased), exactly, and every row's first position.
    pub fn only(words: impl IntoIterator<Item = String>) -> PositionsBuilder {
        PositionsBuilder { only: Some(words.into_iter().collect()), ..PositionsBuilder::default() }
    }

    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.row_starts.len() as u64
    }

    /// Bytes held, and (for the whole index) as many again to sort the positions when it finishes.
    pub fn memory(&self) -> usize {
        // Blocks are touched as they fill: what is resident is what was pushed.
        2 * self.tokens.iter().map(Vec::len).sum::<usize>() * 4
            + self.row_starts.capacity() * 8
            + self.document_words.len() * 64
            + if self.only.is_none() { BUCKETS * 4 } else { 0 }
            + self.vocabulary_packed.capacity() * 24
            + self.vocabulary_long.iter().map(|w| w.len() + 32).sum::<usize>()
    }

    /// Adds the rows of a `segments` batch (its `doc_id` and `text` columns).
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), arrow::error::ArrowError> {
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
        let last_doc = self.document_words.last().map(|(doc, _)| &**doc);
        if last_doc != Some(doc_id) {
            if last_doc.is_some() {
                self.record(NO_WORD);
            }
            self.document_words.push((doc_id.into(), 0));
        }
        let start = self.next_position;
        self.row_starts.push(start);
        if self.only.is_some() {
            self.add_recorded_words(text);
        } else {
            self.add_buckets(text);
        }
        let words = self.next_position - start;
        if let Some((_, count)) = self.document_words.last_mut() {
            *count += words;
        }
    }

    /// Whole-index mode: takes a position for each word of `text`, holding its bucket.
    fn add_buckets(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let ascii = text.is_ascii();
        let mut lowercased = std::mem::take(&mut self.lowercased);
        let (tokens, mut words) = (&mut self.tokens, 0);
        let (vocabulary_packed, vocabulary_long) = (&mut self.vocabulary_packed, &mut self.vocabulary_long);
        for_each_word(text, |word| {
            let start = word.as_ptr() as usize - bytes.as_ptr() as usize;
            let bucket = match ascii.then(|| packed_ascii(bytes, start, word.len())).flatten() {
                Some(key) => {
                    vocabulary_packed.insert(key);
                    bucket_of_key(key)
                }
                None => {
                    lowercased.clear();
                    push_lowercase(word, &mut lowercased);
                    let bucket = bucket_of(&lowercased);
                    match packed(&lowercased, false) {
                        Some(key) => {
                            vocabulary_packed.insert(key);
                        }
                        None if !vocabulary_long.contains(lowercased.as_str()) => {
                            vocabulary_long.insert(lowercased.as_str().into());
                        }
                        None => {}
                    }
                    bucket
                }
            };
            push_token(tokens, bucket);
            words += 1;
        });
        self.next_position += words;
        self.lowercased = lowercased;
    }

    /// Only-mode: takes a position for each word of `text`, recorded when it is one of the words.
    fn add_recorded_words(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let ascii = text.is_ascii();
        for_each_word(text, |word| {
            let start = word.as_ptr() as usize - bytes.as_ptr() as usize;
            let id = match ascii.then(|| packed_ascii(bytes, start, word.len())).flatten() {
                Some(key) => self.packed_id(key),
                None => self.word_id(word),
            };
            self.record(id);
        });
    }

    /// Each document's id and number of words (as `tokenize` counts them), in the order added.
    pub fn document_words(&self) -> &[(Box<str>, u64)] {
        &self.document_words
    }

    /// Takes the next position for `id`, a bucket or (only-mode) a word id, or leaves it empty
    /// ([`NO_WORD`]).
    fn record(&mut self, id: u32) {
        self.next_position += 1;
        if self.only.is_some() {
            if id != NO_WORD {
                self.scanned[id as usize].push(self.next_position - 1);
            }
            return;
        }
        push_token(&mut self.tokens, id);
    }

    /// Only-mode: the id of `word` (as written), numbered on first sight; [`NO_WORD`] for a word
    /// that is not recorded.
    fn word_id(&mut self, word: &str) -> u32 {
        let mut lowercased = std::mem::take(&mut self.lowercased);
        lowercased.clear();
        push_lowercase(word, &mut lowercased);
        let id = match packed(&lowercased, false) {
            Some(key) => self.packed_id(key),
            None => match self.long_ids.get(lowercased.as_str()) {
                Some(&id) => id,
                None => {
                    let id = self.new_id(&lowercased);
                    self.long_ids.insert(lowercased.as_str().into(), id);
                    id
                }
            },
        };
        self.lowercased = lowercased;
        id
    }

    /// Only-mode: the id of the packed word `key`.
    fn packed_id(&mut self, key: u128) -> u32 {
        if let Some(&id) = self.packed_ids.get(&key) {
            return id;
        }
        let bytes = key.to_le_bytes();
        let length = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        let word = std::str::from_utf8(&bytes[..length]).expect("packed words are ASCII");
        let id = self.new_id(word);
        self.packed_ids.insert(key, id);
        id
    }

    /// Only-mode: numbers a word seen for the first time ([`NO_WORD`] when it is not recorded).
    fn new_id(&mut self, lowercased: &str) -> u32 {
        if self.only.as_ref().is_some_and(|only| !only.contains(lowercased)) {
            return NO_WORD;
        }
        self.scanned.push(Vec::new());
        (self.scanned.len() - 1) as u32
    }

    /// Only-mode: the id of a recorded word (lowercased), if it occurred.
    fn id_of(&self, lowercased: &str) -> Option<u32> {
        let id = match packed(lowercased, false) {
            Some(key) => self.packed_ids.get(&key),
            None => self.long_ids.get(lowercased),
        };
        id.copied().filter(|&id| id != NO_WORD)
    }

    /// The positions of every bucket that has any, in bucket order: (labels, offsets into the
    /// positions, positions).
    fn posting_lists(&self) -> (Vec<Box<str>>, Vec<usize>, Vec<u32>) {
        let mut counts = vec![0u32; BUCKETS];
        for &bucket in self.tokens.iter().flatten() {
            if bucket != NO_WORD {
                counts[bucket as usize] += 1;
            }
        }
        let (mut labels, mut offsets) = (Vec::new(), vec![0usize]);
        // Each bucket's next free slot, then (after the scatter) its end.
        let mut next = counts;
        for (bucket, count) in next.iter_mut().enumerate() {
            let start = offsets[offsets.len() - 1];
            if *count > 0 {
                labels.push(bucket_label(bucket as u32).into_boxed_str());
                offsets.push(start + *count as usize);
            }
            *count = start as u32;
        }
        let mut positions = vec![0u32; offsets[offsets.len() - 1]];
        for (position, &bucket) in self.tokens.iter().flatten().enumerate() {
            if bucket != NO_WORD {
                let slot = &mut next[bucket as usize];
                positions[*slot as usize] = position as u32;
                *slot += 1;
            }
        }
        (labels, offsets, positions)
    }

    /// Writes the index file of the rows added to `out`; returns its size in bytes.
    pub fn write_to(self, out: &mut impl Write) -> std::io::Result<u64> {
        let (labels, offsets, positions) = self.posting_lists();
        let vocabulary = self.vocabulary();
        let PositionsBuilder { row_starts, tokens, next_position, .. } = self;
        drop(tokens);
        let lists =
            file::PostingLists { words: &labels, offsets: &offsets, positions: &positions, vocabulary: &vocabulary };
        file::write(out, &lists, &row_starts, next_position)
    }

    /// The distinct words seen, in byte order.
    fn vocabulary(&self) -> Vec<Box<str>> {
        let mut words: Vec<Box<str>> = self
            .vocabulary_packed
            .iter()
            .map(|key| {
                let bytes = key.to_le_bytes();
                let length = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                String::from_utf8_lossy(&bytes[..length]).into()
            })
            .chain(self.vocabulary_long.iter().cloned())
            .collect();
        words.sort_unstable();
        words
    }

    /// Only-mode: the positions where `phrase` (the words recorded, lowercased) starts.
    pub(super) fn starts_of(&self, phrase: &[String]) -> Vec<u64> {
        debug_assert!(self.only.is_some(), "a whole index is read from its file");
        let Some(lists) = phrase
            .iter()
            .map(|word| self.id_of(word).map(|id| self.scanned[id as usize].as_slice()))
            .collect::<Option<Vec<&[u64]>>>()
        else {
            return Vec::new();
        };
        phrase_starts(&lists)
    }

    /// Each row's first position.
    pub(super) fn row_starts(&self) -> &[u64] {
        &self.row_starts
    }
}

/// Appends `id` to the last block of `tokens`, or to a new block when that one is full.
#[inline]
fn push_token(tokens: &mut Vec<Vec<u32>>, id: u32) {
    match tokens.last_mut() {
        Some(block) if block.len() < TOKEN_BLOCK => block.push(id),
        _ => {
            let mut block = Vec::with_capacity(TOKEN_BLOCK);
            block.push(id);
            tokens.push(block);
        }
    }
}

/// The bucket of a word (lowercased, as `tokenize` gives it). The hash is fixed by the index
/// format: indexes written by any version read the same.
pub(super) fn bucket_of(lowercased: &str) -> u32 {
    match packed(lowercased, false) {
        Some(key) => bucket_of_key(key),
        None => (xxh3_64(lowercased.as_bytes()) >> (64 - BUCKET_BITS)) as u32,
    }
}

/// The bucket of a word packed by [`packed`]: a folded multiply of its two halves.
fn bucket_of_key(key: u128) -> u32 {
    const SEED_LOW: u64 = 0x243f_6a88_85a3_08d3;
    const SEED_HIGH: u64 = 0x1319_8a2e_0370_7344;
    let product = u128::from(key as u64 ^ SEED_LOW) * u128::from((key >> 64) as u64 ^ SEED_HIGH);
    ((product as u64 ^ (product >> 64) as u64) >> (64 - BUCKET_BITS)) as u32
}

/// The name of a bucket in the index file: hexadecimal digits, so that names sort as numbers.
pub(super) fn bucket_label(bucket: u32) -> String {
    format!("{bucket:05x}")
}

/// The ASCII word `bytes[start..start + length]` lowercased and packed as [`packed`] does, without
/// copying it byte by byte (one 16-byte load and a mask, unless the text ends first) and
/// lowercasing all 16 bytes at once.
fn packed_ascii(bytes: &[u8], start: usize, length: usize) -> Option<u128> {
    if length > 16 {
        return None;
    }
    let key = match bytes.get(start..start + 16) {
        Some(window) => {
            let mask = u128::MAX.checked_shr(128 - 8 * length as u32).unwrap_or(0);
            u128::from_le_bytes(window.try_into().expect("16 bytes")) & mask
        }
        // Near the end of the text: the text's last 16 bytes, shifted down to the word.
        None if bytes.len() >= 16 => {
            let window = &bytes[bytes.len() - 16..];
            let key = u128::from_le_bytes(window.try_into().expect("16 bytes"));
            key >> (8 * (start + 16 - bytes.len())) & u128::MAX.checked_shr(128 - 8 * length as u32).unwrap_or(0)
        }
        None => bytes[start..start + length].iter().rev().fold(0u128, |key, &b| (key << 8) | u128::from(b)),
    };
    // Per byte (all below 0x80, so no carries between bytes): the high bit of `at_least_a` is set
    // from 'A' up, that of `above_z` above 'Z'; uppercase letters get 0x20 added.
    const ONES: u128 = u128::MAX / 0xff;
    let at_least_a = key + ONES * u128::from(0x80 - b'A');
    let above_z = key + ONES * u128::from(0x7f - b'Z');
    let upper = at_least_a & !above_z & (ONES * 0x80);
    Some(key | (upper >> 2))
}

/// `word` packed into a `u128` key when it is at most 16 ASCII bytes (lowercased first when
/// `lowercase`); words hold no zero bytes, so keys of different words differ.
fn packed(word: &str, lowercase: bool) -> Option<u128> {
    let bytes = word.as_bytes();
    if bytes.len() > 16 || !word.is_ascii() {
        return None;
    }
    let mut key = [0u8; 16];
    key[..bytes.len()].copy_from_slice(bytes);
    if lowercase {
        key.make_ascii_lowercase();
    }
    Some(u128::from_le_bytes(key))
}

fn string_column(batch: &RecordBatch, name: &str) -> Result<Arc<dyn Array>, arrow::error::ArrowError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| arrow::error::ArrowError::SchemaError(format!("no column {name} in a segments batch")))?;
    match column.data_type() {
        DataType::Utf8 => Ok(column.clone()),
        _ => arrow::compute::cast(column, &DataType::Utf8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_in_place_equals_packing_a_copy() {
        let text = "Hello WORLD, it's a Mixed-Case Caption with AVeryLongWordIndeed and Zz@[`{ 0123456789ABCDEF";
        let mut packs = 0;
        for_each_word(text, |word| {
            let start = word.as_ptr() as usize - text.as_ptr() as usize;
            assert_eq!(packed_ascii(text.as_bytes(), start, word.len()), packed(word, true), "{word}");
            packs += 1;
        });
        assert!(packs > 10);
        for (start, length) in [(0, 0), (0, 1), (0, 16), (text.len() - 5, 5)] {
            let word = &text[start..start + length];
            assert_eq!(packed_ascii(text.as_bytes(), start, length), packed(word, true), "{word:?}");
        }
    }
}
