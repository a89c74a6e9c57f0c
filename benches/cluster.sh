#!/usr/bin/env bash
# The saved-query set in one process and on a Ballista cluster on this machine (a scheduler and
# two executors on loopback, `verbatim scheduler` / `verbatim executor`), over the same archive of
# a generated corpus: what the cluster costs on one node (planning, task scheduling, shuffles
# through the executors' work folders, results over Arrow Flight), and that every answer is the
# same. Local and cluster runs alternate, 3 each, medians. Writes benches/results/cluster-<SIZE>.md.
#
#   benches/cluster.sh [SIZE=1GB] [MEMORY_LIMIT=2GiB]
#
# Needs: a release build (built here if missing), GNU time at /usr/bin/time, curl, and about
# 2 x SIZE of free disk in $WORK. The two executors get half the memory limit and one slot each,
# so the cluster has the same two cores and budget as the local run.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

SIZE="${1:-1GB}"
LIMIT="${2:-2GiB}"
WORK="${WORK:-${TMPDIR:-/tmp}/verbatim-cluster-$SIZE}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/verbatim-target}"
OUT="benches/results/cluster-$SIZE.md"

cargo build --release --quiet
V="$CARGO_TARGET_DIR/release/verbatim"
mkdir -p "$WORK"
once "$WORK/corpus" "$V" gen -q --size "$SIZE" --seed 7 --out "$WORK/corpus"
once "$WORK/archive" "$V" ingest -q "$WORK/corpus" --archive "$WORK/archive" --memory-limit "$LIMIT"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SCHEDULER_PORT=$(free_port)
"$V" scheduler -q --bind "127.0.0.1:$SCHEDULER_PORT" 2>"$WORK/scheduler.log" &
PIDS=($!)
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
EXECUTOR_MEMORY=$(python3 -c "
import re, sys
text = '$LIMIT'; m = re.fullmatch(r'([0-9.]+)\s*([KMGT]?)i?B?', text, re.I)
units = {'': 1, 'K': 2**10, 'M': 2**20, 'G': 2**30, 'T': 2**40}
print(int(float(m.group(1)) * units[m.group(2).upper()] // 2))")
for n in 0 1; do
    rm -rf "$WORK/work-$n"
    "$V" executor -q --scheduler "127.0.0.1:$SCHEDULER_PORT" --bind "127.0.0.1:$(free_port)" --slots 1 \
        --memory-limit "$EXECUTOR_MEMORY" --work-dir "$WORK/work-$n" 2>"$WORK/executor-$n.log" &
    PIDS+=($!)
done
for _ in $(seq 300); do
    [ "$(curl -s "http://127.0.0.1:$SCHEDULER_PORT/api/executors" | grep -o '"id"' | wc -l)" -ge 2 ] && break
    sleep 0.2
done
CLUSTER="df://127.0.0.1:$SCHEDULER_PORT"

# name|arguments of `verbatim run`
QUERIES=(
    "top-words|top-words -p limit=50 -p stopwords=english"
    "ngrams (bigrams)|ngrams -p n=2 -p limit=50"
    "search (every hit)|search -p phrase=the data"
    "kwic|kwic -p phrase=the data -p limit=1000"
    "doc-stats|doc-stats"
    "pauses|pauses -p limit=50"
    "speakers|speakers"
    "term-trend|term-trend -p term=data"
    "cooccurrence|cooccurrence -p term=data"
    "channel-stats|channel-stats"
)

run_query() { # run_query MODE NAME ARGS...
    local mode="$1" name="$2"; shift 2
    local extra=(); [ "$mode" = cluster ] && extra=(--cluster "$CLUSTER")
    timed "$name-$mode" "$V" run "$@" -q --format csv --archive "$WORK/archive" --memory-limit "$LIMIT" \
        --threads 2 "${extra[@]}" > "$WORK/$name-$mode.csv"
}

ROWS=""
for entry in "${QUERIES[@]}"; do
    label="${entry%%|*}"
    IFS=' ' read -r -a args <<<"${entry#*|}"
    # Phrase parameters hold spaces: rejoin `phrase=...` words.
    fixed=(); for a in "${args[@]}"; do
        if [ "${#fixed[@]}" -gt 0 ] && [[ "${fixed[-1]}" == phrase=* ]] && [[ "$a" != -* ]]; then fixed[-1]="${fixed[-1]} $a"; else fixed+=("$a"); fi
    done
    key=$(echo "$label" | tr -c 'a-z0-9' '-')
    local_times=(); cluster_times=()
    for round in 1 2 3; do
        echo "== $label (round $round)"
        run_query local "$key" "${fixed[@]}"; local_times+=("$(wall_seconds "$WORK/$key-local.time")")
        cp "$WORK/$key-local.csv" "$WORK/$key-local-kept.csv"
        run_query cluster "$key" "${fixed[@]}"; cluster_times+=("$(wall_seconds "$WORK/$key-cluster.time")")
    done
    if cmp -s "$WORK/$key-local-kept.csv" "$WORK/$key-cluster.csv"; then same=yes; else same="**NO**"; fi
    rows=$(( $(wc -l < "$WORK/$key-local-kept.csv") - 1 )); [ "$rows" -lt 0 ] && rows=0
    l=$(median "${local_times[@]}"); c=$(median "${cluster_times[@]}")
    ratio=$(awk -v l="$l" -v c="$c" 'BEGIN {printf "%.2f", c / l}')
    ROWS+="| $label | $rows | $l s ($(IFS=/; echo "${local_times[*]}")) | $c s ($(IFS=/; echo "${cluster_times[*]}")) | ${ratio}x | $same |"$'\n'
done

CORPUS_BYTES=$(du -sb "$WORK/corpus" | cut -f1)
ARCHIVE_BYTES=$(du -sb "$WORK/archive" | cut -f1)
SEGMENTS=$("$V" sql -q --format csv --archive "$WORK/archive" "SELECT count(*) FROM segments" | tail -1)
{
    echo "# verbatim in one process and on a Ballista cluster on one machine ($SIZE)"
    echo
    echo "\`benches/cluster.sh $SIZE $LIMIT\`, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)."
    echo "Corpus: \`verbatim gen --size $SIZE --seed 7\`, $(( CORPUS_BYTES / 1000000 )) MB of JSON, $SEGMENTS captions;"
    echo "archive $(( ARCHIVE_BYTES / 1000000 )) MB. Machine: $(nproc) cores. Local: \`verbatim run --threads 2 --memory-limit $LIMIT\`."
    echo "Cluster: \`verbatim scheduler\` and two \`verbatim executor --slots 1 --memory-limit $((EXECUTOR_MEMORY / 1048576))MiB\` on loopback,"
    echo "the same query with \`--cluster\` (the client's time, from start to the last row written)."
    echo "3 alternating runs each, medians (all runs in parentheses); 'same' compares the CSV output byte for byte."
    echo
    echo "| query | rows | local | cluster | cluster / local | same |"
    echo "|---|---|---|---|---|---|"
    printf '%s' "$ROWS"
    echo
    echo "On one machine the cluster cannot be faster: the same two cores run the same scans, plus"
    echo "planning on the scheduler, stage-by-stage scheduling with shuffle files written to and read"
    echo "back from the executors' work folders, and results sent to the client over Arrow Flight."
    echo "Declared document order does not survive plan serialisation, so per-document windows"
    echo "(pauses, speakers) sort and repartition on the cluster where the local plan streams."
} > "$OUT"
cat "$OUT"
