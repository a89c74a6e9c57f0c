//! Numbering the words of a chunk's rows and recording where each occurs ([`PositionsBuilder`]).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use verbatim_model::words::{for_each_word, push_lowercase};

use super::{file, holding_row, phrase_starts};
use crate::ArchiveError;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Positions per block of [`PositionsBuilder::tokens`] (4 MiB).
const TOKEN_BLOCK: usize = 1 << 20;

/// A position that holds no recorded word: the gap between documents, or (while scanning for a
/// phrase) a word the phrase does not have.
const NO_WORD: u32 = u32::MAX;

/// Numbers the words of a chunk's rows and records where each occurs: the whole index while a
/// chunk is written (one word id per position, sorted into posting lists when it finishes), or
/// only a phrase's words while a chunk without an index is scanned.
///
/// Words of at most 16 ASCII bytes, nearly all of them, are keyed by their bytes packed into a
/// `u128`, so that numbering them neither allocates nor compares strings.
#[derive(Debug, Default)]
pub struct PositionsBuilder {
    only: Option<HashSet<String>>,
    packed_ids: FastMap<u128, u32>,
    long_ids: FastMap<Box<str>, u32>,
    words: Vec<Box<str>>,
    /// Whole-index mode: the word id at each position, in blocks of [`TOKEN_BLOCK`] (a growing
    /// chunk never copies what it holds).
    tokens: Vec<Vec<u32>>,
    /// Only-mode: the positions of each recorded word.
    scanned: Vec<Vec<u64>>,
    /// The position the next word gets.
    next_position: u64,
    row_starts: Vec<u64>,
    /// Each document's id and number of words, in the order added.
    document_words: Vec<(Box<str>, u64)>,
    word_bytes: usize,
    lowercased: String,
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
        self.row_starts.len() as u64
    }

    /// Bytes held, and (for the whole index) as many again to sort the positions when it finishes.
    pub fn memory(&self) -> usize {
        // Blocks are touched as they fill: what is resident is what was pushed.
        2 * self.tokens.iter().map(Vec::len).sum::<usize>() * 4
            + self.word_bytes
            + self.words.len() * 64
            + self.row_starts.capacity() * 8
            + self.document_words.len() * 64
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
        let last_doc = self.document_words.last().map(|(doc, _)| &**doc);
        if last_doc != Some(doc_id) {
            if last_doc.is_some() {
                self.record(NO_WORD);
            }
            self.document_words.push((doc_id.into(), 0));
        }
        let start = self.next_position;
        self.row_starts.push(start);
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
        let words = self.next_position - start;
        if let Some((_, count)) = self.document_words.last_mut() {
            *count += words;
        }
    }

    /// Each document's id and number of words (as `tokenize` counts them), in the order added.
    pub fn document_words(&self) -> &[(Box<str>, u64)] {
        &self.document_words
    }

    /// Takes the next position for word `id` (or leaves it empty: [`NO_WORD`]).
    fn record(&mut self, id: u32) {
        self.next_position += 1;
        if self.only.is_some() {
            if id != NO_WORD {
                self.scanned[id as usize].push(self.next_position - 1);
            }
            return;
        }
        match self.tokens.last_mut() {
            Some(block) if block.len() < TOKEN_BLOCK => block.push(id),
            _ => {
                let mut block = Vec::with_capacity(TOKEN_BLOCK);
                block.push(id);
                self.tokens.push(block);
            }
        }
    }

    /// The id of `word` (as written), numbered on first sight; [`NO_WORD`] for a word that is
    /// not recorded.
    fn word_id(&mut self, word: &str) -> u32 {
        if let Some(key) = packed(word, true) {
            return self.packed_id(key);
        }
        let mut lowercased = std::mem::take(&mut self.lowercased);
        lowercased.clear();
        push_lowercase(word, &mut lowercased);
        let id = match packed(&lowercased, false) {
            Some(key) => self.packed_id(key),
            None => self.long_id(&lowercased),
        };
        self.lowercased = lowercased;
        id
    }

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

    fn long_id(&mut self, lowercased: &str) -> u32 {
        if let Some(&id) = self.long_ids.get(lowercased) {
            return id;
        }
        let id = self.new_id(lowercased);
        self.long_ids.insert(lowercased.into(), id);
        id
    }

    /// Numbers a word seen for the first time ([`NO_WORD`] when it is not recorded).
    fn new_id(&mut self, lowercased: &str) -> u32 {
        if self.only.as_ref().is_some_and(|only| !only.contains(lowercased)) {
            return NO_WORD;
        }
        let id = self.words.len() as u32;
        self.word_bytes += lowercased.len();
        self.words.push(lowercased.into());
        if self.only.is_some() {
            self.scanned.push(Vec::new());
        }
        id
    }

    /// The id of a recorded word (lowercased), if it occurred.
    fn id_of(&self, lowercased: &str) -> Option<u32> {
        let id = match packed(lowercased, false) {
            Some(key) => self.packed_ids.get(&key),
            None => self.long_ids.get(lowercased),
        };
        id.copied().filter(|&id| id != NO_WORD)
    }

    /// The positions of every word id, in id order: (offsets into the positions, positions).
    fn posting_lists(&self) -> (Vec<usize>, Vec<u32>) {
        let mut offsets = vec![0usize; self.words.len() + 1];
        for &id in self.tokens.iter().flatten() {
            if id != NO_WORD {
                offsets[id as usize + 1] += 1;
            }
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut next = offsets.clone();
        let mut positions = vec![0u32; offsets[offsets.len() - 1]];
        for (position, &id) in self.tokens.iter().flatten().enumerate() {
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
        let PositionsBuilder { words, row_starts, tokens, next_position, .. } = self;
        drop(tokens);
        let lists = file::PostingLists { words: &words, offsets: &offsets, positions: &positions };
        file::write(out, &lists, &row_starts, next_position)
    }

    /// The rows where `phrase` (its words, lowercased) starts, from what was recorded.
    pub(super) fn rows_of(&self, phrase: &[String]) -> Result<Vec<u64>, String> {
        let Some(ids) = phrase.iter().map(|word| self.id_of(word)).collect::<Option<Vec<u32>>>() else {
            return Ok(Vec::new());
        };
        let lists: Vec<Vec<u64>> = if self.only.is_some() {
            ids.iter().map(|&id| self.scanned[id as usize].clone()).collect()
        } else {
            let (offsets, positions) = self.posting_lists();
            let list =
                |&id: &u32| positions[offsets[id as usize]..offsets[id as usize + 1]].iter().map(|&p| u64::from(p));
            ids.iter().map(|id| list(id).collect()).collect()
        };
        let ordered: Vec<&[u64]> = lists.iter().map(Vec::as_slice).collect();
        let mut rows: Vec<u64> = Vec::new();
        for start in phrase_starts(&ordered) {
            let row = holding_row(&self.row_starts, start).ok_or("a position lies before the first row")? as u64;
            if rows.last() != Some(&row) {
                rows.push(row);
            }
        }
        Ok(rows)
    }
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
        // Near the end of the text: byte by byte.
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
