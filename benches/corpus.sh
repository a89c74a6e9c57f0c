#!/usr/bin/env bash
# Corpus queries on real speech: builds a corpus of SIZE from the podcast transcripts in
# benches/corpora/oxide-and-friends (`verbatim gen --speech`), ingests it once with phrase indexes,
# then times, 3 runs each (medians), alternating engines:
#   - the exact phrase, NEAR/5, a prefix word and a one-word wildcard, answered from the index,
#     against DuckDB's regular-expression scan of each document's text (captions joined in
#     order, so matches run across captions as verbatim's do), with both hit counts;
#   - collocations of a frequent term against top-words over the same archive;
#   - a concordance of >= 100k hits (at 5GB) sorted by the words right of them against the same
#     unsorted, and every hit of a very frequent phrase sorted (millions, through a sort that spills);
# with peak RSS against the memory limit and the index's size against segments'. Writes
# benches/results/corpus-<SIZE>.md.
#
#   benches/corpus.sh [SIZE=5GB] [MEMORY_LIMIT=2GiB]     (DUCKDB_RUNS=1: time DuckDB's scans once)
#
# Needs: a release build (built here if missing), GNU time at /usr/bin/time, python3 (DuckDB is
# installed into VERBATIM_BENCH_VENV, default ~/.cache/verbatim-bench-venv), and about 1.5 x SIZE
# of free disk in $WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

SIZE="${1:-5GB}"
LIMIT="${2:-2GiB}"
WORK="${WORK:-${TMPDIR:-/tmp}/verbatim-corpus-$SIZE}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/verbatim-target}"
VENV="${VERBATIM_BENCH_VENV:-$HOME/.cache/verbatim-bench-venv}"
OUT="benches/results/corpus-$SIZE.md"
# DuckDB's scans take minutes each at 5 GB: DUCKDB_RUNS=1 times them once (the table says so).
DUCKDB_RUNS="${DUCKDB_RUNS:-3}"
# DuckDB's patterns run over each document's words joined by two spaces (see duck.py); NEAR, which
# a regular expression cannot count as verbatim defines it, is a join of word positions.
QUERIES=(
    "exact|memory safety|(?:^| )memory  safety(?: |\$)"
    "NEAR|memory NEAR/5 safety|NEAR memory safety 5"
    "prefix|memory safe*|(?:^| )memory  safe[^ ]*"
    "wildcard|open * software|(?:^| )open  [^ ]+  software(?: |\$)"
)
COLLOCATION_TERM="think"
CONCORDANCE_PHRASE="${CONCORDANCE_PHRASE:-open source}"
FREQUENT_PHRASE="${FREQUENT_PHRASE:-you know}"

cargo build --release --quiet
V="$CARGO_TARGET_DIR/release/verbatim"
ensure_duckdb "$VENV"
mkdir -p "$WORK"
once "$WORK/speech" "$V" gen --speech benches/corpora/oxide-and-friends --size "$SIZE" --out "$WORK/speech"
CORPUS_BYTES=$(du -sb "$WORK/speech" | cut -f1)
once "$WORK/archive" "$V" ingest -q "$WORK/speech" --archive "$WORK/archive" --memory-limit "$LIMIT" --threads 2
A="$WORK/archive"
SEGMENTS_BYTES=$(bytes_under "$A/segments" '*.parquet')
INDEX_BYTES=$(bytes_under "$A/segments" '*.phrases')
CAPTIONS=$("$V" sql -q --archive "$A" --format csv "SELECT count(*) FROM segments" | tail -1)

# DuckDB: each caption's words as tokenize() gives them (its documented regular expression), a
# document's words in order joined by two spaces (so that consecutive matches never share a
# separator), and the matches of a pattern counted.
cat > "$WORK/duck.py" <<'PY'
import glob, json, os, sys, time
import duckdb
archive, pattern = sys.argv[1], sys.argv[2]
WORD = r"[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*"
manifest = sorted(glob.glob(os.path.join(archive, "_verbatim/manifests/*.json")))[-1]
files = [os.path.join(archive, f["path"]) for f in json.load(open(manifest))["tables"]["segments"]]
con = duckdb.connect()
con.execute("SET threads = 2")
started = time.time()
if pattern.startswith("NEAR "):
    # Each occurrence of the left word with the right word at most `slop` words away, either
    # side (words between, across captions, within one document): verbatim's NEAR/slop.
    _, left, right, slop = pattern.split()
    hits = con.execute(
        "WITH captions AS (SELECT doc_id, seq, regexp_extract_all(lower(text), ?) AS words "
        f"FROM read_parquet({files!r})), "
        "docs AS (SELECT doc_id, flatten(list(words ORDER BY seq)) AS w FROM captions GROUP BY doc_id), "
        "positions AS (SELECT doc_id, generate_subscripts(w, 1) AS i, unnest(w) AS word FROM docs), "
        "wanted AS (SELECT * FROM positions WHERE word IN (?, ?)) "
        "SELECT count(*) FROM wanted a WHERE a.word = ? AND EXISTS (SELECT 1 FROM wanted b "
        "WHERE b.doc_id = a.doc_id AND b.word = ? AND b.i <> a.i AND abs(b.i - a.i) <= ? + 1)",
        [WORD, left, right, left, right, int(slop)],
    ).fetchone()[0]
    print(f"{time.time() - started:.3f} {hits}")
    sys.exit(0)
