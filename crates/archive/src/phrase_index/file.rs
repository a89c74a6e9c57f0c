//! The index file: writing it, and reading the parts a search needs.
//!
//! ```text
//! "VBPHRS05"
//! word groups  up to 512 words each, in byte order, until their postings reach 256 KiB (the
//!              words are the names of word buckets, `builder::bucket_label`):
//!              the postings of its words (binary interpolative code), then zstd of, per word: varint bytes
//!              shared with the previous word, varint length and bytes of the rest, varint
//!              count, then the positions as varint deltas (at most 4) or varint postings bytes;
//!              a count of 0 marks a word whose positions are not recorded (see below)
//! row groups   8,192 rows each: zstd of each row's first position, as varint deltas from the
//!              group's first
//! vocabulary   the chunk's distinct words (lowercased, as tokenize gives them), in byte order,
//!              4,096 per block: zstd of, per word, varint bytes shared with the previous word,
//!              varint length and bytes of the rest (prefix and pattern words expand against it)
//! directory    zstd: per word group, its first word (varint length, bytes), varint postings
//!              bytes, varint word-list bytes, varint words, xxh3 of its bytes (u64); per row
//!              group, varint first position (delta from the previous group's), varint bytes,
//!              xxh3 of its bytes (u64); varint vocabulary blocks, and per block its first word
//!              (varint length, bytes), varint bytes, varint words, xxh3 of its bytes (u64)
//! footer       9 little-endian u64: directory offset, directory bytes, word groups, row groups,
//!              words, rows, positions, the directory's xxh3, the xxh3 of these 8; "VBPHRS05"
//! ```
//!
//! The commonest words of a chunk (each more than 1 in [`UNRECORDED_SHARE`] of its positions,
//! in English speech the dozen or so of "the", "and", "you", "know") are listed without their
//! positions: they are most of a chunk's words and their lists a fifth of the index, but a phrase
//! is found as well, and faster, from its rarer words, its common ones confirmed on the text. A
//! phrase of common words only scans the chunk.
//!
//! Files of the versions before are read as well: "VBPHRS04" (every word's positions recorded)
//! and "VBPHRS03" (that, without the vocabulary).
//!
//! A search reads the footer and directory (one read of the file's tail, usually), one word group
//! per word of the phrase and the row groups holding its hits, and checks each against its
//! checksum: a damaged byte fails the search naming the file, never gives a wrong answer.

use std::io::Write;
use std::ops::Range;

use bytes::Bytes;
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::{IndexError, IndexSource, holding_row, interpolative};

pub(super) const MAGIC: &[u8; 8] = b"VBPHRS05";
/// The marker of the version before, which recorded the positions of every word: read as this
/// version (its files have no unrecorded words).
const ALL_RECORDED_MAGIC: &[u8; 8] = b"VBPHRS04";
/// The marker of the version before, without the vocabulary: read, but prefix and pattern words
/// are not expanded from it (their chunks are scanned).
const WITHOUT_VOCABULARY_MAGIC: &[u8; 8] = b"VBPHRS03";
/// The marker of the format before, which recorded words instead of buckets: not read (its
/// chunks are scanned instead).
const OLDER_MAGIC: &[u8; 8] = b"VBPHRS02";
const FOOTER_VALUES: usize = 9;
pub(super) const FOOTER_BYTES: u64 = FOOTER_VALUES as u64 * 8 + 8;
const ZSTD_LEVEL: i32 = 3;
const GROUP_WORDS: u64 = 512;
const GROUP_POSTINGS_BYTES: usize = 256 << 10;
const ROWS_PER_GROUP: usize = 8192;
/// Words per vocabulary block.
const VOCABULARY_BLOCK_WORDS: usize = 4096;
/// Lists of at most this many positions are kept in the word list instead of as postings.
const INLINE_POSITIONS: usize = 4;
/// A word holding more than 1 in this many of a chunk's positions (and more than
/// [`UNRECORDED_MIN`]) is listed without its positions.
const UNRECORDED_SHARE: u64 = 100;
/// Lists of at most this many positions are always recorded: they cost less than a scan.
const UNRECORDED_MIN: usize = 1024;
/// The first read of an index: its footer and, usually, its directory.
const TAIL_BYTES: u64 = 64 << 10;

