-- The words said near a term, ranked by how strongly they go with it: for each word within
-- `window` words left or right of the term (same document, across captions), its co-occurrence
-- count f_xy, the term's frequency f_x, its own frequency f_y, the words of the (sub)corpus n,
-- and MI, MI3, t-score, logDice and log-likelihood as Sketch Engine defines them (see the README).
--
-- @param term text : a word or phrase, e.g. 'rust'
-- @param window count = 5 : words on each side
-- @param filter text = '' : the subcorpus, as corpus query filters, e.g. 'channel:Oxide after:2024-01-01'
-- @param min_freq count = 3 : leave out words seen near the term fewer times than this
-- @param stopwords text = '' : words to leave out: comma-separated, or 'english' for the built-in list
-- @param sort text = 'log_dice' : the measure to rank by: log_dice, mi, mi3, t_score or log_likelihood
-- @param limit count = 30 : how many words to list
SELECT word, f_xy, f_x, f_y, n,
       round(mi, 3) AS mi, round(mi3, 3) AS mi3, round(t_score, 3) AS t_score,
       round(log_dice, 3) AS log_dice, round(log_likelihood, 3) AS log_likelihood
FROM collocations(${term}, ${window}, ${filter})
WHERE f_xy >= ${min_freq} AND NOT is_stop_word(word, ${stopwords})
ORDER BY CASE ${sort}
             WHEN 'mi' THEN mi
             WHEN 'mi3' THEN mi3
             WHEN 't_score' THEN t_score
             WHEN 'log_likelihood' THEN log_likelihood
             ELSE log_dice
         END DESC,
         word
LIMIT ${limit};