hits = con.execute(
    "WITH captions AS (SELECT doc_id, seq, regexp_extract_all(lower(text), ?) AS words "
    f"FROM read_parquet({files!r})), "
    "docs AS (SELECT doc_id, string_agg(array_to_string(words, '  '), '  ' ORDER BY seq) AS t "
    "FROM captions WHERE len(words) > 0 GROUP BY doc_id) "
    "SELECT coalesce(sum(len(regexp_extract_all(t, ?))), 0) FROM docs",
    [WORD, pattern],
).fetchone()[0]
print(f"{time.time() - started:.3f} {hits}")
PY

run_verbatim() { # NAME SQL: times verbatim on SQL, output to $WORK/NAME.csv
    timed "$1" "$V" sql -q --archive "$A" --memory-limit "$LIMIT" --threads 2 --format csv --output "$WORK/$1.csv" "$2"
}

QUERY_ROWS=""
EXACT_SECONDS=""
for entry in "${QUERIES[@]}"; do
    IFS='|' read -r kind query pattern <<< "$entry"
    v_times=(); d_times=(); d_hits=""
    for run in 1 2 3; do
        echo "== $kind: $query (run $run)"
        run_verbatim "q-$kind-$run" "SELECT count(*) FROM search_hits('$query', 0)"
        v_times+=("$(wall_seconds "$WORK/q-$kind-$run.time")")
        if [ "$run" -le "$DUCKDB_RUNS" ]; then
            read -r d_time d_hits <<< "$("$VENV/bin/python" "$WORK/duck.py" "$A" "$pattern")"
            d_times+=("$d_time")
        fi
    done
    v=$(median "${v_times[@]}"); d=$(median "${d_times[@]}")
    hits=$(tail -1 "$WORK/q-$kind-3.csv")
    rss=$(peak_rss_mib "$WORK/q-$kind-3.time")
    [ "$kind" = exact ] && EXACT_SECONDS="$v"
    of_exact=$(awk -v v="$v" -v e="$EXACT_SECONDS" 'BEGIN {printf "%.2f", v / e}')
    ratio=$(awk -v d="$d" -v v="$v" 'BEGIN {printf "%.1f", d / v}')
    same=$([ "$hits" = "$d_hits" ] && echo yes || echo "no")
    QUERY_ROWS+="| $kind | \`$query\` | $hits | $d_hits | $same | $v s, $rss MiB | ${of_exact}x | $d s | ${ratio}x |"$'\n'
done

# Collocations of a frequent term against top-words, alternating.
c_times=(); t_times=()
for run in 1 2 3; do
    echo "== collocations / top-words (run $run)"
    run_verbatim "colloc-$run" "SELECT * FROM collocations('$COLLOCATION_TERM', 5) ORDER BY log_dice DESC LIMIT 50"
    c_times+=("$(wall_seconds "$WORK/colloc-$run.time")")
    timed "top-$run" "$V" run -q top-words --archive "$A" --memory-limit "$LIMIT" --threads 2 --format csv \
        --output "$WORK/top-$run.csv" -p limit=50
    t_times+=("$(wall_seconds "$WORK/top-$run.time")")
done
COLLOC=$(median "${c_times[@]}"); TOP=$(median "${t_times[@]}")
COLLOC_RSS=$(peak_rss_mib "$WORK/colloc-3.time"); TOP_RSS=$(peak_rss_mib "$WORK/top-3.time")
TERM_HITS=$("$V" sql -q --archive "$A" --format csv "SELECT max(f_x) FROM collocations('$COLLOCATION_TERM', 5)" | tail -1)
COLLOC_RATIO=$(awk -v c="$COLLOC" -v t="$TOP" 'BEGIN {printf "%.2f", c / t}')

# A concordance of many hits, sorted by right context against unsorted.
s_times=(); u_times=()
for run in 1 2 3; do
    echo "== concordance sorted / unsorted (run $run)"
    timed "kwic-sorted-$run" "$V" run -q kwic --archive "$A" --memory-limit "$LIMIT" --threads 2 --format csv \
        --output "$WORK/kwic-sorted.csv" -p "phrase=$CONCORDANCE_PHRASE" -p sort=R1,R2 -p limit=100000000
    s_times+=("$(wall_seconds "$WORK/kwic-sorted-$run.time")")
    timed "kwic-plain-$run" "$V" run -q kwic --archive "$A" --memory-limit "$LIMIT" --threads 2 --format csv \
        --output "$WORK/kwic-plain.csv" -p "phrase=$CONCORDANCE_PHRASE" -p limit=100000000
    u_times+=("$(wall_seconds "$WORK/kwic-plain-$run.time")")