/// Every word of a chunk and its positions: word `i`'s are `positions[offsets[i]..offsets[i + 1]]`.
pub(super) struct PostingLists<'a> {
    pub words: &'a [Box<str>],
    pub offsets: &'a [usize],
    pub positions: &'a [u32],
    /// The chunk's distinct words, in byte order.
    pub vocabulary: &'a [Box<str>],
}

/// Writes the index of `lists` and rows starting at `row_starts` (of `positions` positions in
/// all) to `out`; returns its size in bytes.
pub(super) fn write(
    out: &mut impl Write,
    lists: &PostingLists<'_>,
    row_starts: &[u64],
    positions: u64,
) -> std::io::Result<u64> {
    out.write_all(MAGIC)?;
    let mut size = MAGIC.len() as u64;
    let (mut word_directory, mut row_directory) = (Vec::new(), Vec::new());
    let mut order: Vec<usize> = (0..lists.words.len()).collect();
    order.sort_unstable_by(|&a, &b| lists.words[a].cmp(&lists.words[b]));
    let mut group = WordGroupWriter { universe: positions, ..WordGroupWriter::default() };
    let mut word_groups = 0u64;
    for id in order {
        let list = &lists.positions[lists.offsets[id]..lists.offsets[id + 1]];
        let recorded = list.len() <= UNRECORDED_MIN || list.len() as u64 * UNRECORDED_SHARE <= positions;
        group.add(&lists.words[id], recorded.then_some(list));
        if group.words == GROUP_WORDS || group.postings.len() >= GROUP_POSTINGS_BYTES {
            size += group.finish(out, &mut word_directory)?;
            word_groups += 1;
        }
    }
    if group.words > 0 {
        size += group.finish(out, &mut word_directory)?;
        word_groups += 1;
    }
    let mut previous_first = 0;
    for starts in row_starts.chunks(ROWS_PER_GROUP) {
        let mut raw = Vec::with_capacity(starts.len() * 2);
        let mut previous = starts[0];
        for &start in starts {
            push_varint(&mut raw, start - previous);
            previous = start;
        }
        let block = zstd::bulk::compress(&raw, ZSTD_LEVEL)?;
        out.write_all(&block)?;
        size += block.len() as u64;
        push_varint(&mut row_directory, starts[0] - previous_first);
        push_varint(&mut row_directory, block.len() as u64);
        row_directory.extend_from_slice(&xxh3_64(&block).to_le_bytes());
        previous_first = starts[0];
    }
    word_directory.extend_from_slice(&row_directory);
    let blocks = lists.vocabulary.chunks(VOCABULARY_BLOCK_WORDS);
    push_varint(&mut word_directory, blocks.len() as u64);
    for block in blocks {
        let mut raw = Vec::new();
        let mut previous: &str = "";
        for word in block {
            let shared = previous.bytes().zip(word.bytes()).take_while(|(a, b)| a == b).count();
            push_varint(&mut raw, shared as u64);
            push_varint(&mut raw, (word.len() - shared) as u64);
            raw.extend_from_slice(&word.as_bytes()[shared..]);
            previous = word;
        }
        let compressed = zstd::bulk::compress(&raw, ZSTD_LEVEL)?;
        out.write_all(&compressed)?;
        size += compressed.len() as u64;
        push_varint(&mut word_directory, block[0].len() as u64);
        word_directory.extend_from_slice(block[0].as_bytes());
        push_varint(&mut word_directory, compressed.len() as u64);
        push_varint(&mut word_directory, block.len() as u64);
        word_directory.extend_from_slice(&xxh3_64(&compressed).to_le_bytes());
    }
    let directory = zstd::bulk::compress(&word_directory, ZSTD_LEVEL)?;
    out.write_all(&directory)?;
    let mut footer = [
        size,
        directory.len() as u64,
        word_groups,
        row_starts.len().div_ceil(ROWS_PER_GROUP) as u64,
        lists.words.len() as u64,
        row_starts.len() as u64,
        positions,
        xxh3_64(&directory),
        0,
    ];
    footer[FOOTER_VALUES - 1] = footer_checksum(&footer);
    for value in footer {
        out.write_all(&value.to_le_bytes())?;
    }
    out.write_all(MAGIC)?;
    Ok(size + directory.len() as u64 + FOOTER_BYTES)
}

