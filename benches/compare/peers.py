"""The peers of the comparison harness: DuckDB, Polars and Dask, each doing the harness's steps in its
own idiomatic way. The harness runs every step as a separate process of this script, so that wall time
and peak memory belong to that step alone:

    python peers.py ingest ENGINE CORPUS_DIR OUT_DIR

A corpus holds youtube-transcript-api JSON (`*.json`) and, in a real-speech corpus (`verbatim gen
--speech`), a share of WhisperX JSON (`*.whisperx.json`, speakers per segment) and WebVTT (`*.vtt`,
one line per cue, speakers as `<v Name>`): every engine reads all three and keeps the speaker.
    python peers.py query ENGINE QUERY FILES_LIST OUT_CSV

Settings come from the environment: THREADS (2), ZSTD_LEVEL (1), ROW_GROUP_ROWS (1048576),
MEMORY_LIMIT_BYTES (DuckDB's memory_limit; 0 = DuckDB's default), SPILL_DIR (DuckDB's temp
directory), PHRASE, WINDOW_START_MS, WINDOW_END_MS, TOP.

Every query writes CSV with a header, rows in the query's order, so that the harness can check that
all engines agree. Words are what verbatim's tokenize() calls words: runs of Unicode letters, marks
and numbers, joined across inner apostrophes, in the lowercased text.
"""

import csv
import glob
import json
import os
import sys

THREADS = int(os.environ.get("THREADS", "2"))
ZSTD_LEVEL = int(os.environ.get("ZSTD_LEVEL", "1"))
ROW_GROUP_ROWS = int(os.environ.get("ROW_GROUP_ROWS", str(1 << 20)))
MEMORY_LIMIT_BYTES = int(os.environ.get("MEMORY_LIMIT_BYTES", "0"))
SPILL_DIR = os.environ.get("SPILL_DIR", "")
PHRASE = os.environ.get("PHRASE", "of the")
WINDOW_START_MS = int(os.environ.get("WINDOW_START_MS", "600000"))
WINDOW_END_MS = int(os.environ.get("WINDOW_END_MS", "630000"))
TOP = int(os.environ.get("TOP", "100"))

os.environ.setdefault("POLARS_MAX_THREADS", str(THREADS))

WORD = r"[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*"
NOT_WORD = r"[^\p{L}\p{M}\p{N}]"


def phrase_regex(phrase):
    """Whole words of `phrase`, in order, as tokenize() splits text: between two words any run of
    non-word characters except a lone apostrophe (which joins "open'source" into one word), and no
    apostrophe joining the first or last word to a neighbour ("open source's" has the word
    "source's"). RE2 (DuckDB) and Rust's regex (Polars) have no look-around, hence the spelled-out
    alternatives."""
    words = phrase.lower().split()
    letter, apostrophe = r"\p{L}\p{M}\p{N}", "['’]"
    before = f"(^|[^{letter}'’]|(^|[^{letter}]){apostrophe})"
    between = f"([^{letter}]{{2,}}|[^{letter}'’])"
    after = f"($|[^{letter}'’]|{apostrophe}($|[^{letter}]))"
    return before + between.join(words) + after


def corpus_files(corpus):
    """Every transcript of the corpus: JSON (youtube-transcript-api or WhisperX) and WebVTT."""
    found = glob.glob(os.path.join(corpus, "**", "*.json"), recursive=True)
    found += glob.glob(os.path.join(corpus, "**", "*.vtt"), recursive=True)
    return sorted(found)


def by_format(files):
    """(youtube-transcript-api JSON, WhisperX JSON, WebVTT) files of `files`."""
    whisperx = [f for f in files if f.endswith(".whisperx.json")]
    youtube = [f for f in files if f.endswith(".json") and not f.endswith(".whisperx.json")]
    return youtube, whisperx, [f for f in files if f.endswith(".vtt")]


