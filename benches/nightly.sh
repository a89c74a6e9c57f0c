#!/usr/bin/env bash
# Nightly jobs at scale: one generated corpus ingested as 7 nightly runs (each night a seventh of
# the files, so every run's document ranges overlap the others'), against the same corpus in one
# run; then compacted. Times the per-document queries on all three archives under one memory
# budget, checks that their answers are equal, and records peak RSS (GNU time) and compaction
# throughput. Then builds an archive of millions of small documents from JSON Lines bundles and
# measures a one-file ingest into it. Writes benches/results/nightly-<SIZE>.md.
#
#   benches/nightly.sh [SIZE=2GB] [MEMORY_LIMIT=512MiB] [DOCUMENTS=2000000]
#
# Needs: a release build (built here if missing), GNU time at /usr/bin/time, python3, and about
# 3 x SIZE of free disk in $WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

SIZE="${1:-2GB}"
LIMIT="${2:-512MiB}"
DOCUMENTS="${3:-2000000}"
NIGHTS=7
WORK="${WORK:-${TMPDIR:-/tmp}/verbatim-nightly-$SIZE}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/verbatim-target}"
OUT="benches/results/nightly-$SIZE.md"

cargo build --release --quiet
V="$CARGO_TARGET_DIR/release/verbatim"
mkdir -p "$WORK"
once "$WORK/corpus" "$V" gen --out "$WORK/corpus" --size "$SIZE" --seed 7
CORPUS_BYTES=$(du -sb "$WORK/corpus" | cut -f1)

# Night n gets every 7th file, as hard links under nights/n with the corpus's folder layout, so
# that its document ids are the ones a single run over the corpus gives.
once "$WORK/nights" python3 - "$WORK" "$NIGHTS" <<'PY'
import os, sys
work, nights = sys.argv[1], int(sys.argv[2])
corpus = os.path.join(work, "corpus")
files = sorted(os.path.relpath(os.path.join(d, f), corpus) for d, _, fs in os.walk(corpus) for f in fs)
for n, file in enumerate(files):
    link = os.path.join(work, "nights", str(n % nights), file)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.link(os.path.join(corpus, file), link)
PY
find "$WORK/corpus" -type f -print0 | xargs -0 cat > /dev/null


rm -rf "$WORK/single" "$WORK/nightly" "$WORK/spill"
echo "== one run over the corpus"
timed ingest-single "$V" ingest -q "$WORK/corpus" --archive "$WORK/single" --memory-limit "$LIMIT"
NIGHT_ROWS=""
for night in $(seq 0 $((NIGHTS - 1))); do
    echo "== night $((night + 1)) of $NIGHTS"
    timed "ingest-night-$night" "$V" ingest -q "$WORK/nights/$night" --archive "$WORK/nightly" \
        --memory-limit "$LIMIT" --compact never
    NIGHT_ROWS+="| night $((night + 1)) | $(wall_seconds "$WORK/ingest-night-$night.time") s | $(peak_rss_mib "$WORK/ingest-night-$night.time") MiB |"$'\n'
done
"$V" info --archive "$WORK/nightly" | tail -n 1

QUERIES=(doc-stats pauses first-rows)
query_sql() {
    case "$1" in
        doc-stats) echo "SELECT doc_id, count(*) AS segments, sum(end_ms - start_ms) AS spoken_ms, max(end_ms) AS last_ms, sum(length(text)) AS characters FROM segments GROUP BY doc_id ORDER BY doc_id" ;;
        pauses) echo "SELECT doc_id, max(start_ms - previous_end) AS longest_pause_ms FROM (SELECT doc_id, start_ms, lag(end_ms) OVER (PARTITION BY doc_id ORDER BY seq) AS previous_end FROM segments) GROUP BY doc_id ORDER BY doc_id" ;;
        first-rows) echo "SELECT doc_id, seq, start_ms, text FROM segments ORDER BY doc_id, seq LIMIT 1000" ;;
    esac
}
run_queries() {
    local archive="$1" label="$2"
    for query in "${QUERIES[@]}"; do
        timed "$label-$query" "$V" sql -q --archive "$WORK/$archive" --memory-limit "$LIMIT" \
            --spill-dir "$WORK/spill" --format csv --output "$WORK/$label-$query.csv" "$(query_sql "$query")"
    done
}
echo "== queries"
run_queries single single
run_queries nightly nightly
echo "== compact"
timed compact "$V" compact --archive "$WORK/nightly" --memory-limit "$LIMIT" 2> "$WORK/compact.log"
cat "$WORK/compact.log"
run_queries nightly compacted

EQUAL=yes
for query in "${QUERIES[@]}"; do
    for label in nightly compacted; do
        if ! cmp -s "$WORK/single-$query.csv" "$WORK/$label-$query.csv"; then
            echo "DIFFERENT ANSWER: $query on $label"; EQUAL=no
        fi
    done
done

QUERY_ROWS=""
for query in "${QUERIES[@]}"; do
    s=$(wall_seconds "$WORK/single-$query.time"); n=$(wall_seconds "$WORK/nightly-$query.time"); c=$(wall_seconds "$WORK/compacted-$query.time")
    QUERY_ROWS+="| $query | $s s, $(peak_rss_mib "$WORK/single-$query.time") MiB | $n s, $(peak_rss_mib "$WORK/nightly-$query.time") MiB ($(python3 -c "print(f'{$n/$s:.2f}x')")) | $c s, $(peak_rss_mib "$WORK/compacted-$query.time") MiB ($(python3 -c "print(f'{$c/$s:.2f}x')")) |"$'\n'