/// The word group being written.
#[derive(Default)]
struct WordGroupWriter {
    /// Every position lies below this.
    universe: u64,
    postings: Vec<u8>,
    word_list: Vec<u8>,
    first: String,
    previous: String,
    words: u64,
}

impl WordGroupWriter {
    /// Adds `word` and its positions (`None`: not recorded).
    fn add(&mut self, word: &str, list: Option<&[u32]>) {
        let shared = if self.words == 0 {
            self.first.clear();
            self.first.push_str(word);
            0
        } else {
            self.previous.bytes().zip(word.bytes()).take_while(|(a, b)| a == b).count()
        };
        push_varint(&mut self.word_list, shared as u64);
        push_varint(&mut self.word_list, (word.len() - shared) as u64);
        self.word_list.extend_from_slice(&word.as_bytes()[shared..]);
        let list = list.unwrap_or_default();
        push_varint(&mut self.word_list, list.len() as u64);
        if list.len() <= INLINE_POSITIONS {
            let mut previous = 0;
            for &position in list {
                push_varint(&mut self.word_list, u64::from(position - previous));
                previous = position;
            }
        } else {
            let before = self.postings.len();
            interpolative::encode(list, self.universe, &mut self.postings);
            push_varint(&mut self.word_list, (self.postings.len() - before) as u64);
        }
        self.previous.clear();
        self.previous.push_str(word);
        self.words += 1;
    }

    /// Writes the group to `out` and its entry to `directory`; returns the bytes written.
    fn finish(&mut self, out: &mut impl Write, directory: &mut Vec<u8>) -> std::io::Result<u64> {
        let word_list = zstd::bulk::compress(&self.word_list, ZSTD_LEVEL)?;
        out.write_all(&self.postings)?;
        out.write_all(&word_list)?;
        let mut checksum = Xxh3::new();
        checksum.update(&self.postings);
        checksum.update(&word_list);
        push_varint(directory, self.first.len() as u64);
        directory.extend_from_slice(self.first.as_bytes());
        push_varint(directory, self.postings.len() as u64);
        push_varint(directory, word_list.len() as u64);
        push_varint(directory, self.words);
        directory.extend_from_slice(&checksum.digest().to_le_bytes());
        let written = (self.postings.len() + word_list.len()) as u64;
        self.postings.clear();
        self.word_list.clear();
        self.words = 0;
        Ok(written)
    }
}

/// What an index file's footer and directory say.
#[derive(Debug)]
pub(super) struct Directory {
    word_groups: Vec<WordGroup>,
    row_groups: Vec<RowGroup>,
    /// Words in the index.
    pub words: u64,
    /// Rows of the chunk.
    pub rows: u64,
    /// Positions of the chunk (every position lies below this).
    positions: u64,
    /// The vocabulary's blocks; `None` in a file of the version without one.
    vocabulary: Option<Vec<VocabularyBlock>>,
}

/// Where a block of the vocabulary is, its first word and how many words it holds.
#[derive(Debug)]
struct VocabularyBlock {
    first_word: Box<[u8]>,
    range: Range<u64>,
    words: u64,
    checksum: u64,
}

/// Where a word group is, its first word and what it holds.
#[derive(Debug)]
struct WordGroup {
    first_word: Box<[u8]>,
    range: Range<u64>,
    postings_bytes: u64,
    words: u64,
    checksum: u64,
}

/// Where a row group is and where its first row starts.
#[derive(Debug)]
struct RowGroup {
    first_position: u64,
    range: Range<u64>,
    checksum: u64,
}

