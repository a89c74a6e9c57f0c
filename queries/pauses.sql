-- The longest silences: gaps between the end of one segment and the start of the next within a
-- document, with what was said just before and just after.
--
-- @param min_ms count = 2000 : only gaps at least this long (milliseconds)
-- @param limit count = 20 : how many pauses to list
SELECT doc_id,
       hms(pause_start) AS at,
       round((start_ms - pause_start) / 1000.0, 1) AS seconds,
       before,
       text AS after
FROM (SELECT doc_id, seq, start_ms, text,
             lag(end_ms) OVER (PARTITION BY doc_id ORDER BY seq) AS pause_start,
             lag(text) OVER (PARTITION BY doc_id ORDER BY seq) AS before
      FROM segments)
WHERE start_ms - pause_start >= ${min_ms}
ORDER BY start_ms - pause_start DESC, doc_id, seq
LIMIT ${limit};
