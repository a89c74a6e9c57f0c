-- The most frequent words across the archive, tokenised and lowercased as tokenize() does
-- (runs of letters, marks and numbers, joined across inner apostrophes).
--
-- @param limit count = 20 : how many words to list
-- @param stopwords text = '' : words to leave out: comma-separated, or 'english' for the built-in list
SELECT word, count(*) AS count
FROM (SELECT unnest(tokenize(text)) AS word FROM segments)
WHERE NOT is_stop_word(word, ${stopwords})
GROUP BY word
ORDER BY count DESC, word
LIMIT ${limit};