# A one-line WebVTT cue: start, end, speaker (optional) and text.
VTT_CUE = r"(\d+:\d\d:\d\d\.\d+) --> (\d+:\d\d:\d\d\.\d+)[^\n]*\n(?:<v ([^>]*)>)?([^\n]*)"


def vtt_seconds(clock):
    hours, minutes, seconds = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def read_transcript(path):
    """The (text, start, duration, speaker) records of one WhisperX JSON or WebVTT file, in Python."""
    import re

    if path.endswith(".vtt"):
        with open(path, encoding="utf-8") as f:
            content = f.read()
        records = []
        for start, end, speaker, text in re.findall(VTT_CUE, content):
            start, end = vtt_seconds(start), vtt_seconds(end)
            records.append((text, start, end - start, speaker or None))
        return records
    with open(path, "rb") as f:
        data = json.load(f)
    if isinstance(data, dict):
        return [(s["text"], s["start"], s["end"] - s["start"], s.get("speaker")) for s in data["segments"]]
    return [(s["text"], s["start"], s["duration"], None) for s in data]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)


# ---------------------------------------------------------------------------------------------------
# DuckDB: read_json + COPY for ingest, SQL for queries.


def duckdb_connect():
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {THREADS}")
    con.execute("SET preserve_insertion_order = false")
    if MEMORY_LIMIT_BYTES:
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT_BYTES}B'")
    if SPILL_DIR:
        con.execute(f"SET temp_directory = '{SPILL_DIR}'")
    return con


def duckdb_ingest(corpus, out):
    con = duckdb_connect()
    youtube, whisperx, vtt = by_format(corpus_files(corpus))
    parts = []
    if youtube:
        parts.append(f"""SELECT filename AS doc_id, text, start, duration, NULL::VARCHAR AS speaker
                         FROM read_json({youtube!r}, format = 'array', filename = true,
                                        columns = {{text: 'VARCHAR', start: 'DOUBLE', duration: 'DOUBLE'}})""")
    if whisperx:
        segment = 'STRUCT(start DOUBLE, "end" DOUBLE, text VARCHAR, speaker VARCHAR)[]'
        parts.append(f"""SELECT filename AS doc_id, s.text, s.start, s."end" - s.start AS duration, s.speaker
                         FROM (SELECT filename, unnest(segments) AS s
                               FROM read_json({whisperx!r}, filename = true, columns = {{segments: '{segment}'}}))""")
    if vtt:
        def seconds(clock):
            return (f"(CAST(split_part({clock}, ':', 1) AS DOUBLE) * 3600"
                    f" + CAST(split_part({clock}, ':', 2) AS DOUBLE) * 60 + CAST(split_part({clock}, ':', 3) AS DOUBLE))")

        parts.append(f"""SELECT doc_id, c.text, {seconds('c.b')} AS start, {seconds('c.e')} - {seconds('c.b')} AS duration,
                                nullif(c.speaker, '') AS speaker
                         FROM (SELECT filename AS doc_id,
                                      regexp_extract(unnest(regexp_extract_all(content, $cue)), $cue,
                                                     ['b', 'e', 'speaker', 'text']) AS c
                               FROM read_text({vtt!r}))""")
    sql = " UNION ALL ".join(parts)
    con.execute(
        f"""COPY ({sql})
            TO '{out}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {ZSTD_LEVEL},
                        ROW_GROUP_SIZE {ROW_GROUP_ROWS}, PER_THREAD_OUTPUT true)""",
        {"cue": VTT_CUE} if vtt else {},
    )
    return con.execute(f"SELECT count(*) FROM read_parquet('{out}/*.parquet')").fetchone()[0]


# Talk time and turns (runs of consecutive segments by one speaker) per document and speaker, the
# longest first: the same SQL in DuckDB and verbatim.
SPEAKER_TIME_SQL = """
    SELECT doc_id, speaker, sum(end_ms - start_ms) AS talk_ms,
           sum(CASE WHEN previous IS DISTINCT FROM speaker THEN 1 ELSE 0 END) AS turns
    FROM (SELECT doc_id, coalesce(speaker, '') AS speaker, start_ms, end_ms,
                 lag(coalesce(speaker, '')) OVER (PARTITION BY doc_id ORDER BY seq) AS previous
          FROM segments)
    GROUP BY doc_id, speaker
    ORDER BY talk_ms DESC, doc_id, speaker LIMIT $top"""