impl Directory {
    /// Reads and checks the footer and directory of the index file of `size` bytes at `source`;
    /// `None` when the file is of the older format.
    pub(super) async fn read(source: &IndexSource, size: u64) -> Result<Option<Directory>, IndexError> {
        if size < MAGIC.len() as u64 + FOOTER_BYTES {
            return Err(IndexError::malformed(format!("{size} bytes is too short for a phrase index")));
        }
        let tail_start = size - size.min(TAIL_BYTES);
        let tail = source.range(tail_start..size).await?;
        let footer_bytes = &tail[tail.len() - FOOTER_BYTES as usize..];
        if footer_bytes.ends_with(OLDER_MAGIC) {
            return Ok(None);
        }
        let footer = Footer::parse(footer_bytes, size)?;
        let directory = if footer.directory.start >= tail_start {
            let start = (footer.directory.start - tail_start) as usize;
            tail.slice(start..start + (footer.directory.end - footer.directory.start) as usize)
        } else {
            source.range(footer.directory.clone()).await?
        };
        if xxh3_64(&directory) != footer.directory_checksum {
            return Err("the directory's checksum does not match: the file is damaged".into());
        }
        let directory = zstd::stream::decode_all(directory.as_ref())
            .map_err(|source| IndexError::Decompress { part: "the directory", source })?;
        Directory::parse(&directory, &footer).map(Some)
    }

    fn parse(mut bytes: &[u8], footer: &Footer) -> Result<Directory, IndexError> {
        let corrupt = |_| IndexError::from("the directory does not decode");
        let mut offset = MAGIC.len() as u64;
        let mut word_groups = Vec::with_capacity(footer.word_groups.min(1 << 20) as usize);
        for _ in 0..footer.word_groups {
            let length = read_varint(&mut bytes).map_err(corrupt)? as usize;
            let (first_word, rest) = bytes.split_at_checked(length).ok_or("the directory does not decode")?;
            bytes = rest;
            let postings_bytes = read_varint(&mut bytes).map_err(corrupt)?;
            let list_bytes = read_varint(&mut bytes).map_err(corrupt)?;
            let words = read_varint(&mut bytes).map_err(corrupt)?;
            let checksum = read_u64(&mut bytes).map_err(corrupt)?;
            let end = offset.saturating_add(postings_bytes).saturating_add(list_bytes);
            word_groups.push(WordGroup {
                first_word: first_word.into(),
                range: offset..end,
                postings_bytes,
                words,
                checksum,
            });
            offset = end;
        }
        let mut row_groups = Vec::with_capacity(footer.row_groups.min(1 << 20) as usize);
        let mut first_position = 0u64;
        for _ in 0..footer.row_groups {
            first_position = first_position.saturating_add(read_varint(&mut bytes).map_err(corrupt)?);
            let end = offset.saturating_add(read_varint(&mut bytes).map_err(corrupt)?);
            let checksum = read_u64(&mut bytes).map_err(corrupt)?;
            row_groups.push(RowGroup { first_position, range: offset..end, checksum });
            offset = end;
        }
        let vocabulary = if footer.has_vocabulary {
            let blocks = read_varint(&mut bytes).map_err(corrupt)?;
            let mut vocabulary = Vec::with_capacity(blocks.min(1 << 20) as usize);
            for _ in 0..blocks {
                let length = read_varint(&mut bytes).map_err(corrupt)? as usize;
                let (first_word, rest) = bytes.split_at_checked(length).ok_or("the directory does not decode")?;
                bytes = rest;
                let end = offset.saturating_add(read_varint(&mut bytes).map_err(corrupt)?);
                let words = read_varint(&mut bytes).map_err(corrupt)?;
                let checksum = read_u64(&mut bytes).map_err(corrupt)?;
                vocabulary.push(VocabularyBlock { first_word: first_word.into(), range: offset..end, words, checksum });
                offset = end;
            }
            Some(vocabulary)
        } else {
            None
        };
        if offset != footer.directory.start || !bytes.is_empty() {
            return Err(IndexError::malformed(format!(
                "groups end at {offset}, the directory starts at {}",
                footer.directory.start
            )));
        }
        if footer.row_groups != footer.rows.div_ceil(ROWS_PER_GROUP as u64) {
            return Err(IndexError::malformed(format!("{} row groups for {} rows", footer.row_groups, footer.rows)));
        }
        Ok(Directory {
            word_groups,
            row_groups,
            words: footer.words,
            rows: footer.rows,
            positions: footer.positions,
            vocabulary,
        })
    }

    /// Positions in the chunk (every position lies below this).
    pub(super) fn positions(&self) -> u64 {
        self.positions
    }

