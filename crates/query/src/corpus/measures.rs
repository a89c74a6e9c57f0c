//! The statistics corpus linguists rank words by: association measures of a collocate with a
//! term (as Sketch Engine's "Statistics used in Sketch Engine" defines them), keyness of a word
//! in one subcorpus against another (Rayson and Garside's log-likelihood, Hardie's log ratio) and
//! dispersion across documents (Gries's deviation of proportions).

/// How strongly a word `y` is associated with a term `x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Association {
    /// Mutual information: log2(f_xy·n / (f_x·f_y)).
    pub mi: f64,
    /// MI³: log2(f_xy³·n / (f_x·f_y)).
    pub mi3: f64,
    /// t-score: (f_xy − f_x·f_y/n) / √f_xy.
    pub t_score: f64,
    /// logDice: 14 + log2(2·f_xy / (f_x + f_y)).
    pub log_dice: f64,
    /// Log-likelihood: 2·Σ O·ln(O/E) over the 2×2 table of x and y.
    pub log_likelihood: f64,
}

/// The association of `y` with `x`, from `f_xy` (co-occurrences), `f_x`, `f_y` and `n` (words in
/// the corpus). The 2×2 table of the log-likelihood is `f_xy`, `f_x − f_xy`, `f_y − f_xy` and
/// `n − f_x − f_y + f_xy`; a cell of 0 or less adds nothing (a word said twice near the term can
/// make `f_xy` exceed `f_x`).
pub fn association(f_xy: f64, f_x: f64, f_y: f64, n: f64) -> Association {
    Association {
        mi: (f_xy * n / (f_x * f_y)).log2(),
        mi3: (f_xy.powi(3) * n / (f_x * f_y)).log2(),
        t_score: (f_xy - f_x * f_y / n) / f_xy.sqrt(),
        log_dice: 14.0 + (2.0 * f_xy / (f_x + f_y)).log2(),
        log_likelihood: g2([[f_xy, f_x - f_xy], [f_y - f_xy, n - f_x - f_y + f_xy]]),
    }
}

/// The log-likelihood (G²) of a 2×2 table of observed counts: 2·Σ O·ln(O/E), E from the
/// margins; cells of 0 or less add nothing.
pub fn g2(observed: [[f64; 2]; 2]) -> f64 {
    let total: f64 = observed.iter().flatten().sum();
    let rows = [observed[0][0] + observed[0][1], observed[1][0] + observed[1][1]];
    let columns = [observed[0][0] + observed[1][0], observed[0][1] + observed[1][1]];
    let mut sum = 0.0;
    for (i, row) in observed.iter().enumerate() {
        for (j, &o) in row.iter().enumerate() {
            if o > 0.0 {
                let expected = rows[i] * columns[j] / total;
                sum += o * (o / expected).ln();
            }
        }
    }
    2.0 * sum
}

/// How key a word is in a target corpus against a reference corpus.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Keyness {
    /// Rayson and Garside's log-likelihood: 2·(a·ln(a/E1) + b·ln(b/E2)), E1 = c·(a+b)/(c+d),
    /// E2 = d·(a+b)/(c+d).
    pub log_likelihood: f64,
    /// Hardie's log ratio: log2((a/c) / (b/d)), a frequency of 0 taken as 0.5.
    pub log_ratio: f64,
}

/// The keyness of a word said `a` times in a target of `c` words and `b` times in a reference of
/// `d` words.
pub fn keyness(a: f64, b: f64, c: f64, d: f64) -> Keyness {
    let (e1, e2) = (c * (a + b) / (c + d), d * (a + b) / (c + d));
    let term = |o: f64, e: f64| if o > 0.0 { o * (o / e).ln() } else { 0.0 };
    let (a_, b_) = (if a == 0.0 { 0.5 } else { a }, if b == 0.0 { 0.5 } else { b });
    Keyness { log_likelihood: 2.0 * (term(a, e1) + term(b, e2)), log_ratio: ((a_ / c) / (b_ / d)).log2() }
}

/// Gries's deviation of proportions of a word said `total` times in a corpus of `words` words,
/// given for each document where it occurs its count there and the document's words (documents
/// where it does not occur add their share of the corpus).
pub fn deviation_of_proportions(total: f64, words: f64, occurrences: impl IntoIterator<Item = (f64, f64)>) -> f64 {
    let (mut deviation, mut shares) = (0.0, 0.0);
    for (count, document_words) in occurrences {
        let share = document_words / words;
        deviation += (count / total - share).abs();
        shares += share;
    }
    deviation_of_proportions_from(deviation, shares)
}

/// [`deviation_of_proportions`] from its sums over the documents where the word occurs: Σ |v_i −
/// s_i| and Σ s_i.
pub fn deviation_of_proportions_from(deviation: f64, shares: f64) -> f64 {
    0.5 * (deviation + (1.0 - shares).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(1.0)
    }

    #[test]
    fn association_measures_follow_their_definitions() {
        // f_xy 10, f_x 100, f_y 50, n 10,000.
        let a = association(10.0, 100.0, 50.0, 10_000.0);
        assert!(close(a.mi, (10.0f64 * 10_000.0 / 5_000.0).log2()), "{a:?}");
        assert!(close(a.mi3, (1_000.0f64 * 10_000.0 / 5_000.0).log2()));
        assert!(close(a.t_score, (10.0 - 0.5) / 10f64.sqrt()));
        assert!(close(a.log_dice, 14.0 + (20.0f64 / 150.0).log2()));
        assert!(a.log_likelihood > 0.0);
        // Independence: no association.
        assert!(close(g2([[1.0, 9.0], [9.0, 81.0]]), 0.0));
    }

    #[test]
    fn keyness_is_symmetric_in_its_log_likelihood_and_signed_in_its_ratio() {
        let over = keyness(50.0, 10.0, 10_000.0, 10_000.0);
        let under = keyness(10.0, 50.0, 10_000.0, 10_000.0);
        assert!(close(over.log_likelihood, under.log_likelihood));
        assert!(close(over.log_ratio, 5f64.log2()) && close(under.log_ratio, -(5f64.log2())));
        assert!(close(keyness(4.0, 0.0, 100.0, 100.0).log_ratio, 3.0));
    }

    #[test]
    fn dispersion_is_zero_when_even_and_near_one_when_in_one_document() {
        // Two documents of 100 words each, the word 5 times in each.
        assert!(close(deviation_of_proportions(10.0, 200.0, [(5.0, 100.0), (5.0, 100.0)]), 0.0));
        // All in the first of two equal documents: 0.5·(|1 − 0.5| + 0.5) = 0.5.
        assert!(close(deviation_of_proportions(10.0, 200.0, [(10.0, 100.0)]), 0.5));
    }
}
