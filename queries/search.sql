-- Every place a phrase is said, also where captions split it ("data pipelines to national /
-- supercomputing"): reported at the segment where it starts, with HH:MM:SS, a YouTube deep link
-- when the video id is known, and the neighbouring captions as context. Words are matched as
-- tokenize() splits them (case, punctuation and caption breaks ignored). Answered from the
-- archive's phrase indexes; chunks written without one are scanned, with the same answers.
--
-- @param phrase text : the words to find, e.g. 'national supercomputing'
-- @param limit integer = 1000000000 : at most this many hits
SELECT doc_id,
       seq,
       start,
       hms(end_ms) AS "end",
       text,
       link,
       before,
       after
FROM search(${phrase}, 1, ${limit})
ORDER BY doc_id, seq;