done

echo "== an archive of $DOCUMENTS small documents from JSON Lines bundles"
BUNDLES="$WORK/bundles"
once "$BUNDLES" python3 - "$BUNDLES" "$DOCUMENTS" <<'PY'
import json, os, sys
folder, documents = sys.argv[1], int(sys.argv[2])
os.makedirs(folder)
per_bundle = 100_000
words = "the archive keeps every transcript small and the index finds each one".split()
for bundle in range(0, documents, per_bundle):
    with open(f"{folder}/bundle-{bundle // per_bundle:03}.jsonl", "w") as out:
        for n in range(bundle, min(bundle + per_bundle, documents)):
            snippets = [{"text": " ".join(words[(n + i) % 7:(n + i) % 7 + 5]), "start": 2.0 * i, "duration": 2.0} for i in range(3)]
            out.write(json.dumps({"video_id": f"v{n:09}", "language_code": "en", "snippets": snippets}) + "\n")
PY
rm -rf "$WORK/many"
timed ingest-bundles "$V" ingest -q "$BUNDLES" --archive "$WORK/many" --memory-limit 4GiB
MANY_DOCS=$("$V" sql -q --archive "$WORK/many" --format csv "SELECT count(*) FROM documents" | tail -n 1)
# One new transcript whose id sorts inside the first bundle's range, so the lookup reads a
# documents file of the archive, under a small budget.
ONE="$WORK/one"
rm -rf "$ONE"; mkdir -p "$ONE"
cp samples/python-for-hpc.json "$ONE/bundle-000#v000050000x.json"
ONE_LIMIT=256MiB
timed ingest-one "$V" ingest -q "$ONE" --archive "$WORK/many" --memory-limit "$ONE_LIMIT"
timed ingest-one-again "$V" ingest -q "$ONE" --archive "$WORK/many" --memory-limit "$ONE_LIMIT"

COMPACT_SECONDS=$(wall_seconds "$WORK/compact.time")
{
    echo "# Nightly runs, compaction and a large archive ($SIZE generated corpus, --memory-limit $LIMIT)"
    echo
    echo "Run by \`benches/nightly.sh $SIZE $LIMIT $DOCUMENTS\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m);"
    echo "verbatim $("$V" --version | awk '{print $2}') release build. Corpus: $(numfmt --to=iec "$CORPUS_BYTES") of \`verbatim gen\` JSON;"
    echo "the nightly archive gets every ${NIGHTS}th file per run, so every run's document ranges overlap the others'."
    echo
    echo "## Ingest"
    echo
    echo "| run | wall | peak RSS |"
    echo "|---|---|---|"
    echo "| one run over the corpus | $(wall_seconds "$WORK/ingest-single.time") s | $(peak_rss_mib "$WORK/ingest-single.time") MiB |"
    printf '%s' "$NIGHT_ROWS"
    echo
    echo "## Per-document queries (wall, peak RSS; ratio to the single-run archive)"
    echo
    echo "| query | single run | $NIGHTS nightly runs | after \`verbatim compact\` |"
    echo "|---|---|---|---|"
    printf '%s' "$QUERY_ROWS"
    echo
    echo "Answers equal to the single-run archive's (byte-identical CSV), before and after compaction: **$EQUAL**."
    echo
    echo "## Compaction"
    echo
    echo "\`verbatim compact --memory-limit $LIMIT\`: $COMPACT_SECONDS s wall, peak RSS $(peak_rss_mib "$WORK/compact.time") MiB,"
    echo "merging at $(python3 -c "
import re,sys
text=open('$WORK/compact.log').read()
m=re.search(r'\(([0-9.]+) ([KMG])iB/s', text)
print(f'{m.group(1)} {m.group(2)}iB/s' if m else 'n/a')") of Parquet read. Its report:"
    echo
    echo '```'
    cat "$WORK/compact.log"
    echo '```'
    echo
    echo "## One file into an archive of $MANY_DOCS documents"
    echo
    echo "The archive was built from $(ls "$BUNDLES" | wc -l) JSON Lines bundles of 100,000 documents ($(du -sh "$BUNDLES" | cut -f1)) in"
    echo "$(wall_seconds "$WORK/ingest-bundles.time") s (peak RSS $(peak_rss_mib "$WORK/ingest-bundles.time") MiB at --memory-limit 4GiB)."
    echo "Then one transcript whose id sorts inside the first bundle's range, at --memory-limit $ONE_LIMIT:"
    echo
    echo "| run | wall | peak RSS |"
    echo "|---|---|---|"
    echo "| new document | $(wall_seconds "$WORK/ingest-one.time") s | $(peak_rss_mib "$WORK/ingest-one.time") MiB |"
    echo "| the same again (unchanged) | $(wall_seconds "$WORK/ingest-one-again.time") s | $(peak_rss_mib "$WORK/ingest-one-again.time") MiB |"
} > "$OUT"
cat "$OUT"