    /// The positions of each of `words` (lowercased), in order (`None` for a word whose
    /// positions are not recorded); `None` when one does not occur.
    pub(super) async fn positions_of(
        &self,
        source: &IndexSource,
        words: &[String],
    ) -> Result<Option<Vec<Option<Vec<u64>>>>, IndexError> {
        let lists = self.each_positions(source, words).await?;
        Ok(if lists.iter().any(|list| list.as_ref().is_some_and(Vec::is_empty)) { None } else { Some(lists) })
    }

    /// The positions of each of `words` (lowercased), in order: empty for a word that does not
    /// occur, `None` for one whose positions are not recorded (it may be anywhere).
    pub(super) async fn each_positions(
        &self,
        source: &IndexSource,
        words: &[String],
    ) -> Result<Vec<Option<Vec<u64>>>, IndexError> {
        let mut groups: Vec<Option<usize>> = Vec::new();
        for word in words {
            groups.push(self.word_groups.partition_point(|g| *g.first_word <= *word.as_bytes()).checked_sub(1));
        }
        let mut distinct: Vec<usize> = groups.iter().flatten().copied().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let ranges: Vec<Range<u64>> = distinct.iter().map(|&g| self.word_groups[g].range.clone()).collect();
        let read = source.ranges(&ranges).await?;
        // Each group is checked and decompressed once, however many of the words it holds.
        let loaded: Vec<LoadedWordGroup<'_>> = distinct
            .iter()
            .zip(read)
            .map(|(&group, bytes)| self.word_groups[group].load(bytes, self.positions))
            .collect::<Result<_, _>>()?;
        let mut lists = Vec::with_capacity(words.len());
        for (word, group) in words.iter().zip(&groups) {
            let Some(group) = group else {
                lists.push(Some(Vec::new()));
                continue;
            };
            let at = distinct.binary_search(group).expect("every group was read");
            let mut found = None;
            loaded[at].for_each_word(|entry_word, postings| {
                if entry_word == word.as_bytes() {
                    found = Some(postings.positions());
                }
                entry_word <= word.as_bytes()
            })?;
            match found {
                Some(positions) => lists.push(positions?),
                None => lists.push(Some(Vec::new())),
            }
        }
        Ok(lists)
    }

    /// The row holding each of `positions` (ascending) and that row's first position; reads the
    /// row groups they fall in.
    pub(super) async fn locate(&self, source: &IndexSource, positions: &[u64]) -> Result<Vec<(u64, u64)>, IndexError> {
        let group_of = |position: u64| {
            self.row_groups
                .partition_point(|g| g.first_position <= position)
                .checked_sub(1)
                .ok_or("a position lies before the first row")
        };
        let position_groups: Vec<usize> = positions.iter().map(|&p| group_of(p)).collect::<Result<_, _>>()?;
        // Positions ascend, so their groups do: each group once, in order.
        let mut groups = position_groups.clone();
        groups.dedup();
        let ranges: Vec<Range<u64>> = groups.iter().map(|&g| self.row_groups[g].range.clone()).collect();
        let read = source.ranges(&ranges).await?;
        let (mut located, mut at) = (Vec::with_capacity(positions.len()), 0usize);
        for (&group, bytes) in groups.iter().zip(read) {
            let starts = self.row_starts(group, &bytes)?;
            let in_group = position_groups[at..].iter().take_while(|&&g| g == group).count();
            for &position in &positions[at..at + in_group] {
                let within = holding_row(&starts, position).ok_or("a row group starts after its hit")?;
                located.push(((group * ROWS_PER_GROUP + within) as u64, starts[within]));
            }
            at += in_group;
        }
        Ok(located)
    }

    /// The first position of each of `rows` (ascending, each below the chunk's rows); reads the
    /// row groups they fall in.
    pub(super) async fn first_positions(&self, source: &IndexSource, rows: &[u64]) -> Result<Vec<u64>, IndexError> {
        if let Some(&beyond) = rows.iter().find(|&&row| row >= self.rows) {
            return Err(IndexError::malformed(format!("row {beyond} asked of an index of {} rows", self.rows)));
        }
        let row_groups: Vec<usize> = rows.iter().map(|&row| row as usize / ROWS_PER_GROUP).collect();
        let mut groups = row_groups.clone();
        groups.dedup();
        let ranges: Vec<Range<u64>> = groups.iter().map(|&g| self.row_groups[g].range.clone()).collect();
        let read = source.ranges(&ranges).await?;
        let (mut firsts, mut at) = (Vec::with_capacity(rows.len()), 0usize);
        for (&group, bytes) in groups.iter().zip(read) {
            let starts = self.row_starts(group, &bytes)?;
            while at < rows.len() && row_groups[at] == group {
                let within = rows[at] as usize % ROWS_PER_GROUP;
                firsts.push(*starts.get(within).ok_or("a row group holds fewer rows than the index records")?);
                at += 1;
            }
        }
        Ok(firsts)
    }