DUCKDB_QUERIES = {
    "top_words": """
        SELECT word, count(*) AS n
        FROM (SELECT unnest(regexp_extract_all(lower(text), $word)) AS word FROM segments)
        GROUP BY word ORDER BY n DESC, word LIMIT $top""",
    "top_bigrams": """
        SELECT bigram, count(*) AS n
        FROM (SELECT unnest(list_transform(range(1, len(w)), lambda i: w[i] || ' ' || w[i + 1])) AS bigram
              FROM (SELECT regexp_extract_all(lower(text), $word) AS w FROM segments))
        GROUP BY bigram ORDER BY n DESC, bigram LIMIT $top""",
    "phrase_search": """
        SELECT doc_id, seq, start_ms, end_ms, text FROM segments
        WHERE regexp_matches(lower(text), $phrase)
        ORDER BY doc_id, seq LIMIT $top""",
    "phrase_search_all": """
        SELECT doc_id, seq, start_ms, end_ms, text FROM segments
        WHERE regexp_matches(lower(text), $phrase)
        ORDER BY doc_id, seq""",
    "speaker_time": SPEAKER_TIME_SQL,
    "doc_stats": """
        SELECT doc_id, count(*) AS segments, sum(len(regexp_extract_all(lower(text), $word))) AS words,
               max(end_ms) - min(start_ms) AS span_ms,
               round(sum(len(regexp_extract_all(lower(text), $word))) * 60000.0 / (max(end_ms) - min(start_ms)), 2) AS wpm
        FROM segments GROUP BY doc_id HAVING max(end_ms) > min(start_ms)
        ORDER BY wpm DESC, doc_id LIMIT $top""",
    "time_window": """
        SELECT doc_id, seq, start_ms, end_ms, text FROM segments
        WHERE start_ms >= $window_start AND start_ms < $window_end
        ORDER BY doc_id, seq LIMIT $top""",
    "longest_pauses": """
        SELECT doc_id, seq, start_ms, gap_ms FROM (
            SELECT doc_id, seq, start_ms,
                   start_ms - lag(end_ms) OVER (PARTITION BY doc_id ORDER BY seq) AS gap_ms
            FROM segments)
        WHERE gap_ms IS NOT NULL
        ORDER BY gap_ms DESC, doc_id, seq LIMIT $top""",
}


def duckdb_query(name, files, out):
    con = duckdb_connect()
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(f"CREATE VIEW segments AS SELECT * FROM read_parquet([{listed}])")
    sql = DUCKDB_QUERIES[name]
    params = {
        "word": WORD,
        "top": TOP,
        "phrase": phrase_regex(PHRASE),
        "window_start": WINDOW_START_MS,
        "window_end": WINDOW_END_MS,
    }
    used = {k: v for k, v in params.items() if "$" + k in sql}
    cursor = con.execute(sql, used)
    header = [d[0] for d in cursor.description]
    write_csv(out, header, cursor.fetchall())


# ---------------------------------------------------------------------------------------------------
# Polars: read_json on a thread pool for ingest, lazy scans on the streaming engine for queries.


