-- Per channel: documents, hours of speech, segments, words, speaking rate and the range of
-- publication dates. Documents without a channel are counted under ''.
SELECT coalesce(channel, '') AS channel,
       count(*) AS documents,
       round(sum(duration_ms) / 3600000.0, 2) AS hours,
       sum(n_segments) AS segments,
       sum(n_words) AS words,
       round(sum(n_words) * 60000.0 / greatest(sum(duration_ms), 1), 1) AS words_per_minute,
       min(published_at) AS first_published,
       max(published_at) AS last_published
FROM documents
GROUP BY 1
ORDER BY documents DESC, channel;
