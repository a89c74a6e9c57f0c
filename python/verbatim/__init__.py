"""verbatim: speech transcript archives as chunked Parquet, queried with SQL in bounded memory.

The engine runs inside this process; results are Arrow, handed to pyarrow, pandas, Polars and
DuckDB without copies::

    import verbatim
    a = verbatim.Archive("captions-archive", memory_limit="2GiB")
    a.ingest(["captions/"])
    a.sql("SELECT channel, count(*) AS n FROM documents GROUP BY 1").to_pandas()
    a.search('"open source" NEAR/5 rust').to_polars()
    a.run("top-words", limit=50)
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence, Union

import pyarrow as pa

from verbatim import _native
from verbatim._native import (
    ArchiveError,
    IngestError,
    QueryError,
    SettingsError,
    VerbatimError,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    import polars

__all__ = [
    "Archive",
    "Result",
    "SavedQuery",
    "VerbatimError",
    "SettingsError",
    "ArchiveError",
    "QueryError",
    "IngestError",
    "fmt",
    "settings",
    "__version__",
]

__version__: str = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        raise ValueError(f"a setting is a whole number or text such as '2GiB', not {value!r}")
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"a setting is a str, int, float, bool or path, not {type(value).__name__}")


class Result:
    """The rows of a query, planned but not yet run: each read runs it (over the snapshot it was
    planned on). It implements the Arrow C stream interface, so ``pyarrow.table(r)``,
    ``polars.DataFrame(r)`` and ``duckdb.sql("FROM r")`` read it without copies."""

    def __init__(self, native: _native.Result) -> None:
        self._native = native

    @property
    def schema(self) -> pa.Schema:
        """The columns and their Arrow types."""
        return self._native.schema()

    def batches(self) -> pa.RecordBatchReader:
        """The rows as a stream of record batches, read as the query runs: a result larger than
        memory streams in bounded memory. Ctrl-C (KeyboardInterrupt) stops the query."""
        running = self._run()
        first = next(running, None)
        if first is None:
            return pa.RecordBatchReader.from_batches(self.schema, iter(()))
        # The batches' own schema: a planned one can claim "not null" where a folded constant
        # holds nulls (``make_array(1, NULL)``).
        return pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], running))

    def to_arrow(self) -> pa.Table:
        """All rows as a ``pyarrow.Table``."""
        batches = list(self._run())
        if not batches:
            return self.schema.empty_table()
        return pa.Table.from_batches(batches)

    def _run(self) -> Iterator[pa.RecordBatch]:
        """Runs the query and yields its batches; stops it when closed or abandoned."""
        running = self._native.execute()
        try:
            while (batch := running.next_batch()) is not None:
                yield batch
        finally:
            running.close()

    def to_pandas(self, **options: Any) -> "pandas.DataFrame":
        """All rows as a pandas DataFrame (``options`` go to ``pyarrow.Table.to_pandas``)."""
        return self.to_arrow().to_pandas(**options)

    def to_polars(self) -> "polars.DataFrame":
        """All rows as a Polars DataFrame."""
        import polars

        return polars.from_arrow(self.to_arrow())

    def to_pylist(self) -> list[dict[str, Any]]:
        """All rows as a list of dicts (for small results)."""
        return self.to_arrow().to_pylist()

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._native.__arrow_c_stream__(requested_schema)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return iter(self.batches())

    def __repr__(self) -> str:
        columns = ", ".join(f"{field.name}: {field.type}" for field in self.schema)
        return f"<verbatim.Result ({columns})>"


class SavedQuery:
    """A saved query: its name, what it answers, and its parameters
    (name -> (type, default or None when required, meaning))."""

    def __init__(self, name: str, description: str, params: dict[str, tuple[str, str | None, str]]):
        self.name = name
        self.description = description
        self.params = params

    def __repr__(self) -> str:
        params = ", ".join(
            f"{name}: {kind}" + ("" if default is None else f" = {default!r}")
            for name, (kind, default, _) in self.params.items()
        )
        return f"<verbatim.SavedQuery {self.name}({params})>"


class Archive:
    """A verbatim archive on disk or object storage, with its settings.

    ``memory_limit`` bounds the memory of every query and ingest of this archive object
    (e.g. ``"2GiB"`` or a number of bytes); ``storage_options`` are object store settings
    (``aws_region``, ``aws_endpoint``, ...); ``as_of`` reads that snapshot version instead of the
    newest; ``config`` is a config file (else ``./config/verbatim.toml`` or
    ``~/.config/verbatim/config.toml`` when there). Any other setting of ``verbatim.settings()``
    can be given by its name (``threads=2``, ``query_timeout="30s"``, ``chunk_size="64MiB"``).
    ``VERBATIM_*`` environment variables apply when an argument is not given.
    """

    def __init__(
        self,
        uri: PathLike,
        *,
        memory_limit: str | int | None = None,
        storage_options: Mapping[str, str] | None = None,
        as_of: int | None = None,
        config: PathLike | None = None,
        **settings: Any,
    ) -> None:
        given = dict(settings)
        if memory_limit is not None:
            given["memory_limit"] = memory_limit
        if as_of is not None and not _is_count(as_of):
            raise ValueError(f"as_of= is a snapshot version (an int >= 0; archive.log() lists them), not {as_of!r}")
        pairs = [(key, _setting_text(value)) for key, value in given.items() if value is not None]
        storage = [(str(key), str(value)) for key, value in (storage_options or {}).items()]
        self._native = _native.Archive(
            os.fspath(uri), pairs, storage, as_of, None if config is None else os.fspath(config)
        )
        self._as_of = as_of

    @property
    def uri(self) -> str:
        """The archive's location, as given."""
        return self._native.uri

    @property
    def memory_limit(self) -> int:
        """The memory budget, in bytes."""
        return self._native.memory_limit

    @property
    def version(self) -> int:
        """The snapshot version read: ``as_of``, else the newest (0 for an empty archive)."""
        return self._native.version()

    def sql(self, query: str) -> Result:
        """Plans ``query`` (verbatim's SQL: the tables ``documents``, ``segments``, ``words``,
        ``rejects``, the transcript functions and ``search(...)``) and returns its lazy result.
        Statements before the last one (``CREATE VIEW ...``) run now."""
        return Result(self._native.sql(query))

    def search(
        self,
        query: str,
        context: int = 1,
        limit: int = 1_000_000_000,
        since: int = 0,
    ) -> Result:
        """Every hit of ``query`` in the corpus query language (``open source``,
        ``"memory safe*" NEAR/5 rust``, ``the * of``, ``/colou?r/``, ``AND``, ``OR``, ``NOT``,
        ``speaker:``, ``channel:``, ``lang:``, ``after:``, ``before:``), with ``context`` captions
        each side, at most ``limit`` hits, from documents added or replaced after version
        ``since`` (0: all)."""
        if not isinstance(query, str):
            raise TypeError(f"the query is a str in the corpus query language, not {type(query).__name__}")
        for name, value in (("context", context), ("limit", limit), ("since", since)):
            if not _is_count(value):
                raise ValueError(f"{name}= is an int from 0 to 2**63 - 1, not {value!r}")
        literal = "'" + query.replace("'", "''") + "'"
        return self.sql(f"SELECT * FROM search({literal}, {int(context)}, {int(limit)}, {int(since)})")

    def saved_queries(self) -> dict[str, SavedQuery]:
        """The saved queries: the built-in ones and those of the ``queries`` setting's folder."""
        return {
            name: SavedQuery(
                name,
                description,
                {param: (kind, default, meaning) for param, kind, default, meaning in params},
            )
            for name, description, params in self._native.saved_queries()
        }

    def saved_sql(self, name: str, **params: Any) -> str:
        """The SQL that ``run(name, **params)`` runs (a parameter given as ``None`` takes its
        default)."""
        given = [(key, _param_text(value)) for key, value in params.items() if value is not None]
        return self._native.saved_sql(name, given)

    def run(self, name: str, **params: Any) -> Result:
        """Runs the saved query ``name`` (``archive.saved_queries()`` lists them) with its
        parameters as keyword arguments: ``archive.run("top-words", limit=50)``."""
        return self.sql(self.saved_sql(name, **params))

    def ingest(
        self,
        sources: PathLike | Sequence[PathLike],
        *,
        prune: bool = False,
        strict: bool = False,
        input_format: str | None = None,
        encoding: str | None = None,
        vacuum: bool = True,
        watch: PathLike | None = None,
        watch_output: PathLike | None = None,
        progress: bool | Callable[[dict[str, int]], None] = True,
    ) -> dict[str, Any]:
        """Ingests transcript files, folders, globs or object store URLs into the archive and
        commits them; returns the run's report (the JSON ``verbatim ingest --report`` writes).
        Bad files become rejects (listed in the report) and never stop the run. ``progress``:
        a bar (tqdm when installed, else a line on stderr now and then), ``False`` for none, or
        a function called with the counts. Ctrl-C stops the run; what it had not committed is
        not in the archive."""
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        paths = [os.fspath(source) for source in sources]
        for path in paths:
            if not isinstance(path, str):
                raise TypeError(f"a source is a str or os.PathLike of str, not {path!r}")
            try:
                path.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(
                    f"{path!r}: a source named by a path that is not UTF-8; give the folder that holds it"
                ) from None
        callback = _progress_callback(progress)
        try:
            report = self._native.ingest(
                paths,
                prune,
                strict,
                input_format,
                encoding,
                vacuum,
                None if watch is None else os.fspath(watch),
                None if watch_output is None else os.fspath(watch_output),
                None if callback is None else callback,
            )
        finally:
            if callback is not None:
                callback.close()
        return json.loads(report)

    def files(self, table: str = "segments") -> list[str]:
        """The URIs of ``table``'s files in the snapshot read: exactly the committed data, for
        DuckDB, Polars, pyarrow.dataset or Dask. (The archive's folder also holds superseded and
        staged files: do not read it by glob.)"""
        return self._native.files(table)

    def log(self) -> list[dict[str, Any]]:
        """The commits whose snapshots are kept, oldest first."""
        return [json.loads(line) for line in self._native.log()]

    def verify(self, deep: bool = False) -> dict[str, Any]:
        """Checks every file of the snapshot (``deep``: decodes every row group); the problems
        found (empty when sound)."""
        version, files, size, problems, notes = self._native.verify(deep)
        return {"version": version, "files_checked": files, "bytes_checked": size, "problems": problems, "notes": notes}

    def export(
        self,
        doc: str | Sequence[str] | None = None,
        *,
        where: str | None = None,
        format: str = "srt",
    ) -> str | dict[str, str]:
        """Documents as subtitles or transcripts (``format``: srt, vtt, txt or json). One id
        gives its text; several ids, or ``where`` (an SQL condition on ``documents``), give a dict
        of id to text."""
        ids = [doc] if isinstance(doc, str) else None if doc is None else list(doc)
        texts = dict(self._native.export(format, ids, where))
        missing = [id for id in ids or [] if id not in texts]
        if missing:
            shown = ", ".join(repr(id) for id in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise ArchiveError(f"no document {shown} in {self.uri} (snapshot {self.version})")
        if isinstance(doc, str):
            return texts[doc]
        return texts

    def __repr__(self) -> str:
        return f"<verbatim.Archive {self.uri!r}>"


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


class _Progress:
    """Shows an ingest's progress: tqdm when installed, else a line on stderr every 10 s."""

    def __init__(self, report: Callable[[dict[str, int]], None] | None) -> None:
        self._report = report
        self._bar: Any = None
        self._last_line = time.monotonic()
        if report is None:
            try:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=0, unit="B", unit_scale=True, desc="ingest")
            except ImportError:
                self._bar = None

    def __call__(self, files: int, files_total: int, done: int, total: int, segments: int) -> None:
        counts = {"files": files, "files_total": files_total, "bytes": done, "bytes_total": total, "segments": segments}
        if self._report is not None:
            self._report(counts)
        elif self._bar is not None:
            if self._bar.total != total:
                self._bar.total = total
            self._bar.update(done - self._bar.n)
            self._bar.set_postfix(files=f"{files}/{files_total}", segments=segments, refresh=False)
        elif time.monotonic() - self._last_line >= 10 and total:
            self._last_line = time.monotonic()
            print(f"verbatim: ingest {files}/{files_total} files, {100 * done / total:.0f}%", file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _is_count(value: Any) -> bool:
    """Whether ``value`` is an int from 0 to 2**63 - 1 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _progress_callback(progress: bool | Callable[[dict[str, int]], None]) -> _Progress | None:
    if progress is not True and progress is not False and not callable(progress):
        raise TypeError(f"progress= is True, False or a function of the counts, not {progress!r}")
    if progress is False:
        return None
    if progress is True:
        return _Progress(None)
    return _Progress(progress)


def fmt(path: PathLike, indent: int = 4) -> str:
    """A youtube-transcript-api JSON transcript pretty-printed as the talk's ``format_json.py``
    does (``json.dumps(..., indent=4)``), byte for byte."""
    return _native.fmt(os.fspath(path), indent)


def settings() -> dict[str, dict[str, str]]:
    """Every setting ``Archive`` takes by name: its environment variable, meaning and default."""
    return {key: {"env": env, "about": about, "default": default} for key, env, about, default in _native.settings()}