def polars_ingest(corpus, out):
    from concurrent.futures import ThreadPoolExecutor

    import polars as pl

    files = corpus_files(corpus)
    os.makedirs(out, exist_ok=True)
    schema = {"text": pl.String, "start": pl.Float64, "duration": pl.Float64}

    def read(path):
        if path.endswith(".json") and not path.endswith(".whisperx.json"):
            frame = pl.read_json(path, schema=schema).with_columns(pl.lit(None, pl.String).alias("speaker"))
        else:
            frame = pl.DataFrame(read_transcript(path), schema=dict(schema, speaker=pl.String), orient="row")
        return frame.with_columns(pl.lit(path).alias("doc_id"))

    rows = 0
    batch = 2000
    with ThreadPoolExecutor(THREADS) as pool:
        for part, first in enumerate(range(0, len(files), batch)):
            frame = pl.concat(pool.map(read, files[first : first + batch]))
            frame.select("doc_id", "text", "start", "duration", "speaker").write_parquet(
                os.path.join(out, f"part-{part:05}.parquet"),
                compression="zstd",
                compression_level=ZSTD_LEVEL,
                row_group_size=ROW_GROUP_ROWS,
            )
            rows += frame.height
    return rows


def polars_query(name, files, out):
    import polars as pl

    seg = pl.scan_parquet(files)
    lowered = pl.col("text").str.to_lowercase()

    def top_counts(frame, column):
        """The TOP most frequent values of list column `column`, ties by value."""
        return (
            frame.explode(column)
            .drop_nulls()
            .group_by(column)
            .agg(pl.len().alias("n"))
            .sort(["n", column], descending=[True, False])
            .head(TOP)
        )

    if name == "top_words":
        q = top_counts(seg.select(lowered.str.extract_all(WORD).alias("word")), "word")
    elif name == "top_bigrams":
        bigrams = (
            pl.col("w")
            .list.eval(pl.concat_str([pl.element(), pl.element().shift(-1)], separator=" "))
            .list.drop_nulls()
            .alias("bigram")
        )
        q = top_counts(seg.select(lowered.str.extract_all(WORD).alias("w")).select(bigrams), "bigram")
    elif name == "phrase_search":
        q = (
            seg.filter(lowered.str.contains(phrase_regex(PHRASE)))
            .select("doc_id", "seq", "start_ms", "end_ms", "text")
            .sort(["doc_id", "seq"])
            .head(TOP)
        )
    elif name == "phrase_search_all":
        q = (
            seg.filter(lowered.str.contains(phrase_regex(PHRASE)))
            .select("doc_id", "seq", "start_ms", "end_ms", "text")
            .sort(["doc_id", "seq"])
        )
    elif name == "speaker_time":
        speaker = pl.col("speaker").fill_null("")
        q = (
            seg.select(
                "doc_id",
                speaker.alias("speaker"),
                (pl.col("end_ms") - pl.col("start_ms")).alias("talk"),
                speaker.shift(1).over("doc_id", order_by="seq").alias("previous"),
            )
            .group_by("doc_id", "speaker")
            .agg(
                pl.col("talk").sum().alias("talk_ms"),
                pl.col("previous").ne_missing(pl.col("speaker")).cast(pl.Int64).sum().alias("turns"),
            )
            .sort(["talk_ms", "doc_id", "speaker"], descending=[True, False, False])
            .head(TOP)
        )
    elif name == "doc_stats":
        q = (
            seg.group_by("doc_id")
            .agg(
                pl.len().alias("segments"),
                lowered.str.count_matches(WORD).sum().alias("words"),
                (pl.col("end_ms").max() - pl.col("start_ms").min()).alias("span_ms"),
            )
            .filter(pl.col("span_ms") > 0)
            .with_columns((pl.col("words") * 60000.0 / pl.col("span_ms")).round(2).alias("wpm"))
            .sort(["wpm", "doc_id"], descending=[True, False])
            .head(TOP)
        )
    elif name == "time_window":
        q = (
            seg.filter((pl.col("start_ms") >= WINDOW_START_MS) & (pl.col("start_ms") < WINDOW_END_MS))
            .select("doc_id", "seq", "start_ms", "end_ms", "text")
            .sort(["doc_id", "seq"])
            .head(TOP)
        )
    elif name == "longest_pauses":
        q = (
            seg.select(
                "doc_id",
                "seq",
                "start_ms",
                (pl.col("start_ms") - pl.col("end_ms").shift(1).over("doc_id", order_by="seq")).alias("gap_ms"),
            )
            .drop_nulls("gap_ms")
            .sort(["gap_ms", "doc_id", "seq"], descending=[True, False, False])
            .head(TOP)
        )
    else:
        raise SystemExit(f"unknown query {name}")
    frame = q.collect(engine="streaming")
    write_csv(out, frame.columns, frame.iter_rows())


