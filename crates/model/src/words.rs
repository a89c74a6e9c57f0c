//! What verbatim counts as a word.
//!
//! A word is a maximal run of letters, marks and numbers (Unicode categories L, M and N), which may
//! continue across single inner apostrophes (`'` or `’`): "I'm" and "rock'n'roll" are one word each,
//! while "'quoted'" gives "quoted". Words are lowercased character by character with the simple
//! Unicode mapping. The same rule as a regular expression, applied to the lowercased text, is
//! `[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*` (DuckDB: `regexp_extract_all(lower(text), …)`).

use unicode_general_category::{GeneralCategory as Gc, get_general_category};

/// The regular expression equivalent to [`tokenize`], for engines that tokenise with regexes.
pub const WORD_REGEX: &str = r"[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*";

/// Whether `c` can be part of a word (Unicode letter, mark or number).
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    matches!(
        get_general_category(c),
        Gc::UppercaseLetter
            | Gc::LowercaseLetter
            | Gc::TitlecaseLetter
            | Gc::ModifierLetter
            | Gc::OtherLetter
            | Gc::NonspacingMark
            | Gc::SpacingMark
            | Gc::EnclosingMark
            | Gc::DecimalNumber
            | Gc::LetterNumber
            | Gc::OtherNumber
    )
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Calls `on_word` with each word of `text` as written (not lowercased), in order.
///
/// ASCII text, most captions, is split over its bytes; other text character by character.
pub fn for_each_word<'t>(text: &'t str, on_word: impl FnMut(&'t str)) {
    if text.is_ascii() {
        for_each_ascii_word(text, on_word);
    } else {
        for_each_char_word(text, on_word);
    }
}

/// [`for_each_word`], character by character.
fn for_each_char_word<'t>(text: &'t str, mut on_word: impl FnMut(&'t str)) {
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if !is_word_char(c) {
            continue;
        }
        let mut end = start + c.len_utf8();
        while let Some(&(index, next)) = chars.peek() {
            if is_word_char(next) {
                end = index + next.len_utf8();
                chars.next();
            } else if is_apostrophe(next) {
                let after = text[index + next.len_utf8()..].chars().next();
                if !after.is_some_and(is_word_char) {
                    break;
                }
                chars.next();
            } else {
                break;
            }
        }
        on_word(&text[start..end]);
    }
}

/// [`for_each_word`] for ASCII text: the same rule over bytes (only `'` is an apostrophe there),
/// 64 bytes at a time. Each block's word bytes and apostrophes become bit masks; an apostrophe with
/// word bytes on both sides joins them; words start and end where the joined mask changes. Only
/// the words themselves cost a branch, not every byte.
fn for_each_ascii_word<'t>(text: &'t str, mut on_word: impl FnMut(&'t str)) {
    const STACK_BLOCKS: usize = 8;
    let bytes = text.as_bytes();
    let blocks = bytes.len().div_ceil(64);
    let mut on_span = |start: usize, end: usize| on_word(&text[start..end]);
    if blocks <= STACK_BLOCKS {
        let (mut words, mut apostrophes) = ([0u64; STACK_BLOCKS], [0u64; STACK_BLOCKS]);
        classify_blocks(bytes, &mut words[..blocks], &mut apostrophes[..blocks]);
        emit_words(&mut words[..blocks], &apostrophes[..blocks], &mut on_span);
    } else {
        let (mut words, mut apostrophes) = (vec![0u64; blocks], vec![0u64; blocks]);
        classify_blocks(bytes, &mut words, &mut apostrophes);
        emit_words(&mut words, &apostrophes, &mut on_span);
    }
}

