#!/usr/bin/env bash
# The regression guard: verbatim against DuckDB on 200 MB of real speech, in a few minutes. Ingest
# and every query of the comparison (benches/compare.sh --speech) once per engine, then one line per
# step with both times and the ratio DuckDB / verbatim (above 1: verbatim is faster). Exits 1 when an
# answer differs from DuckDB's or a step fails. Run it before a change lands and compare the ratios
# with the last ones in benches/README.md.
#
#   benches/quick.sh [SIZE=200MB] [options passed to harness.py, e.g. --runs 3]
#
# The corpus is built once in $WORK (default /tmp/verbatim-quick-SIZE) and kept; the report goes to
# $WORK/results, not to benches/results.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
SIZE="${1:-200MB}"
shift || true
export WORK="${WORK:-${TMPDIR:-/tmp}/verbatim-quick-$SIZE}"
VENV="${VERBATIM_BENCH_VENV:-$HOME/.cache/verbatim-bench-venv}"

benches/compare.sh "$SIZE" --speech --engines verbatim,duckdb --runs 1 --results "$WORK/results" "$@" > /dev/null
exec "$VENV/bin/python" - "$WORK/results.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
steps = [("ingest", results["ingest"])] + list(results["queries"].items())
print(f"{'step':<20} {'verbatim':>10} {'DuckDB':>10} {'DuckDB / verbatim':>18}  answer")
failed = False
for name, engines in steps:
    mine, peer = engines.get("verbatim"), engines.get("duckdb")
    if not mine or not peer or mine["status"] != "ok" or peer["status"] != "ok":
        print(f"{name:<20} failed: {mine and mine['status']} / {peer and peer['status']}")
        failed = True
        continue
    agrees = "same" if peer.get("difference") is None else "DIFFERS: " + peer["difference"]
    if name == "ingest":
        agrees = f"{mine.get('rows', 0):,} segments / {peer.get('rows', 0):,} records read"
    else:
        failed |= peer.get("difference") is not None
    print(f"{name:<20} {mine['seconds']:>9.2f}s {peer['seconds']:>9.2f}s {peer['seconds'] / mine['seconds']:>17.2f}x  {agrees}")
sys.exit(1 if failed else 0)
PY
