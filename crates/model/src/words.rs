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

/// [`for_each_word`] for ASCII text: the same rule over bytes (only `'` is an apostrophe there).
fn for_each_ascii_word<'t>(text: &'t str, mut on_word: impl FnMut(&'t str)) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if !bytes[at].is_ascii_alphanumeric() {
            at += 1;
            continue;
        }
        let start = at;
        at += 1;
        loop {
            match bytes.get(at) {
                Some(b) if b.is_ascii_alphanumeric() => at += 1,
                Some(b'\'') if bytes.get(at + 1).is_some_and(u8::is_ascii_alphanumeric) => at += 2,
                _ => break,
            }
        }
        on_word(&text[start..at]);
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
        let alphabet = b"aB9' .-_";
        let mut state = 1u64;
        for round in 0..3000 {
            let text: String = (0..(round % 90))
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
        for length in [63, 64, 65, 127, 128, 200, 255, 256, 257, 300] {
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
