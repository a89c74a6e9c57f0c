-- A concordance: every hit of a query, aligned in a column between the words before and after
-- it (keyword in context), with its time and a deep link. The query is the corpus query language
-- `search` takes: a phrase, NEAR/n, ORDERED/n, prefixes (safe*), * for one word, /regex/ words,
-- AND, OR, NOT and filters (speaker:, channel:, lang:, after:, before:).
--
-- @param phrase text : what to find, e.g. 'out of core' or '"memory safe*" NEAR/5 rust'
-- @param width integer = 40 : characters of context on each side
-- @param limit integer = 1000 : at most this many lines
SELECT doc_id,
       start,
       lpad(right(left_context, ${width}), ${width}) || ' | ' || hit || ' | ' || left(right_context, ${width}) AS line,
       link
FROM search(${phrase}, 1)
ORDER BY doc_id, seq, word_index
LIMIT ${limit};
