-- Every place something is said, also where captions split it ("data pipelines to national /
-- supercomputing"): one row per occurrence, at the segment where it starts, with HH:MM:SS, a
-- YouTube deep link when the video id is known, the hit and its context. The phrase is the
-- corpus query language: words as tokenize() splits them (case, punctuation and caption breaks
-- ignored), "quoted phrases", NEAR/n and ORDERED/n (at most n words between), safe* (prefix),
-- * (any one word), /colou?r/ (a regular expression over one word), AND, OR, NOT, parentheses,
-- and the filters speaker:, channel:, lang:, after:YYYY-MM-DD and before:YYYY-MM-DD. Answered
-- from the archive's phrase indexes; chunks written without one are scanned, with the same answers.
--
-- @param phrase text : what to find, e.g. 'national supercomputing' or 'python NEAR/5 fast*'
-- Each hit carries the archive version it was read from and its document's content hash, so a
-- published list can be reproduced with --as-of VERSION after later runs replaced documents.
--
-- @param limit count = 1000000000 : at most this many hits
-- @param since count = 0 : only documents added or replaced after this version (0: all)
SELECT doc_id,
       seq,
       word_index,
       start,
       hms(end_ms) AS "end",
       speaker,
       left_context,
       hit,
       right_context,
       link,
       version,
       content_hash
FROM search(${phrase}, 1, ${limit}, ${since})
ORDER BY doc_id, seq, word_index;