    /// The first positions of the rows of row group `group`, from its `bytes`.
    fn row_starts(&self, group: usize, bytes: &[u8]) -> Result<Vec<u64>, IndexError> {
        let entry = &self.row_groups[group];
        if xxh3_64(bytes) != entry.checksum {
            return Err("a row group's checksum does not match: the file is damaged".into());
        }
        let raw =
            zstd::stream::decode_all(bytes).map_err(|source| IndexError::Decompress { part: "a row group", source })?;
        let rows = (self.rows - (group * ROWS_PER_GROUP) as u64).min(ROWS_PER_GROUP as u64);
        let (mut input, mut start) = (raw.as_slice(), entry.first_position);
        let mut starts = Vec::with_capacity(rows as usize);
        for _ in 0..rows {
            let delta = read_varint(&mut input)
                .map_err(|e| IndexError::malformed(format!("a row group does not decode: {e}")))?;
            start = start.checked_add(delta).ok_or("a row group does not decode")?;
            starts.push(start);
        }
        if !input.is_empty() {
            return Err("a row group holds more rows than the index records".into());
        }
        Ok(starts)
    }

    /// Reads and checks every group: each word's positions and each row's start.
    pub(super) async fn check_all(&self, source: &IndexSource) -> Result<(), IndexError> {
        let mut words = 0;
        for group in &self.word_groups {
            let loaded = group.load(source.range(group.range.clone()).await?, self.positions)?;
            let mut damaged = Ok(());
            loaded.for_each_word(|_, postings| {
                words += 1;
                damaged = postings.positions().map(drop);
                damaged.is_ok()
            })?;
            damaged?;
        }
        if words != self.words {
            return Err(IndexError::malformed(format!(
                "{words} words in the word groups, the footer records {}",
                self.words
            )));
        }
        for (index, group) in self.row_groups.iter().enumerate() {
            self.row_starts(index, &source.range(group.range.clone()).await?)?;
        }
        if let Some(blocks) = &self.vocabulary {
            for block in blocks {
                block.words(source.range(block.range.clone()).await?)?;
            }
        }
        Ok(())
    }

