-- A frequency list with dispersion: each word's frequency, its rate per million words, the
-- documents it is in, and Gries's deviation of proportions across documents (DP: 0 when spread
-- as evenly as the documents' sizes, near 1 when all in one small document).
--
-- @param filter text = '' : the subcorpus, as corpus query filters, e.g. 'speaker:Bryan'
-- @param min_freq count = 1 : leave out words said fewer times than this
-- @param stopwords text = '' : words to leave out: comma-separated, or 'english' for the built-in list
-- @param limit count = 50 : how many words to list
SELECT word, f, round(per_million, 2) AS per_million, documents, round(dp, 4) AS dp
FROM frequencies(${filter})
WHERE f >= ${min_freq} AND NOT is_stop_word(word, ${stopwords})
ORDER BY f DESC, word
LIMIT ${limit};
