#!/usr/bin/env bash
# verbatim side by side with DuckDB, Polars and Dask on one generated corpus: ingest, six queries over
# the same Parquet, agreement of the answers, wall time, throughput, ratios and peak RSS. Writes
# benches/results/compare-SIZE.{md,json,png}.
#
#   benches/compare.sh [SIZE=1GB] [options passed to harness.py]
#
#   benches/compare.sh 1GB                  # quick run, every engine, 3 runs per query
#   benches/compare.sh 20GB --runs 1        # the full run
#   benches/compare.sh 1GB --engines verbatim,duckdb --queries top_words,longest_pauses
#   benches/compare.sh 1GB --skip-ingest    # re-run the queries over the archive of the last run
#   benches/compare.sh 20GB --engines dask --queries "" --merge   # add one engine's ingest to the last run
#   benches/compare.sh 20GB --engines verbatim,dask --query-engines verbatim   # Dask ingests only
#
# Options (harness.py --help): --engines, --queries, --runs, --memory-limit (verbatim, default 1GiB),
# --peer-memory-limit (DuckDB, default 1GiB), --zstd-level (1), --row-group-rows, --phrase,
# --window-start-ms/--window-end-ms, --top, --timeout (per step, seconds), --skip-ingest, --merge
# (keep the last run's numbers for what is not measured now), --report-only (rewrite the report).
#
# Environment: WORK (default /tmp/verbatim-compare-SIZE: corpus, archive, answers, logs; about
# 1.5 x SIZE of disk), VERBATIM_BENCH_VENV (default ~/.cache/verbatim-bench-venv; created here and
# given duckdb, polars, dask[dataframe], pyarrow, regex and matplotlib), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
SIZE="${1:-1GB}"
shift || true
WORK="${WORK:-${TMPDIR:-/tmp}/verbatim-compare-$SIZE}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/verbatim-target}"
VENV="${VERBATIM_BENCH_VENV:-$HOME/.cache/verbatim-bench-venv}"

echo "== building verbatim (release)" >&2
cargo build --release --quiet
V="$CARGO_TARGET_DIR/release/verbatim"

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c "import duckdb, polars, dask.dataframe, pyarrow, regex, matplotlib" 2>/dev/null; then
    echo "== installing the peers into $VENV" >&2
    "$VENV/bin/pip" install --quiet --upgrade duckdb polars "dask[dataframe]" pyarrow regex matplotlib
fi

mkdir -p "$WORK"
if [ ! -f "$WORK/corpus.done" ]; then
    rm -rf "$WORK/corpus"
    "$V" gen --out "$WORK/corpus" --size "$SIZE" --seed 1
    touch "$WORK/corpus.done"
fi
echo "== reading the corpus once (timings start from a warm page cache)" >&2
find "$WORK/corpus" -type f -print0 | xargs -0 cat > /dev/null

exec "$VENV/bin/python" benches/compare/harness.py --corpus "$WORK/corpus" --work "$WORK" --verbatim "$V" \
    --size "$SIZE" --results benches/results --command "benches/compare.sh $SIZE${*:+ $*}" "$@"
