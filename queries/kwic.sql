-- A concordance: every hit of a query, aligned in a column between the words before and after
-- it (keyword in context), with its time and a deep link. The query is the corpus query language
-- `search` takes: a phrase, NEAR/n, ORDERED/n, prefixes (safe*), * for one word, /regex/ words,
-- AND, OR, NOT and filters (speaker:, channel:, lang:, after:, before:). Hits can be sorted by
-- the words right or left of them (R1,R2 / L1), grouped by document, channel, speaker or month
-- (largest group first, with its size), and paged.
--
-- @param phrase text : what to find, e.g. 'out of core' or '"memory safe*" NEAR/5 rust'
-- @param width count = 40 : characters of context on each side
-- @param sort text = '' : the words to sort by: R1, R2, ... right of the hit, L1, L2, ... left, e.g. 'R1,R2'; '' for document order
-- @param group choice(document|channel|speaker|month) = '' : group hits by document, channel, speaker or month; '' for no groups
-- @param since count = 0 : only documents added or replaced after this version (0: all)
-- @param offset count = 0 : lines to skip (for paging)
-- @param limit count = 1000 : at most this many lines
-- Groups are counted by an aggregate joined back to the hits (not a window over all of them,
-- which would hold every hit in memory at once); without groups that aggregate reads nothing, and
-- `group` and `group_hits` are NULL.
WITH hits AS (
    SELECT *,
           CASE lower(${group})
               WHEN 'document' THEN doc_id
               WHEN 'channel' THEN coalesce(channel, '')
               WHEN 'speaker' THEN coalesce(speaker, '')
               WHEN 'month' THEN coalesce(substr(published_at, 1, 7), '')
           END AS "group"
    FROM search(${phrase}, 1, 1000000000, ${since})
),
groups AS (
    SELECT "group", count(*) AS group_hits FROM hits WHERE ${group} <> '' GROUP BY "group"
)
SELECT h."group",
       g.group_hits,
       h.doc_id,
       h.start,
       lpad(right(h.left_context, ${width}), ${width}) || ' | ' || h.hit || ' | ' || left(h.right_context, ${width}) AS line,
       h.link
FROM groups g
RIGHT JOIN hits h ON g."group" = h."group"
ORDER BY g.group_hits DESC NULLS LAST, h."group", context_key(h.left_context, h.right_context, ${sort}),
         h.doc_id, h.seq, h.word_index
LIMIT ${limit} OFFSET ${offset};