# ---------------------------------------------------------------------------------------------------
# Dask: the seed's tool. Bags of files parsed with json in worker processes for ingest (threads would
# serialise on the GIL), dask.dataframe over Parquet for queries, with the `regex` module for words.


def dask_setup():
    import dask

    dask.config.set(scheduler="processes", num_workers=THREADS)


def _dask_load_files(paths):
    import pandas as pd

    frames = []
    for path in paths:
        if path.endswith(".json") and not path.endswith(".whisperx.json"):
            with open(path, "rb") as f:
                frame = pd.DataFrame.from_records(json.load(f), columns=["text", "start", "duration"])
            frame["speaker"] = None
        else:
            frame = pd.DataFrame.from_records(read_transcript(path), columns=["text", "start", "duration", "speaker"])
        frame.insert(0, "doc_id", path)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def dask_ingest(corpus, out):
    import dask
    import dask.dataframe as dd
    import pandas as pd

    dask_setup()
    files = corpus_files(corpus)
    per_partition = 500
    parts = [dask.delayed(_dask_load_files)(files[i : i + per_partition]) for i in range(0, len(files), per_partition)]
    meta = pd.DataFrame(
        {"doc_id": pd.Series(dtype=object), "text": pd.Series(dtype=object), "start": pd.Series(dtype="float64"),
         "duration": pd.Series(dtype="float64"), "speaker": pd.Series(dtype=object)}
    )
    frame = dd.from_delayed(parts, meta=meta, verify_meta=False)
    frame.to_parquet(out, compression="zstd", compression_level=ZSTD_LEVEL, row_group_size=ROW_GROUP_ROWS, write_index=False)
    return int(dd.read_parquet(out, columns=["start"]).shape[0].compute())


def _words(text):
    import regex

    return regex.findall(WORD, text.lower())


def _bigrams(text):
    w = _words(text)
    return [a + " " + b for a, b in zip(w, w[1:])]


def _sorted_top(pairs):
    return sorted(pairs, key=lambda kv: (-kv[1], kv[0]))[:TOP]


