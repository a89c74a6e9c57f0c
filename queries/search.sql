-- Every segment containing a phrase (whole words, any case, punctuation ignored), with HH:MM:SS
-- timestamps and a YouTube deep link when the document's video id is known.
--
-- @param phrase text : the words to find, e.g. 'out of core'
-- @param limit integer = 1000000000 : at most this many segments
SELECT s.doc_id,
       s.seq,
       hms(s.start_ms) AS start,
       hms(s.end_ms) AS "end",
       s.text,
       youtube_link(d.video_id, s.start_ms) AS link
FROM segments s
LEFT JOIN documents d ON d.doc_id = s.doc_id
WHERE phrase_match(s.text, ${phrase})
ORDER BY s.doc_id, s.seq
LIMIT ${limit};
