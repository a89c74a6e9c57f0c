-- A concordance: every segment where a phrase is said, the phrase aligned in a column with the
-- words before and after it (keyword in context), with its time and a deep link.
--
-- @param phrase text : the words to find, e.g. 'out of core'
-- @param width integer = 40 : characters of context on each side
-- @param limit integer = 1000 : at most this many lines
SELECT s.doc_id,
       hms(s.start_ms) AS start,
       kwic(s.text, ${phrase}, ${width}) AS line,
       youtube_link(d.video_id, s.start_ms) AS link
FROM segments s
LEFT JOIN documents d ON d.doc_id = s.doc_id
WHERE phrase_match(s.text, ${phrase})
ORDER BY s.doc_id, s.seq
LIMIT ${limit};
