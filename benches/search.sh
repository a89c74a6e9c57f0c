#!/usr/bin/env bash
# Phrase search on real speech: builds a corpus of SIZE from the podcast transcripts in
# benches/corpora/oxide-and-friends (`verbatim gen --speech`), ingests it with phrase indexes and
# with --no-phrase-index, alternating, 3 times each (medians), to measure what the index costs in
# time and bytes, then
# times `verbatim run search` (every hit, ordered, with context and links, as CSV) against DuckDB's
# `lower(text) LIKE '%phrase%'` over the same Parquet files, for phrases from common to rare,
# alternating the engines, 3 runs each (medians). Also times the scan fallback once and checks
# that the index and the scan give the same hits. Writes benches/results/search-<SIZE>.md.
#
#   benches/search.sh [SIZE=5GB] [MEMORY_LIMIT=2GiB]     (KEEP_ARCHIVES=1: reuse the archives)
#
# Needs: a release build (built here if missing), GNU time at /usr/bin/time, python3 (DuckDB is
# installed into VERBATIM_BENCH_VENV, default ~/.cache/verbatim-bench-venv), and about 2 x SIZE of
# free disk in $WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

SIZE="${1:-5GB}"
LIMIT="${2:-2GiB}"
WORK="${WORK:-${TMPDIR:-/tmp}/verbatim-search-$SIZE}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/verbatim-target}"
VENV="${VERBATIM_BENCH_VENV:-$HOME/.cache/verbatim-bench-venv}"
OUT="benches/results/search-$SIZE.md"
PHRASES=("open source" "service processor" "memory safety" "undefined behavior" "tail latency")
SCANNED_PHRASE="memory safety"

cargo build --release --quiet
V="$CARGO_TARGET_DIR/release/verbatim"
ensure_duckdb "$VENV"
mkdir -p "$WORK"
once "$WORK/speech" "$V" gen --speech benches/corpora/oxide-and-friends --size "$SIZE" --out "$WORK/speech"
CORPUS_BYTES=$(du -sb "$WORK/speech" | cut -f1)
CORPUS_FILES=$(find "$WORK/speech" -type f | wc -l)


# Ingest, alternating with and without the index, three times each; medians count (single runs on
# a small shared machine vary by a quarter).
find "$WORK/speech" -type f -print0 | xargs -0 cat > /dev/null
# KEEP_ARCHIVES=1 keeps the archives (and ingest times) of a previous run, to time searches again.
for round in 1 2 3; do
    [ "${KEEP_ARCHIVES:-0}" = 1 ] && [ -f "$WORK/ingest-plain-3.time" ] && break
    for kind in indexed plain; do
        rm -rf "$WORK/$kind"
        flag=(); [ "$kind" = plain ] && flag=(--no-phrase-index)
        echo "== ingest ($kind, round $round)"
        timed "ingest-$kind-$round" "$V" ingest -q "$WORK/speech" --archive "$WORK/$kind" --memory-limit "$LIMIT" \
            --threads 2 "${flag[@]}"
    done
done
ingest_times() { for round in 1 2 3; do wall_seconds "$WORK/ingest-$1-$round.time"; done; }
INGEST_INDEXED=$(median $(ingest_times indexed))
INGEST_PLAIN=$(median $(ingest_times plain))
INGEST_INDEXED_ALL=$(ingest_times indexed | paste -sd/)
INGEST_PLAIN_ALL=$(ingest_times plain | paste -sd/)
RSS_INDEXED=$(peak_rss_mib "$WORK/ingest-indexed-3.time")
RSS_PLAIN=$(peak_rss_mib "$WORK/ingest-plain-3.time")
SEGMENTS_BYTES=$(bytes_under "$WORK/indexed/segments" '*.parquet')
INDEX_BYTES=$(bytes_under "$WORK/indexed/segments" '*.phrases')
CHUNKS=$(find "$WORK/indexed/segments" -name '*.parquet' | wc -l)
SEGMENTS_ROWS=$("$V" sql -q --archive "$WORK/indexed" --format csv "SELECT count(*) FROM segments" | tail -1)

# DuckDB reads the same Parquet files: the indexed archive's committed segments chunks.
cat > "$WORK/duck.py" <<'PY'
import glob, json, os, sys, time
import duckdb
archive, phrase, out = sys.argv[1], sys.argv[2], sys.argv[3]
manifest = sorted(glob.glob(os.path.join(archive, "_verbatim/manifests/*.json")))[-1]
files = [os.path.join(archive, f["path"]) for f in json.load(open(manifest))["tables"]["segments"]]
con = duckdb.connect()
con.execute("SET threads = 2")
started = time.time()
con.execute(
    f"COPY (SELECT doc_id, seq, start_ms, end_ms, text FROM read_parquet({files!r}) "
    f"WHERE lower(text) LIKE '%{phrase}%' ORDER BY doc_id, seq) TO '{out}' (HEADER, DELIMITER ',')"
)
print(f"{time.time() - started:.3f}")
PY