    /// The chunk's words that `keep` takes, in byte order, from the blocks that may hold words
    /// starting with `prefix` (all blocks when it is empty); `None` when the file has no
    /// vocabulary.
    pub(super) async fn words_where(
        &self,
        source: &IndexSource,
        prefix: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Option<Vec<String>>, IndexError> {
        let Some(blocks) = &self.vocabulary else { return Ok(None) };
        let prefix_bytes = prefix.as_bytes();
        let from = blocks.partition_point(|b| *b.first_word <= *prefix_bytes).saturating_sub(1);
        let wanted: Vec<&VocabularyBlock> = blocks[from..]
            .iter()
            .enumerate()
            .take_while(|(i, b)| *i == 0 || *b.first_word < *prefix_bytes || b.first_word.starts_with(prefix_bytes))
            .map(|(_, b)| b)
            .collect();
        let ranges: Vec<Range<u64>> = wanted.iter().map(|b| b.range.clone()).collect();
        let mut kept = Vec::new();
        for (block, bytes) in wanted.iter().zip(source.ranges(&ranges).await?) {
            kept.extend(block.words(bytes)?.into_iter().filter(|w| w.starts_with(prefix) && keep(w)));
        }
        Ok(Some(kept))
    }
}

impl VocabularyBlock {
    /// The block's words, from its `bytes`, checked.
    fn words(&self, bytes: Bytes) -> Result<Vec<String>, IndexError> {
        if xxh3_64(&bytes) != self.checksum {
            return Err("a vocabulary block's checksum does not match: the file is damaged".into());
        }
        let raw = zstd::stream::decode_all(bytes.as_ref())
            .map_err(|source| IndexError::Decompress { part: "a vocabulary block", source })?;
        let corrupt = |_| IndexError::from("a vocabulary block does not decode");
        let (mut input, mut words) = (raw.as_slice(), Vec::with_capacity(self.words.min(1 << 16) as usize));
        let mut previous: Vec<u8> = Vec::new();
        while !input.is_empty() {
            let shared = read_varint(&mut input).map_err(corrupt)? as usize;
            let length = read_varint(&mut input).map_err(corrupt)? as usize;
            let (rest, tail) = input.split_at_checked(length).ok_or("a vocabulary block does not decode")?;
            input = tail;
            let mut word = previous.get(..shared).ok_or("a vocabulary block does not decode")?.to_vec();
            word.extend_from_slice(rest);
            words
                .push(String::from_utf8(word.clone()).map_err(|_| IndexError::from("a vocabulary word is not UTF-8"))?);
            previous = word;
        }
        if words.len() as u64 != self.words || words.first().map(String::as_bytes) != Some(&*self.first_word) {
            return Err("a vocabulary block holds other words than the directory records".into());
        }
        Ok(words)
    }
}

/// A word group read from the file and checked.
struct LoadedWordGroup<'g> {
    group: &'g WordGroup,
    universe: u64,
    postings: Bytes,
    word_list: Vec<u8>,
}

/// The positions of one word: in the word list, where its postings are, or not recorded.
enum Postings<'a> {
    Inline(Vec<u64>),
    Coded { bytes: &'a [u8], count: u64, universe: u64 },
    Unrecorded,
}

impl Postings<'_> {
    /// The positions, ascending; `None` when they are not recorded.
    fn positions(self) -> Result<Option<Vec<u64>>, IndexError> {
        match self {
            Postings::Inline(positions) => Ok(Some(positions)),
            Postings::Coded { bytes, count, universe } => interpolative::decode(bytes, count, universe).map(Some),
            Postings::Unrecorded => Ok(None),
        }
    }
}

impl WordGroup {
    /// Checks the group's `bytes` and decompresses its word list.
    fn load(&self, bytes: Bytes, universe: u64) -> Result<LoadedWordGroup<'_>, IndexError> {
        if xxh3_64(&bytes) != self.checksum {
            return Err("a word group's checksum does not match: the file is damaged".into());
        }
        let (postings, word_list) =
            (bytes.slice(..self.postings_bytes as usize), &bytes[self.postings_bytes as usize..]);
        let word_list = zstd::stream::decode_all(word_list)
            .map_err(|source| IndexError::Decompress { part: "a word list", source })?;
        Ok(LoadedWordGroup { group: self, universe, postings, word_list })
    }
}

impl LoadedWordGroup<'_> {
    /// Calls `on_word` with each word of the group, in order, and its postings, while it
    /// returns true.
    fn for_each_word(&self, mut on_word: impl FnMut(&[u8], Postings<'_>) -> bool) -> Result<(), IndexError> {
        let corrupt = |_| IndexError::from("a word list does not decode");
        let (mut input, mut word, mut postings_at) = (self.word_list.as_slice(), Vec::new(), 0usize);
        for _ in 0..self.group.words {
            let shared = read_varint(&mut input).map_err(corrupt)? as usize;
            let length = read_varint(&mut input).map_err(corrupt)? as usize;
            let rest = input.split_off(..length).ok_or("a word list does not decode")?;
            if shared > word.len() {
                return Err("a word list does not decode".into());
            }
            word.truncate(shared);
            word.extend_from_slice(rest);
            let count = read_varint(&mut input).map_err(corrupt)?;
            let postings = if count == 0 {
                Postings::Unrecorded
            } else if count <= INLINE_POSITIONS as u64 {
                let mut positions = Vec::with_capacity(count as usize);
                let mut position = 0u64;
                for _ in 0..count {
                    let delta = read_varint(&mut input).map_err(corrupt)?;
                    position = position.checked_add(delta).ok_or("a word list does not decode")?;
                    positions.push(position);
                }
                Postings::Inline(positions)
            } else {
                let bytes = read_varint(&mut input).map_err(corrupt)? as usize;
                let range = postings_at..postings_at.saturating_add(bytes);
                postings_at = range.end;
                let bytes = self.postings.get(range).ok_or("a posting list runs past its group")?;
                Postings::Coded { bytes, count, universe: self.universe }
            };
            if !on_word(&word, postings) {
                return Ok(());
            }
        }
        if postings_at != self.postings.len() || !input.is_empty() {
            return Err("a word group holds more than its words".into());
        }
        Ok(())
    }
}

