#!/usr/bin/env bash
# Out-of-core check at scale: generate a corpus, ingest it and run top-words under a memory budget,
# record peak RSS (GNU time) and throughput, and check top-words against DuckDB on the same Parquet
# with the same tokenisation. Writes benches/results/scale-<SIZE>.md.
#
#   benches/scale.sh [SIZE=5GB] [MEMORY_LIMIT=512MiB]
#
# Needs: a release build (built here if missing), python3 (DuckDB is installed into its own venv),
# GNU time at /usr/bin/time, and about 1.3 x SIZE of free disk in $WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

SIZE="${1:-5GB}"
LIMIT="${2:-512MiB}"
SEED="${SEED:-1}"
TOP="${TOP:-100}"
WORK="${WORK:-${TMPDIR:-/tmp}/verbatim-scale-$SIZE}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/verbatim-target}"
VENV="${VERBATIM_BENCH_VENV:-$HOME/.cache/verbatim-bench-venv}"
OUT="benches/results/scale-$SIZE.md"

cargo build --release --quiet
V="$CARGO_TARGET_DIR/release/verbatim"
ensure_duckdb "$VENV"

mkdir -p "$WORK"
once "$WORK/corpus" "$V" gen --out "$WORK/corpus" --size "$SIZE" --seed "$SEED"
CORPUS_BYTES=$(du -sb "$WORK/corpus" | cut -f1)
rm -rf "$WORK/archive"
# Timed runs start with the corpus in the page cache, so that runs compare code, not disk state.
find "$WORK/corpus" -type f -print0 | xargs -0 cat > /dev/null

peak_rss_kib() { grep "Maximum resident set size" "$1" | awk '{print $NF}'; }

echo "== ingest $SIZE under --memory-limit $LIMIT"
/usr/bin/time -v -o "$WORK/ingest.time" "$V" ingest "$WORK/corpus" --archive "$WORK/archive" --memory-limit "$LIMIT" 2> "$WORK/ingest.log" || {
    status=$?; cat "$WORK/ingest.log"; [ "$status" -eq 3 ] || exit "$status"; }
tail -n 3 "$WORK/ingest.log"

echo "== top-words under --memory-limit $LIMIT"
/usr/bin/time -v -o "$WORK/top.time" "$V" run top-words --archive "$WORK/archive" --memory-limit "$LIMIT" \
    --spill-dir "$WORK/spill" --format csv --param limit="$TOP" > "$WORK/top-verbatim.csv" 2> "$WORK/top.log"
cat "$WORK/top.log"

echo "== DuckDB, same Parquet, same tokenisation"
"$VENV/bin/python" - "$WORK/archive" "$TOP" "$WORK/top-duckdb.csv" <<'PY'
import csv, glob, json, os, sys
import duckdb
archive, top, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
manifests = sorted(glob.glob(os.path.join(archive, "_verbatim/manifests/*.json")))
files = [os.path.join(archive, f["path"]) for f in json.load(open(manifests[-1]))["tables"]["segments"]]
con = duckdb.connect()
con.execute("SET threads = 2")
rows = con.execute(
    r"""SELECT word, count(*) AS count
        FROM (SELECT unnest(regexp_extract_all(lower(text), '[\p{L}\p{M}\p{N}]+(?:[''’][\p{L}\p{M}\p{N}]+)*')) AS word
              FROM read_parquet(?))
        GROUP BY word ORDER BY count DESC, word LIMIT ?""",
    [files, top],
).fetchall()
with open(out, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["word", "count"])
    w.writerows(rows)
PY
if cmp -s "$WORK/top-verbatim.csv" "$WORK/top-duckdb.csv"; then AGREE="yes: the top $TOP rows are identical"; else
    AGREE="NO"; diff "$WORK/top-verbatim.csv" "$WORK/top-duckdb.csv" | head -20; fi
echo "agreement with DuckDB: $AGREE"

INGEST_S=$(wall_seconds "$WORK/ingest.time"); TOP_S=$(wall_seconds "$WORK/top.time")
INGEST_RSS=$(peak_rss_kib "$WORK/ingest.time"); TOP_RSS=$(peak_rss_kib "$WORK/top.time")
ARCHIVE_BYTES=$(du -sb "$WORK/archive" | cut -f1)
SEGMENTS=$("$V" sql -q --archive "$WORK/archive" --format csv "SELECT count(*) FROM segments" | tail -n 1)
mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
{
    echo "# Out-of-core at $SIZE, memory limit $LIMIT"
    echo
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo). Run $(date -u +%Y-%m-%dT%H:%MZ), verbatim $(git rev-parse --short HEAD), \`benches/scale.sh $SIZE $LIMIT\`."
    echo
    echo "Corpus: \`verbatim gen --size $SIZE --seed $SEED\`: $(find "$WORK/corpus" -name '*.json' | wc -l) files, $(awk -v b="$CORPUS_BYTES" 'BEGIN{printf "%.2f GB", b/1e9}') of JSON, $SEGMENTS segments; archive $(awk -v b="$ARCHIVE_BYTES" 'BEGIN{printf "%.2f GB", b/1e9}') of zstd Parquet."
    echo
    echo "Timings are with the corpus in the page cache (read once before the runs)."
    echo
    echo "| step | wall time | throughput | peak RSS | budget |"
    echo "|---|---|---|---|---|"
    echo "| ingest | ${INGEST_S} s | $(awk -v b="$CORPUS_BYTES" -v s="$INGEST_S" 'BEGIN{printf "%.0f MB/s of JSON", b/1e6/s}') | $(mib "$INGEST_RSS") | $LIMIT |"
    echo "| top-words (limit $TOP) | ${TOP_S} s | $(awk -v b="$CORPUS_BYTES" -v s="$TOP_S" 'BEGIN{printf "%.0f MB/s of JSON-equivalent", b/1e6/s}') | $(mib "$TOP_RSS") | $LIMIT |"
    echo
    echo "Top-words equals DuckDB $("$VENV/bin/python" -c 'import duckdb; print(duckdb.__version__)') on the same Parquet (\`regexp_extract_all(lower(text), '[\\p{L}\\p{M}\\p{N}]+(?:['’][\\p{L}\\p{M}\\p{N}]+)*')\`): $AGREE."
    echo
    echo "Top 10:"
    echo
    echo '```'
    head -n 11 "$WORK/top-verbatim.csv"
    echo '```'
} > "$OUT"
cat "$OUT"
