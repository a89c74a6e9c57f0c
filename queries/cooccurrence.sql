-- The words said near a term: how often each word occurs within a window of words around it
-- (within a segment), leaving out stop words.
--
-- @param term text : a word or phrase, e.g. 'python'
-- @param window count = 5 : words on each side
-- @param stopwords text = 'english' : stop words: comma-separated, 'english', or '' for none
-- @param limit count = 20 : how many words to list
SELECT word, count(*) AS count
FROM (SELECT unnest(near_words(text, ${term}, ${window})) AS word
      FROM segments
      WHERE phrase_match(text, ${term}))
WHERE NOT is_stop_word(word, ${stopwords})
GROUP BY word
ORDER BY count DESC, word
LIMIT ${limit};
