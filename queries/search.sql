-- Every place a phrase is said, also where captions split it ("data pipelines to national /
-- supercomputing"): reported at the segment where it starts, with HH:MM:SS, a YouTube deep link
-- when the video id is known, and the neighbouring captions as context. Words are matched as
-- tokenize() splits them (case and punctuation ignored); a phrase may run on over the next
-- three captions.
--
-- @param phrase text : the words to find, e.g. 'national supercomputing'
-- @param limit integer = 1000000000 : at most this many hits
SELECT h.doc_id,
       h.seq,
       hms(h.start_ms) AS start,
       hms(h.end_ms) AS "end",
       h.text,
       youtube_link(d.video_id, h.start_ms) AS link,
       h.before,
       h.following AS after
FROM (SELECT doc_id, seq, start_ms, end_ms, text,
             lag(text) OVER w AS before,
             concat_ws(' ', lead(text, 1) OVER w, lead(text, 2) OVER w, lead(text, 3) OVER w) AS following
      FROM segments
      WINDOW w AS (PARTITION BY doc_id ORDER BY seq)) h
LEFT JOIN documents d ON d.doc_id = h.doc_id
WHERE phrase_starts(h.text, h.following, ${phrase})
ORDER BY h.doc_id, h.seq
LIMIT ${limit};
