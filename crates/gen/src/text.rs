//! The vocabulary and caption text of generated transcripts.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};

const COMMON: &[&str] = &[
    "the",
    "and",
    "to",
    "of",
    "a",
    "that",
    "is",
    "in",
    "it",
    "you",
    "so",
    "we",
    "this",
    "i",
    "for",
    "on",
    "with",
    "can",
    "be",
    "have",
    "data",
    "are",
    "what",
    "if",
    "but",
    "memory",
    "one",
    "do",
    "not",
    "they",
    "python",
    "there",
    "at",
    "all",
    "your",
    "just",
    "like",
    "from",
    "or",
    "as",
    "about",
    "parallel",
    "which",
    "core",
    "dask",
    "array",
    "going",
    "here",
    "now",
    "these",
    "when",
    "then",
    "file",
    "node",
    "really",
    "it's",
    "i'm",
    "don't",
    "we're",
    "that's",
    "computing",
    "process",
    "thread",
    "cluster",
    "job",
    "task",
];

const NON_ASCII: &[&str] = &[
    "café",
    "naïve",
    "über",
    "façade",
    "jalapeño",
    "Größe",
    "smörgåsbord",
    "résumé",
    "coöperate",
    "Zürich",
    "Москва",
    "данные",
    "память",
    "Ελλάδα",
    "δεδομένα",
    "東京",
    "データ",
    "並列",
    "計算",
    "서울",
    "İstanbul",
    "x²",
    "½",
    "Ⅻ",
];

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ne", "ra", "tu", "shi", "po", "ver", "dan", "el", "or", "ix", "qua", "zen", "tri", "mon", "pel",
    "sa", "gor", "bri", "fe", "hul", "jo", "wen", "yst", "ach", "ump", "ling", "ton",
];

/// A seeded vocabulary with Zipf-distributed word frequencies.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    words: Vec<String>,
    zipf: Zipf<f64>,
}

impl Vocabulary {
    /// Common words first (most frequent), then non-ASCII words mixed into generated ones.
    pub fn new(seed: u64) -> Vocabulary {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_0f70_6be7);
        let mut words: Vec<String> = COMMON.iter().map(|w| w.to_string()).collect();
        let generated = 60_000;
        for i in 0..generated {
            if i % 2500 < NON_ASCII.len() && i / 2500 < 4 {
                words.push(NON_ASCII[i % 2500].to_string());
                continue;
            }
            let syllables = rng.random_range(1..=4);
            let word: String = (0..syllables).map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())]).collect();
            words.push(word);
        }
        let zipf = Zipf::new(words.len() as f64, 1.07).expect("valid Zipf parameters");
        Vocabulary { words, zipf }
    }

    /// A word drawn from the Zipf distribution.
    pub fn word(&self, rng: &mut impl Rng) -> &str {
        let rank = self.zipf.sample(rng) as usize;
        &self.words[rank.clamp(1, self.words.len()) - 1]
    }

    /// One caption: auto style is lowercase words; manual style has capitals, punctuation and line breaks.
    pub fn caption(&self, rng: &mut impl Rng, auto: bool) -> String {
        if rng.random_bool(0.01) {
            return "[Music]".to_string();
        }
        let n = rng.random_range(3..=12);
        let mut text = String::with_capacity(n * 7);
        if rng.random_bool(0.03) {
            text.push_str(">> ");
        }
        for i in 0..n {
            if i > 0 {
                text.push(if !auto && i == n / 2 && rng.random_bool(0.2) { '\n' } else { ' ' });
            }
            let word = self.word(rng);
            if !auto && i == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    text.extend(first.to_uppercase());
                    text.push_str(chars.as_str());
                }
            } else {
                text.push_str(word);
            }
            if !auto && rng.random_bool(0.08) {
                text.push([',', '.', '?', '!', ';'][rng.random_range(0..5)]);
            }
        }
        if rng.random_bool(0.004) {
            text.push_str(" 🎉");
        }
        if !auto && rng.random_bool(0.02) {
            text.push_str(" \"quoted\" back\\slash");
        }
        text
    }
}
