#!/usr/bin/env bash
# verbatim side by side with DuckDB, Polars and Dask on one corpus, generated text or real speech:
# ingest, eight queries over the same Parquet, agreement of the answers, wall time, throughput, ratios
# and peak RSS. Writes benches/results/compare-SIZE.{md,json,png} (compare-speech-SIZE.* with --speech).
#
#   benches/compare.sh [SIZE=1GB] [--speech] [options passed to harness.py]
#
#   --speech: real speech instead of generated text: `verbatim gen --speech` cuts the podcast
#   transcripts in benches/corpora/oxide-and-friends into auto-caption-sized snippets, repeated
#   with shifted windows to SIZE (youtube-transcript-api JSON, a tenth WhisperX JSON, a tenth WebVTT);
#   the phrase searched defaults to "open source".
#
#   benches/compare.sh 1GB                  # quick run, every engine, 3 runs per query
#   benches/compare.sh 20GB --runs 1        # the full run
#   benches/compare.sh 1GB --engines verbatim,duckdb --queries top_words,longest_pauses
#   benches/compare.sh 1GB --skip-ingest    # re-run the queries over the archive of the last run
#   benches/compare.sh 20GB --engines dask --queries "" --merge   # add one engine's ingest to the last run
#   benches/compare.sh 20GB --engines verbatim,dask --query-engines verbatim   # Dask ingests only
#
#   benches/compare.sh 20GB --speech --runs 1          # the full run on real speech
#
# Options (harness.py --help): --engines, --queries, --runs, --memory-limit (verbatim, default 1GiB),
# --peer-memory-limit (DuckDB, default 1GiB), --zstd-level (1), --row-group-rows, --phrase,
# --window-start-ms/--window-end-ms, --top, --timeout (per step, seconds), --skip-ingest, --merge
# (keep the last run's numbers for what is not measured now), --report-only (rewrite the report).
#
# Environment: WORK (default /tmp/verbatim-compare-SIZE, or -speech-SIZE: corpus, archive, answers, logs; about
# 1.5 x SIZE of disk), VERBATIM_BENCH_VENV (default ~/.cache/verbatim-bench-venv; created here and
# given duckdb, polars, dask[dataframe], pyarrow, regex and matplotlib), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
SIZE="${1:-1GB}"
shift || true
KIND=generated
KIND_FLAG=""
if [[ "${1:-}" == "--speech" ]]; then
    KIND=speech
    KIND_FLAG=" --speech"
    shift
fi
if [ "$KIND" = speech ]; then
    WORK="${WORK:-${TMPDIR:-/tmp}/verbatim-compare-speech-$SIZE}"
    DEFAULTS=(--corpus-kind speech --phrase "open source")
else
    WORK="${WORK:-${TMPDIR:-/tmp}/verbatim-compare-$SIZE}"
    DEFAULTS=(--corpus-kind generated)
fi
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
    if [ "$KIND" = speech ]; then
        "$V" gen --speech benches/corpora/oxide-and-friends --out "$WORK/corpus" --size "$SIZE" --seed 1
    else
        "$V" gen --out "$WORK/corpus" --size "$SIZE" --seed 1
    fi
    touch "$WORK/corpus.done"
fi
echo "== reading the corpus once (timings start from a warm page cache)" >&2
find "$WORK/corpus" -type f -print0 | xargs -0 cat > /dev/null

exec "$VENV/bin/python" benches/compare/harness.py --corpus "$WORK/corpus" --work "$WORK" --verbatim "$V" \
    --size "$SIZE" --results benches/results --command "benches/compare.sh $SIZE$KIND_FLAG${*:+ $*}" \
    "${DEFAULTS[@]}" "$@"