/// Bit `i` of `words[k]` (of `apostrophes[k]`): whether byte `64 k + i` of the ASCII `bytes` is
/// alphanumeric (is `'`).
fn classify_blocks(bytes: &[u8], words: &mut [u64], apostrophes: &mut [u64]) {
    for (k, block) in bytes.chunks(64).enumerate() {
        let (mut word, mut apostrophe) = (0u64, 0u64);
        for (j, lane) in block.chunks(8).enumerate() {
            let mut padded = [0u8; 8];
            padded[..lane.len()].copy_from_slice(lane);
            let (w, a) = classify_lane(u64::from_le_bytes(padded));
            word |= w << (8 * j);
            apostrophe |= a << (8 * j);
        }
        words[k] = word;
        apostrophes[k] = apostrophe;
    }
}

/// For 8 ASCII bytes: a bit per byte (byte `i` → bit `i`) for alphanumeric bytes, and one for `'`.
/// Every byte is below 0x80, so adding at most 0x7f to each never carries into the next.
fn classify_lane(lane: u64) -> (u64, u64) {
    const ONES: u64 = u64::MAX / 0xff;
    const HIGH: u64 = ONES * 0x80;
    // The high bit of `lane + ONES * (0x80 - c)` is set in each byte that is at least `c`.
    let at_least = |value: u64, c: u8| value + ONES * u64::from(0x80 - c);
    let digit = at_least(lane, b'0') & !at_least(lane, b'9' + 1);
    let folded = lane | (ONES * 0x20);
    let letter = at_least(folded, b'a') & !at_least(folded, b'z' + 1);
    let not_apostrophe = (lane ^ (ONES * u64::from(b'\''))) + ONES * 0x7f;
    (high_bits((digit | letter) & HIGH), high_bits(!not_apostrophe & HIGH))
}

/// The high bit of each byte of `value` (nothing else set) gathered into the low 8 bits.
fn high_bits(value: u64) -> u64 {
    (value >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Calls `on_span(start, end)` for each word, given the blocks' word and apostrophe masks (see
/// [`classify_blocks`]); `words` is turned into the joined masks on the way.
fn emit_words(words: &mut [u64], apostrophes: &[u64], on_span: &mut impl FnMut(usize, usize)) {
    let blocks = words.len();
    // Apostrophes between two word bytes join them.
    let mut original_before = 0u64;
    for k in 0..blocks {
        let original = words[k];
        let before = (original << 1) | (original_before >> 63);
        let after = (original >> 1) | if k + 1 < blocks { words[k + 1] << 63 } else { 0 };
        words[k] = original | (apostrophes[k] & before & after);
        original_before = original;
    }
    let mut pending = 0usize;
    for k in 0..blocks {
        let mask = words[k];
        let carried_in = if k > 0 { words[k - 1] >> 63 } else { 0 };
        let carried_out = if k + 1 < blocks { words[k + 1] << 63 } else { 0 };
        let mut starts = mask & !((mask << 1) | carried_in);
        let mut ends = mask & !((mask >> 1) | carried_out);
        let base = 64 * k;
        // Starts and ends alternate; a block may open with the end of a word begun before it.
        loop {
            if starts != 0 && (ends == 0 || starts.trailing_zeros() <= ends.trailing_zeros()) {
                pending = base + starts.trailing_zeros() as usize;
                starts &= starts - 1;
            } else if ends != 0 {
                on_span(pending, base + ends.trailing_zeros() as usize + 1);
                ends &= ends - 1;
            } else {
                break;
            }
        }
    }
}

/// Appends `word` lowercased (simple per-character mapping) to `out`.
pub fn push_lowercase(word: &str, out: &mut String) {
    if word.is_ascii() {
        let start = out.len();
        out.push_str(word);
        out[start..].make_ascii_lowercase();
        return;
    }
    for c in word.chars() {
        // Only U+0130 has a multi-character full lowercase mapping; the simple mapping is its first char.
        out.push(c.to_lowercase().next().unwrap_or(c));
    }
}

/// The lowercased words of `text`, in order.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for_each_word(text, |word| {
        let mut lower = String::with_capacity(word.len());
        push_lowercase(word, &mut lower);
        words.push(lower);
    });
    words
}

