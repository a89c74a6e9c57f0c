"""The Python package against the CLI, on the bundled sample and real speech, on disk and S3."""

from __future__ import annotations

import concurrent.futures
import gc
import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import verbatim
from conftest import REPO, SAMPLE, run_cli

TOP_CHANNELS = "SELECT channel, count(*) AS documents FROM documents GROUP BY 1 ORDER BY 2 DESC, 1"
TOP_WORDS = "SELECT word, count(*) AS n FROM (SELECT unnest(tokenize(text)) AS word FROM segments) GROUP BY word ORDER BY n DESC, word LIMIT 20"


def test_sql_gives_arrow_pandas_polars_and_batches(archive: verbatim.Archive) -> None:
    result = archive.sql(TOP_WORDS)
    table = result.to_arrow()
    assert table.num_rows == 20
    assert table.column_names == ["word", "n"]
    frame = result.to_pandas()
    assert frame["n"].tolist() == table.column("n").to_pylist()
    assert result.to_polars()["word"].to_list() == table.column("word").to_pylist()
    reader = result.batches()
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.read_all().equals(table)
    assert repr(result).startswith("<verbatim.Result (word: string")


def test_arrow_types_equal_the_clis(archive: verbatim.Archive, archive_path: Path, tmp_path: Path) -> None:
    for query in [TOP_WORDS, "SELECT * FROM segments LIMIT 50", "SELECT * FROM documents", "SELECT * FROM search('python', 1, 10, 0)"]:
        out = tmp_path / "out.parquet"
        run_cli("sql", "-q", "--archive", str(archive_path), "--format", "parquet", "--output", str(out), query)
        assert archive.sql(query).schema == pq.read_schema(out).remove_metadata(), query


def test_to_pandas_equals_the_clis_csv(archive: verbatim.Archive, archive_path: Path) -> None:
    query = "SELECT doc_id, seq, start_ms, text FROM segments ORDER BY doc_id, seq LIMIT 500"
    csv = run_cli("sql", "-q", "--archive", str(archive_path), "--format", "csv", query).stdout
    expected = pd.read_csv(io.StringIO(csv), keep_default_na=False)
    got = archive.sql(query).to_pandas()
    assert len(got) == 500
    pd.testing.assert_frame_equal(got.astype(str), expected.astype(str))


def test_arrow_c_stream_reaches_duckdb_polars_and_pyarrow(archive: verbatim.Archive) -> None:
    result = archive.sql(TOP_CHANNELS)
    expected = result.to_arrow()
    assert pa.table(result).equals(expected)
    assert pl.DataFrame(result).to_arrow().column("documents").to_pylist() == (
        expected.column("documents").to_pylist()
    )
    assert duckdb.sql("SELECT sum(documents) FROM result").fetchall()[0][0] == sum(expected.column("documents").to_pylist())


def test_search_and_saved_queries(archive: verbatim.Archive) -> None:
    hits = archive.search("global interpreter lock").to_arrow()
    assert hits.num_rows >= 3
    assert set(hits.column("hit").to_pylist()) == {"global interpreter lock", "Global Interpreter Lock"} & set(
        hits.column("hit").to_pylist()
    )
    near = archive.search("python NEAR/3 fast").to_arrow()
    assert near.num_rows >= 1
    top = archive.run("top-words", limit=5).to_arrow()
    assert top.num_rows == 5
    kwic = archive.run("kwic", phrase="global interpreter lock", width=20, limit=2).to_arrow()
    assert kwic.num_rows == 2
    queries = archive.saved_queries()
    assert "top-words" in queries and queries["kwic"].params["phrase"][1] is None
    assert queries["kwic"].params["group"][0] == "choice(document|channel|speaker|month)"
    assert "SELECT" in archive.saved_sql("top-words", limit=5)


def test_errors_are_exceptions_in_pythons_terms(archive: verbatim.Archive, tmp_path: Path) -> None:
    with pytest.raises(verbatim.QueryError, match="nosuchtable"):
        archive.sql("SELECT * FROM nosuchtable")
    with pytest.raises(verbatim.QueryError, match=r"archive.run\(\"kwic\", phrase=\.\.\.\)"):
        archive.run("kwic")
    with pytest.raises(verbatim.VerbatimError, match="kwic"):
        archive.run("kwik", phrase="x")
    with pytest.raises(verbatim.SettingsError, match="unknown setting memory_limt="):
        verbatim.Archive(tmp_path / "x", memory_limt="1GiB")
    with pytest.raises(verbatim.SettingsError, match="memory_limit"):
        verbatim.Archive(tmp_path / "x", memory_limit="lots")
    with pytest.raises(verbatim.VerbatimError, match=r"\.ingest\("):
        verbatim.Archive(tmp_path / "empty").sql("SELECT 1 FROM segments")
    small = verbatim.Archive(archive.uri, memory_limit="32MiB")
    with pytest.raises(verbatim.QueryError) as raised:
        # An aggregate without groups cannot spill: 2,000 copies of every caption do not fit.
        small.sql("SELECT array_agg(repeat(text, 2000)) FROM segments").to_arrow()
    message = str(raised.value)
    assert "memory_limit=" in message and "--memory-limit" not in message, message


