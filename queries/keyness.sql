-- Keywords: the words over- and under-used in one subcorpus against another (channel against
-- channel, this year against last, one speaker against the rest), with their frequencies and
-- rates per million words, Rayson and Garside's log-likelihood and Hardie's log ratio (positive:
-- more frequent in the target; a frequency of 0 is taken as 0.5), most significant first.
--
-- @param target text : the target subcorpus, as corpus query filters, e.g. 'channel:Oxide'
-- @param reference text = '' : the reference subcorpus, as filters; '' for the rest of the archive
-- @param min_freq count = 5 : leave out words said fewer times than this in both together
-- @param stopwords text = '' : words to leave out: comma-separated, or 'english' for the built-in list
-- @param limit count = 50 : how many words to list
SELECT word, f_target, f_reference,
       round(per_million_target, 2) AS per_million_target,
       round(per_million_reference, 2) AS per_million_reference,
       round(log_likelihood, 3) AS log_likelihood,
       round(log_ratio, 3) AS log_ratio
FROM keyness(${target}, ${reference}, ${min_freq})
WHERE NOT is_stop_word(word, ${stopwords})
ORDER BY log_likelihood DESC, word
LIMIT ${limit};