ROWS=""
for phrase in "${PHRASES[@]}"; do
    slug=${phrase// /-}
    v_times=(); d_times=()
    for run in 1 2 3; do
        echo "== \"$phrase\" run $run"
        timed "search-$slug-$run" "$V" run -q search --archive "$WORK/indexed" --memory-limit "$LIMIT" \
            --threads 2 --format csv --output "$WORK/verbatim-$slug.csv" --param "phrase=$phrase"
        v_times+=("$(wall_seconds "$WORK/search-$slug-$run.time")")
        d_times+=("$("$VENV/bin/python" "$WORK/duck.py" "$WORK/indexed" "$phrase" "$WORK/duckdb-$slug.csv")")
    done
    v=$(median "${v_times[@]}"); d=$(median "${d_times[@]}")
    v_rss=$(peak_rss_mib "$WORK/search-$slug-3.time")
    hits=$(($(wc -l < "$WORK/verbatim-$slug.csv") - 1))
    like=$(($(wc -l < "$WORK/duckdb-$slug.csv") - 1))
    across=$("$V" sql -q --archive "$WORK/indexed" --memory-limit "$LIMIT" --format csv \
        "SELECT count(*) FROM search_hits('$phrase', 0) WHERE NOT phrase_match(text, '$phrase')" | tail -1)
    ratio=$(awk -v d="$d" -v v="$v" 'BEGIN {printf "%.1f", d / v}')
    ROWS+="| \"$phrase\" | $hits | $across | $like | $v s, $v_rss MiB | $d s | ${ratio}x |"$'\n'
done

# The scan fallback on the archive without indexes: same hits, and its time.
slug=${SCANNED_PHRASE// /-}
timed "scan-$slug" "$V" run -q search --archive "$WORK/plain" --memory-limit "$LIMIT" --threads 2 --format csv \
    --output "$WORK/scan-$slug.csv" --param "phrase=$SCANNED_PHRASE"
cmp "$WORK/scan-$slug.csv" "$WORK/verbatim-$slug.csv"
SCAN_SECONDS=$(wall_seconds "$WORK/scan-$slug.time")
SCAN_RSS=$(peak_rss_mib "$WORK/scan-$slug.time")

INDEX_SHARE=$(percent "$INDEX_BYTES" "$SEGMENTS_BYTES")
INGEST_ADDED=$(awk -v a="$INGEST_INDEXED" -v b="$INGEST_PLAIN" 'BEGIN {printf "%.1f", 100 * (a - b) / b}')
mkdir -p benches/results
cat > "$OUT" <<EOF
# Phrase search on $SIZE of real speech

\`benches/search.sh $SIZE $LIMIT\` on $(nproc) cores, $(date -u +%Y-%m-%d). Corpus: \`verbatim gen --speech
benches/corpora/oxide-and-friends --size $SIZE\`: $CORPUS_FILES files, $(mib "$CORPUS_BYTES") MiB of
youtube-transcript-api JSON (a tenth WebVTT, a tenth WhisperX), $SEGMENTS_ROWS captions in $CHUNKS chunks.
Both engines with 2 threads, warm page cache; search times are medians of 3 alternating runs.

## What the index costs

| | without index | with index | |
|---|---|---|---|
| ingest (median of 3; all runs) | $INGEST_PLAIN s, $RSS_PLAIN MiB ($INGEST_PLAIN_ALL s) | $INGEST_INDEXED s, $RSS_INDEXED MiB ($INGEST_INDEXED_ALL s) | +$INGEST_ADDED% time |
| bytes | segments $(mib "$SEGMENTS_BYTES") MiB | phrase indexes $(mib "$INDEX_BYTES") MiB | $INDEX_SHARE% of segments |

## Every hit of a phrase

verbatim: \`verbatim run search --param phrase=… --format csv --output FILE\` (every hit, ordered by
document and caption, with time, link and one caption of context each side). DuckDB: \`COPY (SELECT
doc_id, seq, start_ms, end_ms, text FROM read_parquet(<the same segments files>) WHERE lower(text)
LIKE '%phrase%' ORDER BY doc_id, seq) TO 'FILE'\`. "Across captions" counts verbatim's hits whose
phrase does not fit in the caption where it starts (\`NOT phrase_match(text, phrase)\`): the hits a
per-caption scan misses. DuckDB's \`LIKE\` also matches inside words ("open sourced").

| phrase | verbatim hits | of them across captions | DuckDB LIKE rows | verbatim | DuckDB | DuckDB / verbatim |
|---|---|---|---|---|---|---|
$ROWS
Without indexes (\`--no-phrase-index\`), \`search\` scans the text: "$SCANNED_PHRASE" took $SCAN_SECONDS s at
$SCAN_RSS MiB, with output byte-identical to the indexed search.
EOF
cat "$OUT"