def test_ingest_report_files_log_verify_and_time_travel(tmp_path: Path) -> None:
    archive = verbatim.Archive(tmp_path / "a", memory_limit="256MiB")
    with pytest.raises(verbatim.ArchiveError, match=r"no verbatim archive(.|\n)*\.ingest\("):
        archive.version
    seen = []
    report = archive.ingest(SAMPLE, progress=seen.append)
    assert report["documents"]["added"] == 1 and report["version_after"] == 1
    bad = tmp_path / "bad.json"
    bad.write_text('[{"text": "x", "start": "soon"}]')
    report = archive.ingest([bad, REPO / "tests" / "fixtures" / "external" / "webvtt-py"], progress=False)
    assert report["sources"]["rejected"] >= 1
    assert any("bad.json" in reject for reject in report["rejects"]), report["rejects"]
    assert archive.version == 2
    files = archive.files("segments")
    assert files and all(uri.startswith("file://") and uri.endswith(".parquet") for uri in files)
    log = archive.log()
    assert [entry["version"] for entry in log] == [1, 2]
    assert archive.verify()["problems"] == []
    assert archive.verify(deep=True)["problems"] == []
    first = verbatim.Archive(tmp_path / "a", as_of=1)
    assert first.version == 1
    assert first.sql("SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 1}]
    with pytest.raises(verbatim.VerbatimError, match="segments"):
        archive.files("segmnts")


def test_files_read_by_duckdb_and_polars_give_the_same_counts(archive: verbatim.Archive) -> None:
    rows = archive.sql("SELECT count(*) AS n FROM segments").to_pylist()[0]["n"]
    paths = [uri.removeprefix("file://") for uri in archive.files("segments")]
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet({paths!r})").fetchall()[0][0] == rows
    assert pl.scan_parquet(paths).select(pl.len()).collect().item() == rows
    documents = [uri.removeprefix("file://") for uri in archive.files("documents")]
    assert pl.scan_parquet(documents).select(pl.len()).collect().item() == archive.sql(
        "SELECT count(*) AS n FROM documents"
    ).to_pylist()[0]["n"]


def test_export_and_fmt(archive: verbatim.Archive, archive_path: Path) -> None:
    srt = archive.export("python-for-hpc", format="srt")
    expected = run_cli("export", "--archive", str(archive_path), "--doc", "python-for-hpc", "--format", "srt").stdout
    assert srt == expected
    assert srt.startswith("1\n00:00:")
    several = archive.export(where="doc_id LIKE 'python%'", format="txt")
    assert list(several) == ["python-for-hpc"]
    with pytest.raises(verbatim.VerbatimError):
        archive.export("no-such-document")
    # Python's json.dump writes no final newline; `fmt --stdout` ends the text with one.
    assert verbatim.fmt(SAMPLE) + "\n" == run_cli("fmt", "--stdout", str(SAMPLE)).stdout


def test_keyboard_interrupt_cancels_a_running_query(archive: verbatim.Archive) -> None:
    # 2,606^3 rows: minutes of work (a plain count(*) would be answered from statistics).
    runaway = "SELECT sum(length(a.text) + length(b.text) + length(c.text)) FROM segments a, segments b, segments c"
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        archive.sql(runaway).to_arrow()
    stopped = time.monotonic() - started
    assert stopped < 5, stopped
    # The query stopped: the process stays idle afterwards.
    before = time.process_time()
    time.sleep(1)
    assert time.process_time() - before < 0.5


def test_two_threads_query_at_once(archive: verbatim.Archive) -> None:
    queries = [TOP_WORDS, TOP_CHANNELS] * 3
    expected = [archive.sql(query).to_arrow() for query in queries]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        got = list(pool.map(lambda query: archive.sql(query).to_arrow(), queries))
    assert all(a.equals(b) for a, b in zip(got, expected))


def test_a_result_larger_than_the_budget_streams_in_bounded_memory(archive_path: Path) -> None:
    """A result several times the memory limit, read through batches(), in a process of its own
    so that its peak RSS is the stream's."""
    script = textwrap.dedent(
        f"""
        import verbatim
        archive = verbatim.Archive({str(archive_path)!r}, memory_limit="256MiB", threads=2)
        result = archive.sql("SELECT s.doc_id, s.seq, repeat(s.text, 40) AS text FROM segments s "
                             "CROSS JOIN (SELECT * FROM unnest(range(0, 150))) copies")
        total = 0
        for batch in result.batches():
            total += batch.nbytes
        # VmHWM: this process image's peak (ru_maxrss would include the forked test runner's).
        peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
        print(total, int(peak.split()[1]) * 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    streamed, peak = (int(value) for value in out.split())
    limit = 256 * 1024 * 1024
    assert streamed > 2 * limit, streamed
    assert peak < 1.25 * limit, f"peak RSS {peak / 2**20:.0f} MiB for a 256 MiB limit"


def test_everything_on_s3(s3_uri: str) -> None:
    archive = verbatim.Archive(s3_uri, memory_limit="256MiB")
    report = archive.ingest(SAMPLE, progress=False)
    assert report["documents"]["added"] == 1
    assert archive.sql("SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 1}]
    assert archive.search("global interpreter lock").to_arrow().num_rows >= 3
    assert archive.run("top-words", limit=3).to_arrow().num_rows == 3
    files = archive.files("segments")
    assert files and all(uri.startswith(s3_uri) for uri in files)
    assert archive.log()[0]["version"] == 1
    assert archive.verify()["problems"] == []
    assert archive.export("python-for-hpc", format="vtt").startswith("WEBVTT")


def test_a_stream_outlives_its_archive_and_result(archive_path: Path) -> None:
    """Readers keep the engine they read from: dropping the Archive and Result objects must not
    cut the rows short (nor blame the archive for it)."""
    query = "SELECT s.doc_id, s.seq, s.text FROM segments s CROSS JOIN (SELECT * FROM unnest(range(0, 20))) copies"
    expected = verbatim.Archive(archive_path).sql(f"SELECT count(*) AS n FROM ({query})").to_pylist()[0]["n"]
    capsule_reader = pa.RecordBatchReader.from_stream(verbatim.Archive(archive_path, threads=2).sql(query))
    batches_reader = verbatim.Archive(archive_path, threads=2).sql(query).batches()
    gc.collect()
    time.sleep(0.5)
    assert capsule_reader.read_all().num_rows == expected
    assert sum(batch.num_rows for batch in batches_reader) == expected


def test_keyboard_interrupt_stops_a_query_read_through_the_c_stream(archive: verbatim.Archive) -> None:
    runaway = "SELECT sum(length(a.text) + length(b.text) + length(c.text)) FROM segments a, segments b, segments c"
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(Exception, match="KeyboardInterrupt"):
        pa.table(archive.sql(runaway))
    assert time.monotonic() - started < 5
    before = time.process_time()
    time.sleep(1)
    assert time.process_time() - before < 0.5


def test_a_stopped_ingest_releases_the_archive_at_once(tmp_path: Path) -> None:
    """An ingest stopped from Python (a progress callback that raises, as Ctrl-C does) releases
    the write lock: the next ingest in the same process does not wait out the lease."""
    corpus = tmp_path / "corpus"
    run_cli("gen", "--size", "20MB", "--seed", "7", "--out", str(corpus))
    archive = verbatim.Archive(tmp_path / "a", memory_limit="256MiB", threads=2, wait="0s")

    def stop(counts: dict[str, int]) -> None:
        if counts["bytes"] > 0:  # files are being read: the run holds the lock
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        archive.ingest(corpus, progress=stop)
    deadline = time.monotonic() + 5
    while True:
        try:
            report = archive.ingest(SAMPLE, progress=False)
            break
        except verbatim.ArchiveError as busy:
            assert "busy" in str(busy), busy
            assert time.monotonic() < deadline, f"the lock is still held: {busy}"
            time.sleep(0.1)
    assert report["documents"]["added"] >= 1
    assert archive.verify()["problems"] == []


def test_hostile_arguments_get_pythonic_errors(archive: verbatim.Archive, archive_path: Path) -> None:
    with pytest.raises(verbatim.ArchiveError, match="99"):
        verbatim.Archive(archive_path, as_of=99)
    with pytest.raises(ValueError, match="as_of="):
        verbatim.Archive(archive_path, as_of=-1)
    with pytest.raises(ValueError, match="limit="):
        archive.search("open source", limit=-1)
    with pytest.raises(verbatim.QueryError, match=r"phrase=\.\.\."):
        archive.run("kwic", phrase=None)
    with pytest.raises(verbatim.QueryError, match="no SQL statement"):
        archive.sql("  ")
    with pytest.raises(verbatim.ArchiveError, match="'no-such-document'"):
        archive.export(["python-for-hpc", "no-such-document"], format="txt")
    assert verbatim.Archive(archive_path, memory_limit=2.0 * 2**30).memory_limit == 2**31
    with pytest.raises(ValueError, match="not UTF-8"):
        archive.ingest(os.fsdecode(b"/tmp/caf\xe9.json"), progress=False)


def test_exceptions_belong_to_the_package_and_pickle() -> None:
    error = verbatim.QueryError("no such table")
    assert type(error).__module__ == "verbatim" and type(error).__qualname__ == "QueryError"
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is verbatim.QueryError and str(again) == "no such table"
    assert issubclass(verbatim.ArchiveError, verbatim.VerbatimError)


def test_one_stream_read_from_two_threads_gives_every_row_once(archive: verbatim.Archive) -> None:
    query = "SELECT doc_id, seq FROM segments s CROSS JOIN (SELECT * FROM unnest(range(0, 30))) copies"
    expected = archive.sql(f"SELECT count(*) AS n FROM ({query})").to_pylist()[0]["n"]
    reader = pa.RecordBatchReader.from_stream(archive.sql(query))
    rows: list[int] = []

    def read() -> None:
        try:
            while True:
                rows.append(reader.read_next_batch().num_rows)
        except StopIteration:
            pass

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(rows) == expected


def test_rows_keep_their_own_nullability(archive: verbatim.Archive) -> None:
    # The planned schema says the list's items are not null; the folded constant holds a null.
    result = archive.sql("SELECT make_array(1, 2, NULL) AS l")
    assert result.to_pylist() == [{"l": [1, 2, None]}]
    assert [batch.num_rows for batch in result.batches()] == [1]
    assert pa.table(result).num_rows == 1


def test_an_archive_used_across_fork_says_so(archive_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys, verbatim
        a = verbatim.Archive({str(archive_path)!r})
        a.sql("SELECT count(*) AS n FROM segments").to_pylist()
        pid = os.fork()
        if pid == 0:
            # A normal exit (not os._exit): the parent's archive must not hang the child's exit.
            try:
                a.sql("SELECT 1")
                sys.exit(3)
            except verbatim.VerbatimError as error:
                fresh = verbatim.Archive({str(archive_path)!r}).sql("SELECT 1 AS one").to_pylist()
                sys.exit(0 if "os.fork()" in str(error) and fresh == [{{"one": 1}}] else 4)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0", out


def test_settings_out_of_reason_are_refused(archive_path: Path) -> None:
    with pytest.raises(verbatim.SettingsError, match="threads"):
        verbatim.Archive(archive_path, threads=10**6)
    with pytest.raises(ValueError, match="whole number"):
        verbatim.Archive(archive_path, memory_limit=1.5)
    with pytest.raises(TypeError):
        verbatim.Archive(archive_path).search(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="progress="):
        verbatim.Archive(archive_path).ingest(SAMPLE, progress="x")  # type: ignore[arg-type]


def test_a_result_whose_snapshot_was_vacuumed_says_so(tmp_path: Path) -> None:
    """Reading a result again after vacuum removed its snapshot is not lost data: it says which
    snapshots are kept."""
    transcript = tmp_path / "talk.json"
    transcript.write_text(SAMPLE.read_text())
    archive = verbatim.Archive(tmp_path / "a")
    archive.ingest(transcript, progress=False)
    result = archive.sql("SELECT count(*) AS n FROM segments")
    before = result.to_pylist()
    transcript.write_text(SAMPLE.read_text().replace('"text": "', '"text": "so ', 1))
    assert archive.ingest(transcript, progress=False)["documents"]["replaced"] == 1
    run_cli("vacuum", "-q", "--retention", "0s", "--archive", str(tmp_path / "a"))
    with pytest.raises(verbatim.ArchiveError, match=r"no snapshot v1 \(kept: v2 to v2\)"):
        result.to_pylist()
    assert archive.sql("SELECT count(*) AS n FROM segments").to_pylist() == before
