#!/usr/bin/env bash
# The Python package against the CLI on real speech: builds a corpus of SIZE from the podcast
# transcripts in benches/corpora/oxide-and-friends (`verbatim gen --speech`), ingests it once,
# then times, 3 runs each (medians), alternating:
#   - `verbatim sql Q --format parquet --output F` (the whole command: start, open, run, write);
#   - in a fresh Python process: `verbatim.Archive(A).sql(Q).to_arrow()` and `.to_pandas()`
#     (from before opening the archive to the last row; importing verbatim, and pandas for
#     to_pandas(), is timed apart),
# for the top words and every hit of a phrase, with peak RSS. Writes
# benches/results/python-<SIZE>.md.
#
#   benches/python.sh [SIZE=1GB] [MEMORY_LIMIT=2GiB]
#
# Needs: release builds of the CLI and of the Python package (a wheel from
# `maturin build --release` in python/, installed here into VERBATIM_BENCH_VENV with pyarrow and
# pandas), GNU time at /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

SIZE="${1:-1GB}"
LIMIT="${2:-2GiB}"
WORK="${WORK:-${TMPDIR:-/tmp}/verbatim-python-$SIZE}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/verbatim-target}"
VENV="${VERBATIM_BENCH_VENV:-$HOME/.cache/verbatim-bench-venv}"
OUT="benches/results/python-$SIZE.md"
QUERIES=(
    "top words|SELECT word, count(*) AS n FROM (SELECT unnest(tokenize(text)) AS word FROM segments) GROUP BY word ORDER BY n DESC, word LIMIT 100"
    "search|SELECT * FROM search('open source', 1, 1000000000, 0)"
)

cargo build --release --quiet
V="$CARGO_TARGET_DIR/release/verbatim"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import pyarrow, pandas" 2>/dev/null || "$VENV/bin/pip" install --quiet pyarrow pandas
if ! "$VENV/bin/python" -c "import verbatim" 2>/dev/null; then
    (cd python && "$VENV/bin/pip" install --quiet maturin && "$VENV/bin/maturin" build --release --locked --out "$WORK/wheels")
    "$VENV/bin/pip" install --quiet --force-reinstall --no-deps "$WORK"/wheels/verbatim-*.whl
fi
mkdir -p "$WORK"
once "$WORK/speech" "$V" gen --speech benches/corpora/oxide-and-friends --size "$SIZE" --out "$WORK/speech"
once "$WORK/archive" "$V" ingest -q "$WORK/speech" --archive "$WORK/archive" --memory-limit "$LIMIT" --threads 2
A="$WORK/archive"

cat > "$WORK/run.py" <<'PY'
import sys, time
archive, query, kind, limit = sys.argv[1:5]
started = time.time()
import verbatim
if kind == "pandas":
    import pandas  # a notebook that calls to_pandas() has it loaded; pyarrow imports it lazily
imported = time.time()
result = verbatim.Archive(archive, memory_limit=limit, threads=2).sql(query)
rows = len(result.to_arrow()) if kind == "arrow" else len(result.to_pandas())
print(f"{time.time() - imported:.3f} {imported - started:.3f} {rows}")
PY

ROWS=""
for entry in "${QUERIES[@]}"; do
    IFS='|' read -r name query <<< "$entry"
    c=(); a=(); p=(); imports=()
    for run in 1 2 3; do
        echo "== $name (run $run)"
        timed "cli-$name-$run" "$V" sql -q --archive "$A" --memory-limit "$LIMIT" --threads 2 --format parquet \
            --output "$WORK/out.parquet" "$query"
        c+=("$(wall_seconds "$WORK/cli-$name-$run.time")")
        read -r t i n <<< "$(/usr/bin/time -v -o "$WORK/arrow-$name-$run.time" "$VENV/bin/python" "$WORK/run.py" "$A" "$query" arrow "$LIMIT")"
        # verbatim's own import time (the pandas run's also counts pandas).
        a+=("$t"); imports+=("$i"); rows="$n"
        read -r t i n <<< "$(/usr/bin/time -v -o "$WORK/pandas-$name-$run.time" "$VENV/bin/python" "$WORK/run.py" "$A" "$query" pandas "$LIMIT")"
        p+=("$t")
    done
    cm=$(median "${c[@]}"); am=$(median "${a[@]}"); pm=$(median "${p[@]}")
    ROWS+="| $name | $rows | $cm s, $(peak_rss_mib "$WORK/cli-$name-3.time") MiB | $am s, $(peak_rss_mib "$WORK/arrow-$name-3.time") MiB | $(awk -v a="$am" -v c="$cm" 'BEGIN {printf "%.2f", a / c}')x | $pm s, $(peak_rss_mib "$WORK/pandas-$name-3.time") MiB | $(awk -v a="$pm" -v c="$cm" 'BEGIN {printf "%.2f", a / c}')x | $(median "${imports[@]}") s |"$'\n'
done

mkdir -p benches/results
cat > "$OUT" <<EOF
# The Python package against the CLI on $SIZE of real speech

\`benches/python.sh $SIZE $LIMIT\` on $(nproc) cores, $(date -u +%Y-%m-%d). Corpus: \`verbatim gen --speech
benches/corpora/oxide-and-friends --size $SIZE\`, $(mib "$(du -sb "$WORK/speech" | cut -f1)") MiB. Release builds, 2 threads,
\`memory_limit $LIMIT\`, warm page cache; medians of 3 alternating runs. CLI: the whole
\`verbatim sql Q --format parquet --output F\` command. Python: a fresh process, timed from before
\`verbatim.Archive(...)\` to the last row of \`.sql(Q).to_arrow()\` / \`.to_pandas()\` (importing
verbatim, and pandas for to_pandas(), is timed apart: the last column is verbatim's import alone).

| query | rows | CLI to Parquet | Python to_arrow() | / CLI | Python to_pandas() | / CLI | import verbatim |
|---|---|---|---|---|---|---|---|
$ROWS
EOF
cat "$OUT"