/// The number of words in `text` (as [`tokenize`] would count them, without allocating).
///
/// ASCII text, most captions, takes a branch-free path over its bytes: ingest counts the words of
/// every segment.
pub fn count_words(text: &str) -> usize {
    if text.is_ascii() {
        return count_ascii_words(text.as_bytes());
    }
    let mut count = 0;
    for_each_word(text, |_| count += 1);
    count
}

/// [`count_words`] for ASCII text, without branches: a word starts at a word byte unless the byte
/// before is a word byte or an apostrophe that follows a word byte.
fn count_ascii_words(bytes: &[u8]) -> usize {
    let mut count = 0;
    let (mut prev_word, mut prev_apostrophe, mut before_prev_word) = (false, false, false);
    for &b in bytes {
        let word = b.is_ascii_alphanumeric();
        count += usize::from(word & !(prev_word | (prev_apostrophe & before_prev_word)));
        before_prev_word = prev_word;
        prev_word = word;
        prev_apostrophe = b == b'\'';
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_punctuation_and_whitespace_and_lowercases() {
        assert_eq!(tokenize("Hi everybody. I'm Mary-Thomas!"), ["hi", "everybody", "i'm", "mary", "thomas"]);
    }

    #[test]
    fn apostrophes_join_only_inside_words() {
        assert_eq!(tokenize("'quoted' dogs' rock'n'roll it’s ''"), ["quoted", "dogs", "rock'n'roll", "it’s"]);
    }

    #[test]
    fn non_ascii_letters_marks_and_numbers_are_word_characters() {
        assert_eq!(tokenize("Café naïve ÜBER Москва 東京 x²"), ["café", "naïve", "über", "москва", "東京", "x²"]);
        // Combining acute accent (a mark) stays in the word.
        assert_eq!(tokenize("Cafe\u{301} au lait"), ["cafe\u{301}", "au", "lait"]);
    }

    #[test]
    fn symbols_emoji_and_underscores_are_separators() {
        assert_eq!(tokenize("snake_case 🎉party [Music] >> ok"), ["snake", "case", "party", "music", "ok"]);
    }

    #[test]
    fn lowercasing_uses_the_simple_mapping() {
        assert_eq!(tokenize("İSTANBUL ΟΔΟΣ"), ["istanbul", "οδοσ"]);
    }

    #[test]
    fn the_ascii_path_splits_as_the_character_path() {
        // Every class boundary of the byte classes: before and after digits and both cases.
        let alphabet = b"aB9' .-_/0:@AZ[`z{\x7f\t";
        let mut state = 1u64;
        for round in 0..3000 {
            let text: String = (0..(round % 90 + round / 2900 * 600))
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    alphabet[(state >> 33) as usize % alphabet.len()] as char
                })
                .collect();
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            for_each_ascii_word(&text, |w| fast.push(w));
            for_each_char_word(&text, |w| slow.push(w));
            assert_eq!(fast, slow, "{text:?}");
        }
        // Longer texts, with apostrophes and spaces at every offset.
        for length in [63, 64, 65, 127, 128, 200, 255, 256, 257, 300, 511, 512, 513, 700] {
            let text: String = (0..length)
                .map(|i| {
                    if i % 7 == 6 {
                        ' '
                    } else if i % 11 == 5 {
                        '\''
                    } else {
                        'x'
                    }
                })
                .collect();
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            for_each_ascii_word(&text, |w| fast.push(w));
            for_each_char_word(&text, |w| slow.push(w));
            assert_eq!(fast, slow, "{length} bytes");
        }
    }

    #[test]
    fn count_matches_tokenize() {
        for text in [
            "",
            "   ",
            "a b c",
            "I'm here, you're there.",
            "Ελλάδα & 中文 123 4.5",
            "'quoted' dogs' rock'n'roll a''b ' x'",
            "snake_case [Music] >> ok!",
        ] {
            assert_eq!(count_words(text), tokenize(text).len(), "{text:?}");
        }
    }
}
