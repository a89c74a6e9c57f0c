-- Per document: duration, segments, words and speaking rate (words per minute of duration).
--
-- @param limit count = 1000000000 : at most this many documents
SELECT doc_id,
       hms(duration_ms) AS duration,
       n_segments,
       n_words,
       round(CASE WHEN duration_ms > 0 THEN n_words * 60000.0 / duration_ms END, 1) AS words_per_minute
FROM documents
ORDER BY doc_id
LIMIT ${limit};
