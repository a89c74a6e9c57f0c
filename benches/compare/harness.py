"""Side-by-side comparison of verbatim with DuckDB, Polars and Dask: ingest the same corpus, run the same
query set over the same Parquet (verbatim's archive), check that the answers agree, and write a Markdown
report, a JSON record and a PNG chart. Started by benches/compare.sh, which builds verbatim, prepares the
virtual environment and the corpus; run `compare.sh --help` for the knobs.

Every step runs as its own process. Wall time is measured around the process; peak memory is the
largest of (a) the sum of resident set sizes over the process tree, sampled every 20 ms, and (b) the
kernel's maximum resident set size of the process (wait4), which catches peaks between samples.
"""

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from peers import SPEAKER_TIME_SQL  # noqa: E402
PEERS = os.path.join(HERE, "peers.py")
ENGINES = ["verbatim", "duckdb", "polars", "dask"]
# A query's peak resident memory may be at most this multiple of `--memory-limit` (issue 13).
QUERY_MEMORY_BOUND = 1.1

QUERY_NAMES = ["top_words", "top_bigrams", "phrase_search", "phrase_search_all", "speaker_time", "doc_stats",
               "time_window", "longest_pauses"]

# verbatim's side of the query set. The peers' versions are in peers.py; all must return the same rows.
VERBATIM_SQL = {
    "top_words": """
        SELECT word, count(*) AS n FROM (SELECT unnest(tokenize(text)) AS word FROM segments)
        GROUP BY word ORDER BY n DESC, word LIMIT {top}""",
    "top_bigrams": """
        SELECT bigram, count(*) AS n FROM (SELECT unnest(ngrams(text, 2)) AS bigram FROM segments)
        GROUP BY bigram ORDER BY n DESC, bigram LIMIT {top}""",
    "phrase_search": """
        SELECT doc_id, seq, start_ms, end_ms, text FROM segments
        WHERE phrase_match(text, '{phrase}')
        ORDER BY doc_id, seq LIMIT {top}""",
    "phrase_search_all": """
        SELECT doc_id, seq, start_ms, end_ms, text FROM segments
        WHERE phrase_match(text, '{phrase}')
        ORDER BY doc_id, seq""",
    # The same SQL as DuckDB's.
    "speaker_time": SPEAKER_TIME_SQL.replace("$top", "{top}"),
    "doc_stats": """
        SELECT doc_id, count(*) AS segments, sum(word_count(text)) AS words,
               max(end_ms) - min(start_ms) AS span_ms,
               round(sum(word_count(text)) * 60000.0 / (max(end_ms) - min(start_ms)), 2) AS wpm
        FROM segments GROUP BY doc_id HAVING max(end_ms) > min(start_ms)
        ORDER BY wpm DESC, doc_id LIMIT {top}""",
    "time_window": """
        SELECT doc_id, seq, start_ms, end_ms, text FROM segments
        WHERE start_ms >= {window_start} AND start_ms < {window_end}
        ORDER BY doc_id, seq LIMIT {top}""",
    "longest_pauses": """
        SELECT doc_id, seq, start_ms, gap_ms FROM (
            SELECT doc_id, seq, start_ms,
                   start_ms - lag(end_ms) OVER (PARTITION BY doc_id ORDER BY seq) AS gap_ms
            FROM segments)
        WHERE gap_ms IS NOT NULL
        ORDER BY gap_ms DESC, doc_id, seq LIMIT {top}""",
}


def parse_size(text):
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    digits = text.rstrip("BbKkMmGgIi")
    return int(float(digits) * units[text[len(digits):].upper()])


# ---------------------------------------------------------------------------------------------------
# Measuring one step


