-- The most frequent n-grams (runs of n words within a segment, tokenised as tokenize() does),
-- leaving out those that start or end with a stop word.
--
-- @param n count = 2 : words per n-gram (1 to 16)
-- @param stopwords text = 'english' : stop words: comma-separated, 'english', or '' for none
-- @param limit count = 20 : how many n-grams to list
SELECT gram, count(*) AS count
FROM (SELECT unnest(ngrams(text, ${n})) AS gram FROM segments)
WHERE NOT is_stop_word(split_part(gram, ' ', 1), ${stopwords})
  AND NOT is_stop_word(regexp_replace(gram, '^.* ', ''), ${stopwords})
GROUP BY gram
ORDER BY count DESC, gram
LIMIT ${limit};
