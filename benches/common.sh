# Helpers the benchmark scripts source: timing with GNU time, reading what it recorded, medians,
# a Python venv with DuckDB, and inputs built once. `timed` writes $WORK/<name>.time.

# Peak RSS in MiB from a GNU time -v file.
peak_rss_mib() { grep "Maximum resident set size" "$1" | awk '{printf "%.0f", $NF / 1024}'; }
# Wall-clock seconds from a GNU time -v file.
wall_seconds() { grep "Elapsed (wall clock)" "$1" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }
# Runs a command under GNU time, recording into $WORK/NAME.time: timed NAME COMMAND...
timed() { local name="$1"; shift; /usr/bin/time -v -o "$WORK/$name.time" "$@"; }
# The median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Creates the venv VENV if needed and installs DuckDB into it.
ensure_duckdb() {
    [ -x "$1/bin/python" ] || python3 -m venv "$1"
    "$1/bin/python" -c "import duckdb" 2>/dev/null || "$1/bin/pip" install --quiet duckdb
}
# Runs COMMAND to build the folder DIR unless DIR.done says a previous run finished it (a folder
# left by an interrupted run is removed first): once DIR COMMAND...
once() {
    local dir="$1"; shift
    [ -f "$dir.done" ] && return
    rm -rf "$dir"
    "$@"
    touch "$dir.done"
}
# Bytes in MiB, one decimal: mib BYTES.
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
# The bytes of the files under DIR named like PATTERN: bytes_under DIR PATTERN.
bytes_under() { find "$1" -name "$2" -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }
# PART as a percentage of WHOLE, one decimal: percent PART WHOLE.
percent() { awk -v p="$1" -v w="$2" 'BEGIN {printf "%.1f", 100 * p / w}'; }

# The bytes of a size such as 2GiB, 512MiB or 1GB.
bytes() {
    awk -v s="$1" 'BEGIN {
        n = s + 0; u = s; sub(/^[0-9.]+/, "", u)
        f["KiB"] = 1024; f["MiB"] = 1048576; f["GiB"] = 1073741824
        f["KB"] = 1e3; f["MB"] = 1e6; f["GB"] = 1e9; f[""] = 1
        printf "%.0f", n * f[u]
    }'
}
