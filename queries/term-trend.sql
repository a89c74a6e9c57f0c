-- How often a term is said per month of publication and per channel: occurrences, and per
-- 10,000 words spoken that month on that channel. Documents without a publication date are
-- counted under month 'unknown'.
--
-- @param term text : a word (as tokenize() splits words), e.g. 'python'
SELECT coalesce(d.channel, '') AS channel,
       coalesce(substr(d.published_at, 1, 7), 'unknown') AS month,
       sum(cardinality(array_positions(tokenize(s.text), lower(${term})))) AS occurrences,
       sum(word_count(s.text)) AS words,
       round(sum(cardinality(array_positions(tokenize(s.text), lower(${term})))) * 10000.0
             / greatest(sum(word_count(s.text)), 1), 2) AS per_10k_words
FROM segments s
JOIN documents d ON d.doc_id = s.doc_id
GROUP BY 1, 2
ORDER BY 1, 2;