/// The footer of an index file.
#[derive(Debug, Clone)]
struct Footer {
    directory: Range<u64>,
    word_groups: u64,
    row_groups: u64,
    words: u64,
    rows: u64,
    positions: u64,
    directory_checksum: u64,
    /// Whether the file has a vocabulary (this version and the one before) or not (older).
    has_vocabulary: bool,
}

impl Footer {
    fn parse(bytes: &[u8], size: u64) -> Result<Footer, IndexError> {
        let marker = bytes.get(FOOTER_VALUES * 8..).unwrap_or_default();
        let known = [MAGIC, ALL_RECORDED_MAGIC, WITHOUT_VOCABULARY_MAGIC].iter().any(|magic| marker == *magic);
        if bytes.len() as u64 != FOOTER_BYTES || !known {
            return Err("not a phrase index of this version (no footer marker)".into());
        }
        let value = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        let values: [u64; FOOTER_VALUES] = std::array::from_fn(value);
        if footer_checksum(&values) != values[FOOTER_VALUES - 1] {
            return Err("the footer's checksum does not match: the file is damaged".into());
        }
        let directory = value(0)..value(0).saturating_add(value(1));
        if directory.start < MAGIC.len() as u64 || directory.end.saturating_add(FOOTER_BYTES) != size {
            return Err(IndexError::malformed(format!("footer sections do not fit a file of {size} bytes")));
        }
        // Positions are numbered with u32 (a chunk is cut long before): more is a forged footer.
        if value(6) > 1 << 32 {
            return Err(IndexError::malformed(format!("{} positions is more than an index holds", value(6))));
        }
        Ok(Footer {
            directory,
            word_groups: value(2),
            row_groups: value(3),
            words: value(4),
            rows: value(5),
            positions: value(6),
            directory_checksum: value(7),
            has_vocabulary: marker != WITHOUT_VOCABULARY_MAGIC,
        })
    }
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

/// Reads one LEB128 varint from the front of `input`.
fn read_varint(input: &mut &[u8]) -> Result<u64, &'static str> {
    let (mut value, mut shift) = (0u64, 0u32);
    loop {
        let (&byte, rest) = input.split_first().ok_or("input ends inside a varint")?;
        *input = rest;
        if shift >= 64 {
            return Err("a varint runs past 64 bits");
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

fn read_u64(input: &mut &[u8]) -> Result<u64, &'static str> {
    let bytes = input.split_off(..8).ok_or("input ends inside a checksum")?;
    Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let mut bytes = Vec::new();
        let values = [0u64, 1, 127, 128, 300, u64::from(u32::MAX) + 5, u64::MAX];
        values.iter().for_each(|&v| push_varint(&mut bytes, v));
        let mut input = bytes.as_slice();
        let decoded: Vec<u64> = values.iter().map(|_| read_varint(&mut input).expect("decodes")).collect();
        assert_eq!(decoded, values);
        assert!(read_varint(&mut input).is_err(), "nothing is left");
    }

    #[test]
    fn damaged_footers_are_refused() {
        let mut file = Vec::new();
        let words: Vec<Box<str>> = vec!["a".into()];
        let lists = PostingLists { words: &words, offsets: &[0, 1], positions: &[0], vocabulary: &[] };
        let size = write(&mut file, &lists, &[0], 1).expect("writes to memory");
        let footer = |file: &[u8]| Footer::parse(&file[file.len() - FOOTER_BYTES as usize..], size);
        assert!(footer(&file).is_ok());
        let at = file.len() - 70;
        file[at] ^= 0xff;
        assert!(footer(&file).is_err());
        assert!(Footer::parse(b"short", size).is_err());
    }
}