def tree_rss_bytes(pid):
    """Resident bytes of `pid` and all its descendants (0 when it is gone)."""
    children = {}
    rss = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def own_high_water_bytes():
    """This process's peak resident bytes so far (VmHWM), which its children's ru_maxrss inherit."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def measure(cmd, stdout_path, stderr_path, env, timeout):
    """Runs `cmd`; returns dict(seconds, peak_bytes, status) where status is ok, failed or timeout."""
    spawner_high_water = own_high_water_bytes()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, start_new_session=True)
        peak = 0
        status, exit_code = None, None
        while True:
            try:
                pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                seconds = time.monotonic() - started
                # Linux carries the spawning process's high-water mark into the child's ru_maxrss
                # (exec keeps it), so a value no larger than this harness's own high-water mark may
                # be the harness's, not the step's: then only the sampled peak is trusted.
                if usage.ru_maxrss * 1024 > spawner_high_water:
                    peak = max(peak, usage.ru_maxrss * 1024)
                exit_code = os.waitstatus_to_exitcode(code)
                status = "ok" if exit_code == 0 else "failed"
                break
            peak = max(peak, tree_rss_bytes(proc.pid))
            if time.monotonic() - started > timeout:
                os.killpg(proc.pid, 9)
                proc.wait()
                seconds, status = time.monotonic() - started, "timeout"
                break
            time.sleep(0.02)
        proc.returncode = exit_code
    return {"seconds": seconds, "peak_bytes": peak, "status": status, "exit_code": exit_code}


# ---------------------------------------------------------------------------------------------------
# Answers


def read_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[1:] if rows else []


def same_cell(a, b):
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6)


def compare_answers(reference, other):
    """None when equal, else a short description of the first difference."""
    a, b = read_rows(reference), read_rows(other)
    if len(a) != len(b):
        return f"{len(b)} rows instead of {len(a)}"
    for i, (x, y) in enumerate(zip(a, b)):
        if len(x) != len(y) or not all(same_cell(p, q) for p, q in zip(x, y)):
            return f"row {i + 1}: {y} instead of {x}"
    return None


# ---------------------------------------------------------------------------------------------------
# The run


class Run:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work)
        self.archive = os.path.join(self.work, "archive")
        self.answers = os.path.join(self.work, "answers")
        self.logs = os.path.join(self.work, "logs")
        for d in (self.answers, self.logs):
            os.makedirs(d, exist_ok=True)
        self.corpus_bytes = sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(args.corpus)
            for name in names
            if name.endswith((".json", ".vtt"))
        )
        self.corpus_files = sum(
            1 for _, _, names in os.walk(args.corpus) for name in names if name.endswith((".json", ".vtt"))
        )
        self.env = dict(os.environ)
        self.env.update(
            THREADS=str(args.threads),
            POLARS_MAX_THREADS=str(args.threads),
            ZSTD_LEVEL=str(args.zstd_level),
            ROW_GROUP_ROWS=str(args.row_group_rows),
            MEMORY_LIMIT_BYTES=str(parse_size(args.peer_memory_limit) if args.peer_memory_limit else 0),
            SPILL_DIR=os.path.join(self.work, "spill"),
            PHRASE=args.phrase,
            WINDOW_START_MS=str(args.window_start_ms),
            WINDOW_END_MS=str(args.window_end_ms),
            TOP=str(args.top),
        )
        os.makedirs(self.env["SPILL_DIR"], exist_ok=True)
        self.results = {"ingest": {}, "queries": {name: {} for name in args.queries}}
        self.invocations = []  # earlier runs whose numbers are kept (--merge, --skip-ingest)

    def log(self, message):
        print(message, file=sys.stderr, flush=True)

    def step(self, label, cmd, stdout_path, env=None):
        stem = os.path.join(self.logs, label)
        os.sync()  # no step pays for writing back the previous step's output
        result = measure(cmd, stdout_path or stem + ".out", stem + ".err", env or self.env, self.args.timeout)
        mib = result["peak_bytes"] / 2**20
        self.log(f"  {label}: {result['status']} in {result['seconds']:.2f} s, peak {mib:.0f} MiB")
        if result["status"] == "failed":
            with open(stem + ".err", errors="replace") as f:
                self.log("    " + "    ".join(f.readlines()[-5:]))
        return result

    def ingest(self):
        for engine in self.args.engines:
            self.log(f"== ingest: {engine}")
            if engine == "verbatim":
                shutil.rmtree(self.archive, ignore_errors=True)
                cmd = [self.args.verbatim, "ingest", self.args.corpus, "--archive", self.archive,
                       "--memory-limit", self.args.memory_limit, "--zstd-level", str(self.args.zstd_level)]
                result = self.step("ingest-verbatim", cmd, None)
                if result["exit_code"] == 3:
                    result["status"] = "ok"  # exit 3: some input was rejected, the rest was committed
                if result["status"] != "ok":
                    raise SystemExit("verbatim ingest failed: see " + os.path.join(self.logs, "ingest-verbatim.err"))
                result["rows"] = self.verbatim_count()
            else:
                out = os.path.join(self.work, f"ingest-{engine}")
                shutil.rmtree(out, ignore_errors=True)
                result = self.step(f"ingest-{engine}", [sys.executable, PEERS, "ingest", engine, self.args.corpus, out], None)
                if result["status"] == "ok":
                    with open(os.path.join(self.logs, f"ingest-{engine}.out")) as f:
                        result["rows"] = json.loads(f.read().strip().splitlines()[-1])["rows"]
                    result["output_bytes"] = dir_bytes(out)
                shutil.rmtree(out, ignore_errors=True)  # only verbatim's archive is queried; keep the disk free
            if engine == "verbatim":
                result["output_bytes"] = dir_bytes(os.path.join(self.archive, "segments"))
            result["measured"] = self.args.started
            self.results["ingest"][engine] = result
            self.save()

    def load_previous(self):
        """With --skip-ingest or --merge: keeps the previous run's numbers (ingest, and the queries of engines
        not run again), so that one engine or query can be re-measured without redoing the rest."""
        path = os.path.join(self.work, "results.json")
        if not os.path.exists(path):
            return
        with open(path) as f:
            previous = json.load(f)
        self.invocations = previous.get("meta", {}).get("invocations", [])
        self.results["ingest"] = previous.get("ingest", {})
        for name, engines in previous.get("queries", {}).items():
            measured_now = name in self.args.queries
            kept = {e: r for e, r in engines.items() if not (measured_now and e in self.args.query_engines)}
            self.results["queries"].setdefault(name, {}).update(kept)

    def verbatim_count(self):
        out = subprocess.run(
            [self.args.verbatim, "sql", "-q", "--archive", self.archive, "--format", "csv",
             "SELECT count(*) FROM segments"],
            check=True, capture_output=True, text=True,
        ).stdout
        return int(out.strip().splitlines()[-1])

    def segment_files(self):
        manifests = sorted(
            os.listdir(os.path.join(self.archive, "_verbatim", "manifests")), key=lambda n: int(n.split(".")[0])
        )
        with open(os.path.join(self.archive, "_verbatim", "manifests", manifests[-1])) as f:
            manifest = json.load(f)
        files = [os.path.join(self.archive, entry["path"]) for entry in manifest["tables"]["segments"]]
        path = os.path.join(self.work, "segment-files.txt")
        with open(path, "w") as f:
            f.write("\n".join(files) + "\n")
        return path

    def queries(self):
        files = self.segment_files()
        params = dict(top=self.args.top, phrase=self.args.phrase.replace("'", "''"),
                      window_start=self.args.window_start_ms, window_end=self.args.window_end_ms)
        for name in self.args.queries:
            for engine in self.args.query_engines:
                self.log(f"== {name}: {engine}")
                if engine == "verbatim":
                    sql = " ".join(VERBATIM_SQL[name].format(**params).split())
                    cmd = [self.args.verbatim, "sql", "-q", "--archive", self.archive, "--memory-limit",
                           self.args.memory_limit, "--spill-dir", self.env["SPILL_DIR"], "--format", "csv", sql]
                else:
                    cmd = None
                runs = []
                answer = os.path.join(self.answers, f"{name}-{engine}.csv")
                for i in range(self.args.runs):
                    peer_out = answer + ".tmp"
                    if engine == "verbatim":
                        result = self.step(f"{name}-{engine}-{i + 1}", cmd, peer_out)
                    else:
                        label = f"{name}-{engine}-{i + 1}"
                        peer_cmd = [sys.executable, PEERS, "query", engine, name, files, peer_out]
                        result = self.step(label, peer_cmd, None)
                        if self.out_of_memory(engine, label, result):
                            # Still worth knowing its time and answer: run again with no limit.
                            self.log(f"  {label}: out of memory at its limit; again without a limit")
                            failed_after = result["seconds"]
                            result = self.step(label + "-nolimit", peer_cmd, None, dict(self.env, MEMORY_LIMIT_BYTES="0"))
                            result["out_of_memory_after"] = failed_after
                    runs.append(result)
                    if result["status"] != "ok":
                        break
                    os.replace(peer_out, answer)
                ok = [r for r in runs if r["status"] == "ok"]
                summary = {
                    **({"out_of_memory_after": runs[-1]["out_of_memory_after"]} if "out_of_memory_after" in runs[-1] else {}),
                    "status": runs[-1]["status"],
                    "runs": [round(r["seconds"], 3) for r in runs],
                    "seconds": statistics.median(r["seconds"] for r in ok) if ok else runs[-1]["seconds"],
                    "peak_bytes": max(r["peak_bytes"] for r in runs),
                }
                summary["measured"] = self.args.started
                self.results["queries"][name][engine] = summary
                self.save()
            self.check_agreement(name)

    def out_of_memory(self, engine, label, result):
        """Whether a DuckDB step failed for lack of memory under the memory limit it was given."""
        if engine != "duckdb" or result["status"] != "failed" or self.env["MEMORY_LIMIT_BYTES"] == "0":
            return False
        with open(os.path.join(self.logs, label + ".err"), errors="replace") as f:
            return "Out of Memory" in f.read()

    def check_agreement(self, name):
        measured = self.results["queries"][name]
        engines = [e for e in ENGINES if e in measured and measured[e]["status"] == "ok"]
        if not engines:
            return
        reference = engines[0]
        ref_path = os.path.join(self.answers, f"{name}-{reference}.csv")
        for engine in engines[1:]:
            diff = compare_answers(ref_path, os.path.join(self.answers, f"{name}-{engine}.csv"))
            self.results["queries"][name][engine]["agrees_with"] = reference
            self.results["queries"][name][engine]["difference"] = diff
            self.log(f"  {name}: {engine} {'agrees with' if diff is None else 'DIFFERS from'} {reference}"
                     + ("" if diff is None else f": {diff}"))
        rows = len(read_rows(ref_path))
        self.results["queries"][name][reference]["rows"] = rows
        self.save()

    def save(self):
        meta = {
            "size": self.args.size,
            "corpus_files": self.corpus_files,
            "corpus_bytes": self.corpus_bytes,
            "corpus_kind": self.args.corpus_kind,
            "memory_limit": self.args.memory_limit,
            "peer_memory_limit": self.args.peer_memory_limit,
            "threads": self.args.threads,
            "zstd_level": self.args.zstd_level,
            "row_group_rows": self.args.row_group_rows,
            "runs": self.args.runs,
            "phrase": self.args.phrase,
            "window_ms": [self.args.window_start_ms, self.args.window_end_ms],
            "top": self.args.top,
            "versions": self.args.versions,
            "started": self.args.started,
            "invocations": self.invocations + [{"started": self.args.started, "command": self.args.command_line}],
        }
        with open(os.path.join(self.work, "results.json"), "w") as f:
            json.dump({"meta": meta, **self.results}, f, indent=2)


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(r, n)) for r, _, names in os.walk(path) for n in names)


# ---------------------------------------------------------------------------------------------------
# Report


def fmt_seconds(s):
    return f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def fmt_mib(b):
    return f"{b / 2**20:.0f} MiB"


def cell(result, corpus_bytes, baseline, limit_bytes):
    if result is None:
        return "not run"
    if result["status"] != "ok":
        return f"{result['status']} after {fmt_seconds(result['seconds'])}"
    text = f"{fmt_seconds(result['seconds'])}, {corpus_bytes / 1e6 / result['seconds']:.0f} MB/s, {fmt_mib(result['peak_bytes'])}"
    if baseline is not None and baseline is not result and baseline["status"] == "ok":
        text += f", **{result['seconds'] / baseline['seconds']:.2f}x**"
    if result.get("difference"):
        text += ", DIFFERENT ANSWER"
    if "out_of_memory_after" in result:
        text += f" † (out of memory at its limit after {fmt_seconds(result['out_of_memory_after'])})"
    return text


def report(results, path_md, path_png, command):
    meta = results["meta"]
    results["queries"] = {name: results["queries"][name] for name in QUERY_NAMES if name in results["queries"]}
    invocations = meta.get("invocations", [])
    if invocations:
        command = invocations[-1]["command"]
    engines = [e for e in ENGINES if e in results["ingest"] or any(e in q for q in results["queries"].values())]
    limit_bytes = parse_size(meta["memory_limit"])
    lines = [
        f"# verbatim vs DuckDB, Polars and Dask: {meta['size']} "
        + ("of real speech" if meta.get("corpus_kind") == "speech" else "generated corpus"),
        "",
        f"Run {meta['started']} on this machine ({os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB), `{command}`. "
        f"Versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}.",
        "",
    ]
    if len(invocations) > 1:
        lines.append("The numbers were measured by these invocations (each step once, by the latest one that ran it; "
                     "`--merge` keeps the others'):")
        lines.append("")
        for number, inv in enumerate(invocations, 1):
            steps = measured_by(results, inv["started"])
            lines.append(f"{number}. {inv['started']}: `{inv['command']}`" + (f": {steps}" if steps else ": (superseded)"))
        lines.append("")
    lines += [
        (f"Corpus: `verbatim gen --size {meta['size']} --seed 1`, {meta['corpus_files']:,} files, "
         f"{meta['corpus_bytes'] / 1e9:.2f} GB of youtube-transcript-api JSON"
         if meta.get("corpus_kind", "generated") == "generated" else
         f"Corpus: real speech, `verbatim gen --speech benches/corpora/oxide-and-friends --size {meta['size']}`: "
         f"{meta['corpus_files']:,} files, {meta['corpus_bytes'] / 1e9:.2f} GB of podcast transcripts as "
         f"youtube-transcript-api JSON, a tenth WhisperX JSON and a tenth WebVTT (every engine reads all three)")
        + ", read once before the run (warm page cache). "
        f"{meta['threads']} threads everywhere; Parquet zstd level {meta['zstd_level']}, row groups of at most "
        f"{meta['row_group_rows']:,} rows. verbatim runs with `--memory-limit {meta['memory_limit']}`"
        + (f", DuckDB with `memory_limit = {meta['peer_memory_limit']}`" if meta["peer_memory_limit"] else "")
        + "; Polars and Dask have no memory limit to set.",
        "",
        "Each cell: wall time, throughput in MB of corpus JSON per second, peak resident memory (whole process "
        "tree) and, in bold, the time as a multiple of verbatim's (above 1 means verbatim is faster). "
        f"Queries run over the same Parquet files (verbatim's `segments` table); times are the median of "
        f"{meta['runs']} run(s).",
        "",
        "| step | " + " | ".join(engines) + " |",
        "|---|" + "---|" * len(engines),
    ]
    steps = [("ingest", results["ingest"])] + list(results["queries"].items())
    for step, by_engine in steps:
        base = by_engine.get("verbatim")
        row = [cell(by_engine.get(e), meta["corpus_bytes"], base, limit_bytes) for e in engines]
        lines.append(f"| {step} | " + " | ".join(row) + " |")
    lines.append("")
    if any("out_of_memory_after" in r for _, by_engine in steps for r in by_engine.values()):
        lines.append("† Ran out of memory under `memory_limit` and was run again without a limit; the time, memory and "
                     "answer shown are from that second run.")
        lines.append("")

    lines.append("Ratios against verbatim (peer time / verbatim time):")
    lines.append("")
    query_columns = [*results["queries"], "query geomean"] if results["queries"] else []
    lines.append("| " + " | ".join(["peer", "ingest", *query_columns]) + " |")
    lines.append("|" + "---|" * (2 + len(query_columns)))
    for peer in engines:
        if peer == "verbatim":
            continue
        ratios = []
        row = [ratio_text(results["ingest"].get(peer), results["ingest"].get("verbatim"))]
        for q in results["queries"].values():
            row.append(ratio_text(q.get(peer), q.get("verbatim")))
            r = ratio(q.get(peer), q.get("verbatim"))
            if r:
                ratios.append(r)
        geo = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None
        if query_columns:
            row.append(f"{geo:.2f}x" if geo else "n/a")
        lines.append(f"| {peer} | " + " | ".join(row) + " |")
    lines.append("")

    ingest_run = results["ingest"].get("verbatim")
    query_runs = [(name, q["verbatim"]) for name, q in results["queries"].items() if q.get("verbatim")]
    if query_runs:
        name, top = max(query_runs, key=lambda run: run[1]["peak_bytes"])
        bound = limit_bytes * QUERY_MEMORY_BOUND
        verdict = "within" if top["peak_bytes"] <= bound else "OVER"
        lines.append(f"verbatim's peak RSS over the queries: {fmt_mib(top['peak_bytes'])} in {name}, {verdict} the bound of "
                     f"{QUERY_MEMORY_BOUND}x `--memory-limit {meta['memory_limit']}` ({fmt_mib(bound)})"
                     + (f"; ingest: {fmt_mib(ingest_run['peak_bytes'])}." if ingest_run else "."))
        lines.append("")

    lines.append("Answers:")
    lines.append("")
    for name, by_engine in results["queries"].items():
        checks = [f"{e} {'=' if r.get('difference') is None else '≠'} {r['agrees_with']}"
                  for e, r in by_engine.items() if "agrees_with" in r]
        diffs = [f"{e}: {r['difference']}" for e, r in by_engine.items() if r.get("difference")]
        lines.append(f"- {name}: " + (", ".join(checks) if checks else "only one engine finished")
                     + ("" if not diffs else " (" + "; ".join(diffs) + ")"))
    lines.append("")
    ingest_rows = {e: r.get("rows") for e, r in results["ingest"].items() if r.get("rows") is not None}
    if ingest_rows:
        same = len(set(ingest_rows.values())) == 1
        lines.append("Rows ingested: " + ", ".join(f"{e} {n:,}" for e, n in ingest_rows.items())
                     + (" (all equal)." if same else " (NOT equal)."))
        lines.append("")
    lines.append(f"Chart: `{os.path.basename(path_png)}`. Raw numbers: `{os.path.basename(path_md)[:-3]}.json`.")
    with open(path_md, "w") as f:
        f.write("\n".join(lines) + "\n")
    chart(results, engines, path_png)


def measured_by(results, started):
    """The steps whose kept numbers an invocation measured, e.g. `ingest: duckdb, polars`."""
    parts = []
    for step, by_engine in [("ingest", results["ingest"])] + list(results["queries"].items()):
        engines = [e for e in ENGINES if e in by_engine and by_engine[e].get("measured") == started]
        if engines:
            parts.append(f"{step} ({', '.join(engines)})")
    return "; ".join(parts)


def ratio(result, base):
    if not result or not base or result["status"] != "ok" or base["status"] != "ok":
        return None
    return result["seconds"] / base["seconds"]


def ratio_text(result, base):
    r = ratio(result, base)
    if r is not None:
        return f"{r:.2f}x" + (" †" if "out_of_memory_after" in result else "")
    if result and result["status"] != "ok":
        return f"{result['status']} (>{result['seconds'] / base['seconds']:.1f}x)" if base else result["status"]
    return "n/a"


def chart(results, engines, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = ["ingest"] + list(results["queries"])
    fig, ax = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / len(engines)
    colours = {"verbatim": "#1f6f8b", "duckdb": "#e0a106", "polars": "#4b8b3b", "dask": "#b8474d"}
    for i, engine in enumerate(engines):
        xs, ys, hatch = [], [], []
        for j, step in enumerate(steps):
            r = results["ingest"].get(engine) if step == "ingest" else results["queries"][step].get(engine)
            if r:
                xs.append(j + (i - (len(engines) - 1) / 2) * width)
                ys.append(r["seconds"])
                hatch.append(r["status"] != "ok")
        bars = ax.bar(xs, ys, width, label=engine, color=colours.get(engine))
        for bar, unfinished in zip(bars, hatch):
            if unfinished:
                bar.set_hatch("//")
                bar.set_alpha(0.5)
    ax.set_yscale("log")
    ax.set_xticks(range(len(steps)))
    ax.set_xticklabels([s.replace("_", " ") for s in steps])
    ax.set_ylabel("wall time, s (log; lower is better)")
    meta = results["meta"]
    ax.set_title(f"{meta['size']} corpus ({meta['corpus_bytes'] / 1e9:.1f} GB JSON), {meta['threads']} threads; hatched = did not finish")
    ax.legend()
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--verbatim", required=True)
    p.add_argument("--size", required=True)
    p.add_argument("--corpus-kind", choices=["generated", "speech"], default="generated",
                   help="how compare.sh made the corpus: `verbatim gen` text, or real speech (`gen --speech`)")
    p.add_argument("--results", required=True, help="folder for the report, chart and JSON")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--queries", default=",".join(QUERY_NAMES))
    p.add_argument("--query-engines", help="engines that run the queries (default: --engines)")
    p.add_argument("--skip-ingest", action="store_true", help="query the existing archive in --work")
    p.add_argument("--merge", action="store_true",
                   help="keep the last run's numbers for engines and queries not measured now")
    p.add_argument("--report-only", action="store_true", help="write the report of the last run again, measuring nothing")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-limit", default="1GiB")
    p.add_argument("--peer-memory-limit", default="1GiB")
    p.add_argument("--zstd-level", type=int, default=1)
    p.add_argument("--row-group-rows", type=int, default=1 << 20)
    p.add_argument("--phrase", default="of the")
    p.add_argument("--window-start-ms", type=int, default=600_000)
    p.add_argument("--window-end-ms", type=int, default=630_000)
    p.add_argument("--top", type=int, default=100)
    p.add_argument("--timeout", type=float, default=1800, help="seconds before a step is stopped")
    p.add_argument("--command", default="benches/compare.sh")
    args = p.parse_args()
    args.engines = [e for e in args.engines.split(",") if e]
    args.queries = [q for q in args.queries.split(",") if q]
    args.query_engines = [e for e in (args.query_engines or ",".join(args.engines)).split(",") if e]
    for e in args.engines + args.query_engines:
        if e not in ENGINES:
            raise SystemExit(f"unknown engine {e}; known: {', '.join(ENGINES)}")
    for q in args.queries:
        if q not in QUERY_NAMES:
            raise SystemExit(f"unknown query {q}; known: {', '.join(QUERY_NAMES)}")
    args.started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    args.command_line = args.command
    args.versions = versions(args.verbatim)

    run = Run(args)
    if args.report_only:
        write_report(run, args)
        return
    if args.skip_ingest or args.merge:
        run.load_previous()
    if not args.skip_ingest:
        run.ingest()
    run.queries()
    run.save()
    write_report(run, args)


def write_report(run, args):
    """Writes the report, chart and raw numbers of `run`'s results.json to --results."""
    with open(os.path.join(run.work, "results.json")) as f:
        results = json.load(f)
    os.makedirs(args.results, exist_ok=True)
    kind = "speech-" if args.corpus_kind == "speech" else ""
    stem = os.path.join(args.results, f"compare-{kind}{args.size}")
    shutil.copy(os.path.join(run.work, "results.json"), stem + ".json")
    report(results, stem + ".md", stem + ".png", args.command)
    with open(stem + ".md") as f:
        print(f.read())


def versions(verbatim):
    found = {"verbatim": subprocess.run([verbatim, "--version"], capture_output=True, text=True).stdout.split()[-1]}
    for module in ("duckdb", "polars", "dask"):
        try:
            found[module] = __import__(module).__version__
        except ImportError:
            pass
    return found


if __name__ == "__main__":
    main()