def dask_query(name, files, out):
    import dask.dataframe as dd
    import regex

    dask_setup()
    if name in ("top_words", "top_bigrams"):
        texts = dd.read_parquet(files, columns=["text"]).text.to_bag()
        split = _words if name == "top_words" else _bigrams
        counts = texts.map(split).flatten().frequencies()
        rows = _sorted_top(counts.topk(TOP * 2, key=lambda kv: kv[1]).compute())
        write_csv(out, ["word" if name == "top_words" else "bigram", "n"], rows)
        return
    columns = ["doc_id", "seq", "start_ms", "end_ms", "text"]
    if name in ("phrase_search", "phrase_search_all"):
        pattern = regex.compile(phrase_regex(PHRASE))
        seg = dd.read_parquet(files, columns=columns)
        hits = seg[seg.text.map(lambda t: pattern.search(t.lower()) is not None, meta=("text", bool))]
        if name == "phrase_search":
            head = hits.map_partitions(lambda d: d.sort_values(["doc_id", "seq"]).head(TOP)).compute()
            rows = head.sort_values(["doc_id", "seq"]).head(TOP)
        else:
            rows = hits.compute().sort_values(["doc_id", "seq"])
    elif name == "speaker_time":
        seg = dd.read_parquet(files, columns=["doc_id", "seq", "start_ms", "end_ms", "speaker"])

        def talk(part):
            part = part.sort_values(["doc_id", "seq"]).assign(speaker=part.speaker.fillna(""))
            previous = part.groupby("doc_id").speaker.shift(1)
            part = part.assign(talk=part.end_ms - part.start_ms,
                               turn=(previous.isna() | (previous != part.speaker)).astype("int64"))
            return part.groupby(["doc_id", "speaker"], as_index=False).agg(talk_ms=("talk", "sum"), turns=("turn", "sum"))

        meta = {"doc_id": object, "speaker": object, "talk_ms": "int64", "turns": "int64"}
        # A shuffle on doc_id puts each document in one partition; then talk time is per-partition work.
        per_speaker = seg.shuffle(on="doc_id").map_partitions(talk, meta=meta)
        order = (["talk_ms", "doc_id", "speaker"], [False, True, True])
        head = per_speaker.map_partitions(lambda d: d.sort_values(order[0], ascending=order[1]).head(TOP)).compute()
        rows = head.sort_values(order[0], ascending=order[1]).head(TOP)
    elif name == "time_window":
        seg = dd.read_parquet(files, columns=columns, filters=[("start_ms", ">=", WINDOW_START_MS),
                                                                ("start_ms", "<", WINDOW_END_MS)])
        seg = seg[(seg.start_ms >= WINDOW_START_MS) & (seg.start_ms < WINDOW_END_MS)]
        head = seg.map_partitions(lambda d: d.sort_values(["doc_id", "seq"]).head(TOP)).compute()
        rows = head.sort_values(["doc_id", "seq"]).head(TOP)
    elif name == "doc_stats":
        seg = dd.read_parquet(files, columns=["doc_id", "start_ms", "end_ms", "text"])
        seg = seg.assign(words=seg.text.map(lambda t: len(_words(t)), meta=("words", "int64")))
        stats = seg.groupby("doc_id").agg(
            segments=("start_ms", "count"), words=("words", "sum"), first=("start_ms", "min"), last=("end_ms", "max")
        ).compute()
        stats["span_ms"] = stats["last"] - stats["first"]
        stats = stats[stats.span_ms > 0].reset_index()
        stats["wpm"] = (stats.words * 60000.0 / stats.span_ms).round(2)
        rows = stats.sort_values(["wpm", "doc_id"], ascending=[False, True]).head(TOP)
        rows = rows[["doc_id", "segments", "words", "span_ms", "wpm"]]
    elif name == "longest_pauses":
        seg = dd.read_parquet(files, columns=["doc_id", "seq", "start_ms", "end_ms"])

        def gaps(part):
            part = part.sort_values(["doc_id", "seq"])
            gap = part.start_ms - part.groupby("doc_id").end_ms.shift(1)
            return part[["doc_id", "seq", "start_ms"]].assign(gap_ms=gap).dropna(subset=["gap_ms"])

        meta = {"doc_id": object, "seq": "int32", "start_ms": "int64", "gap_ms": "float64"}
        # A shuffle on doc_id puts each document in one partition; then the gaps are per-partition work.
        with_gaps = seg.shuffle(on="doc_id").map_partitions(gaps, meta=meta)
        head = with_gaps.map_partitions(
            lambda d: d.sort_values(["gap_ms", "doc_id", "seq"], ascending=[False, True, True]).head(TOP)
        ).compute()
        rows = head.sort_values(["gap_ms", "doc_id", "seq"], ascending=[False, True, True]).head(TOP)
        rows = rows.astype({"gap_ms": "int64"})
    else:
        raise SystemExit(f"unknown query {name}")
    write_csv(out, list(rows.columns), rows.itertuples(index=False))


# ---------------------------------------------------------------------------------------------------

INGEST = {"duckdb": duckdb_ingest, "polars": polars_ingest, "dask": dask_ingest}
QUERY = {"duckdb": duckdb_query, "polars": polars_query, "dask": dask_query}


def main(argv):
    if len(argv) == 5 and argv[1] == "ingest":
        rows = INGEST[argv[2]](argv[3], argv[4])
        print(json.dumps({"rows": rows}))
    elif len(argv) == 6 and argv[1] == "query":
        with open(argv[4]) as f:
            files = [line.strip() for line in f if line.strip()]
        QUERY[argv[2]](argv[3], files, argv[5])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