done
SORTED=$(median "${s_times[@]}"); PLAIN=$(median "${u_times[@]}")
KWIC_HITS=$(($(wc -l < "$WORK/kwic-sorted.csv") - 1))
KWIC_RSS=$(peak_rss_mib "$WORK/kwic-sorted-3.time")
SORT_COST=$(awk -v s="$SORTED" -v p="$PLAIN" 'BEGIN {printf "%.2f", s - p}')

# Every hit of a very frequent phrase, sorted: far more than the top-k heap keeps, so the sort spills.
echo "== every hit of \"$FREQUENT_PHRASE\", sorted"
timed "kwic-frequent" "$V" run -q kwic --archive "$A" --memory-limit "$LIMIT" --threads 2 --format csv \
    --output "$WORK/kwic-frequent.csv" -p "phrase=$FREQUENT_PHRASE" -p sort=R1,R2 -p limit=100000000
FREQUENT_HITS=$(($(wc -l < "$WORK/kwic-frequent.csv") - 1))
FREQUENT_SECONDS=$(wall_seconds "$WORK/kwic-frequent.time")
FREQUENT_RSS=$(peak_rss_mib "$WORK/kwic-frequent.time")

# The largest peak RSS of any verbatim run above, against the memory limit.
PEAK_RSS=0
for f in "$WORK"/q-*.time "$WORK"/colloc-*.time "$WORK"/top-*.time "$WORK"/kwic-*.time; do
    rss=$(peak_rss_mib "$f")
    PEAK_RSS=$(awk -v a="$PEAK_RSS" -v b="$rss" 'BEGIN {print (b > a) ? b : a}')
done
PEAK_SHARE=$(awk -v r="$PEAK_RSS" -v l="$(bytes "$LIMIT")" 'BEGIN {printf "%.2f", r * 1048576 / l}')

INDEX_SHARE=$(percent "$INDEX_BYTES" "$SEGMENTS_BYTES")
mkdir -p benches/results
cat > "$OUT" <<EOF
# Corpus queries on $SIZE of real speech

\`benches/corpus.sh $SIZE $LIMIT\` on $(nproc) cores, $(date -u +%Y-%m-%d). Corpus: \`verbatim gen --speech
benches/corpora/oxide-and-friends --size $SIZE\`: $(mib "$CORPUS_BYTES") MiB, $CAPTIONS captions. Both engines
with 2 threads, warm page cache, \`--memory-limit $LIMIT\`; times are medians of 3 alternating runs
(DuckDB's regular-expression scans: medians of $DUCKDB_RUNS).
Phrase indexes: $(mib "$INDEX_BYTES") MiB, $INDEX_SHARE% of segments ($(mib "$SEGMENTS_BYTES") MiB).
Largest peak RSS of any verbatim run: $PEAK_RSS MiB, ${PEAK_SHARE}x the memory limit.

## Queries from the index against a regular-expression scan

verbatim: \`SELECT count(*) FROM search_hits('query', 0)\`. DuckDB: each caption's words as
\`regexp_extract_all(lower(text), WORD)\` (tokenize's documented equivalent), each document's words
in caption order joined by two spaces, then \`len(regexp_extract_all(text, pattern))\` summed, with
the pattern the query's equivalent over that text. NEAR, which a regular expression cannot count as
verbatim defines it (each occurrence of the left side with the right side at most 5 words away,
either side), is a join of each document's word positions.

| kind | query | verbatim hits | DuckDB matches | equal | verbatim | of exact phrase | DuckDB | DuckDB / verbatim |
|---|---|---|---|---|---|---|---|---|
$QUERY_ROWS
## Collocations and concordances

| task | time | peak RSS | |
|---|---|---|---|
| \`collocations('$COLLOCATION_TERM', 5)\` ($TERM_HITS occurrences) | $COLLOC s | $COLLOC_RSS MiB | ${COLLOC_RATIO}x top-words |
| \`top-words\` | $TOP s | $TOP_RSS MiB | |
| \`kwic\` of "$CONCORDANCE_PHRASE", $KWIC_HITS hits, sorted by R1,R2 | $SORTED s | $KWIC_RSS MiB | sort adds $SORT_COST s |
| the same, in document order | $PLAIN s | | |
| \`kwic\` of "$FREQUENT_PHRASE", every one of its $FREQUENT_HITS hits, sorted by R1,R2 (one run) | $FREQUENT_SECONDS s | $FREQUENT_RSS MiB | |
EOF
cat "$OUT"
