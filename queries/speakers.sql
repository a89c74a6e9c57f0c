-- Who speaks how much: talk time, turns (runs of consecutive segments by one speaker) and words
-- per speaker and document. Segments without a speaker count under ''.
--
-- @param doc text = '' : only this document (empty: every document)
SELECT doc_id,
       speaker,
       hms(sum(end_ms - start_ms)) AS talk_time,
       sum(end_ms - start_ms) AS talk_ms,
       sum(CASE WHEN previous IS DISTINCT FROM speaker THEN 1 ELSE 0 END) AS turns,
       sum(word_count(text)) AS words
FROM (SELECT doc_id, coalesce(speaker, '') AS speaker, start_ms, end_ms, text,
             lag(coalesce(speaker, '')) OVER (PARTITION BY doc_id ORDER BY seq) AS previous
      FROM segments
      WHERE ${doc} = '' OR doc_id = ${doc})
GROUP BY doc_id, speaker
ORDER BY doc_id, talk_ms DESC, speaker;
