//! `verbatim._native`: the engine every verbatim front end uses, for Python. A thin layer: it
//! resolves settings given as Python arguments, runs the engine's calls with the GIL released, hands
//! results over as Arrow (the C stream interface, without copies), and turns the engine's errors
//! into Python exceptions whose hints speak Python (`memory_limit=`, not `--memory-limit`). The
//! pure-Python package `verbatim` wraps it with types, docstrings and conversions.

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{RecordBatch, RecordBatchReader};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow_pyarrow::ToPyArrow;
use datafusion::logical_expr::LogicalPlan;
use futures::StreamExt;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use verbatim_archive::{CheckDepth, Table};
use verbatim_engine::{Engine, Error, Hint, IngestRequest, QueryStream, Session, Setting, SettingsBuilder};

pyo3::create_exception!(verbatim, VerbatimError, PyException, "Something verbatim could not do.");
pyo3::create_exception!(verbatim, SettingsError, VerbatimError, "A setting that does not read.");
pyo3::create_exception!(verbatim, ArchiveError, VerbatimError, "The archive could not be read or written.");
pyo3::create_exception!(verbatim, QueryError, VerbatimError, "A query that could not be planned or run.");
pyo3::create_exception!(verbatim, IngestError, VerbatimError, "An ingest that failed as a whole.");

/// How often a call that waits for the engine looks for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// The runtime Python's calls wait on: the engine runs queries on its own threads; this one only
/// drives the calls and their time limits. A process forked from one that used it gets a runtime
/// of its own (the parent's threads do not exist in the child).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: Mutex<Option<(u32, &'static tokio::runtime::Runtime)>> = Mutex::new(None);
    let mut current = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    match *current {
        Some((owner, runtime)) if owner == pid => runtime,
        _ => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("verbatim-python")
                .enable_all()
                .build()
                .expect("a tokio runtime starts");
            // Leaked: it lives as long as the process (one per process, not per call).
            let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(runtime));
            *current = Some((pid, runtime));
            runtime
        }
    }
}

/// Runs the future `make` gives to its end on a thread of its own (so the future need not be
/// `Send`), with the GIL released, calling `tick` every [`SIGNAL_CHECK`] and looking for Ctrl-C:
/// on KeyboardInterrupt the future is dropped (a query stops; an ingest commits nothing more).
fn wait_ticking<T, F, Fut>(py: Python<'_>, make: F, mut tick: impl FnMut(Python<'_>) -> PyResult<()>) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let (done, outcome) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let call = std::thread::Builder::new()
        .name("verbatim-call".to_string())
        .spawn(move || {
            let result = runtime().block_on(async move {
                tokio::select! {
                    result = make() => Some(result),
                    _ = stopped => None,
                }
            });
            let _ = done.send(result);
        })
        .map_err(|e| VerbatimError::new_err(format!("cannot start a thread: {e}")))?;
    let mut outcome = outcome;
    loop {
        let (received, receiver) = py.detach(move || (outcome.recv_timeout(SIGNAL_CHECK), outcome));
        outcome = receiver;
        match received {
            Ok(Some(result)) => return result.map_err(to_python),
            Ok(None) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(VerbatimError::new_err("the call stopped before it ended"));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let stopping = tick(py).and_then(|()| py.check_signals());
                if let Err(error) = stopping {
                    // Stopped, and waited for: the call has dropped its work (an ingest has
                    // stopped its workers and let go of the archive) before Python goes on.
                    let _ = stop.send(());
                    py.detach(move || call.join()).ok();
                    return Err(error);
                }
            }
        }
    }
}

/// [`wait_ticking`] without a tick.
fn wait<T, F, Fut>(py: Python<'_>, make: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    wait_ticking(py, make, |_| Ok(()))
}

/// The Python exception for `error`: its class by what failed (the archive, whichever call met
/// it, else the call), its message the error and its causes, then what would help in Python's
/// terms.
fn to_python(error: Error) -> PyErr {
    let message = python_message(&error);
    if error.archive_error().is_some() {
        return ArchiveError::new_err(message);
    }
    match error {
        Error::Settings(_) => SettingsError::new_err(message),
        Error::Archive(_) => ArchiveError::new_err(message),
        Error::Ingest(_) => IngestError::new_err(message),
        Error::Query(verbatim_query::QueryError::Cancelled) => PyKeyboardInterrupt::new_err(message),
        Error::Query(_) | Error::Output(_) | Error::Cluster(_) | Error::Invalid(_) => QueryError::new_err(message),
        _ => VerbatimError::new_err(message),
    }
}

/// What would help, phrased for Python.
fn python_hint(hint: Hint) -> String {
    match hint {
        Hint::Raise(setting) => format!("raise {}= (or {})", setting.key(), setting.env()),
        Hint::Give(setting) => format!("give {}= (or {})", setting.key(), setting.env()),
        Hint::CreateArchive { location } => {
            format!("create one with verbatim.Archive({location:?}).ingest([...])")
        }
        Hint::Verify { deep, .. } => {
            format!("archive.verify(deep={}) checks every file", if deep { "True" } else { "False" })
        }
        Hint::Recover { location } => {
            format!("`verbatim recover --archive {location}` rebuilds one from the table files")
        }
        Hint::Log { .. } => "archive.log() lists the snapshots kept".to_string(),
        Hint::GiveParam { query, param } => format!("give it: archive.run({query:?}, {param}=...)"),
    }
}

/// A value whose threads and locks belong to the process that made it. In a process forked from
/// that one it is never dropped (its drop would wait on threads or locks that stayed in the
/// parent, and the child would hang at exit): it is left for the child's exit to reclaim.
struct ForkSafe<T> {
    value: std::mem::ManuallyDrop<T>,
    pid: u32,
}

impl<T> ForkSafe<T> {
    fn new(value: T) -> ForkSafe<T> {
        ForkSafe { value: std::mem::ManuallyDrop::new(value), pid: std::process::id() }
    }
}

impl<T> std::ops::Deref for ForkSafe<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Drop for ForkSafe<T> {
    fn drop(&mut self) {
        if self.pid == std::process::id() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.value) }
        }
    }
}

/// Fails in a process forked after `opened_by` opened the archive: the engine's threads stayed
/// behind in the parent, and a call would wait for them forever.
fn not_forked(opened_by: u32) -> PyResult<()> {
    if std::process::id() == opened_by {
        return Ok(());
    }
    Err(VerbatimError::new_err(
        "this Archive was opened before os.fork(); open it again in the child process \
         (verbatim.Archive(...) there), or use the 'spawn' or 'forkserver' start method",
    ))
}

fn invalid(message: impl Into<String>) -> PyErr {
    VerbatimError::new_err(message.into())
}

/// An archive with its settings: the engine, one memory budget and query runtime for every call.
#[pyclass(module = "verbatim._native", name = "Archive", frozen)]
struct PyArchive {
    engine: ForkSafe<Engine>,
    as_of: Option<u64>,
    /// The process that opened it: the engine's threads do not survive `os.fork()`.
    pid: u32,
}

#[pymethods]
impl PyArchive {
    /// Opens the archive at `uri` with `settings` (key, value pairs as the config file names
    /// them), `storage_options` for object stores, reading the snapshot `as_of` (the newest when
    /// `None`) and the config file `config` (the default locations when `None`).
    #[new]
    #[pyo3(signature = (uri, settings, storage_options, as_of=None, config=None))]
    fn new(
        py: Python<'_>,
        uri: String,
        settings: Vec<(String, String)>,
        storage_options: Vec<(String, String)>,
        as_of: Option<u64>,
        config: Option<PathBuf>,
    ) -> PyResult<PyArchive> {
        let mut builder = SettingsBuilder::new()
            .config_file(config.as_deref())
            .map_err(|e| to_python(e.into()))?
            .environment()
            .given(Setting::Archive, uri);
        for (key, value) in settings {
            let Some(setting) = Setting::from_key(&key).filter(|s| *s != Setting::Archive) else {
                let known: Vec<&str> =
                    Setting::ALL.iter().filter(|s| **s != Setting::Archive).map(|s| s.key()).collect();
                return Err(SettingsError::new_err(format!(
                    "unknown setting {key}=; the settings are {}",
                    known.join(", ")
                )));
            };
            builder = builder.given(setting, value);
        }
        for (key, value) in storage_options {
            builder = builder.storage_option(key, value);
        }
        let settings = builder.build().map_err(|e| to_python(e.into()))?;
        let _entered = runtime().enter();
        let engine = py.detach(|| Engine::open(settings)).map_err(to_python)?;
        if let Some(version) = as_of {
            // A snapshot that is not kept fails here, not at the first read.
            let archive = engine.archive().clone();
            wait(py, move || async move { Ok(archive.snapshot_at(version).await.map(drop)?) })?;
        }
        Ok(PyArchive { engine: ForkSafe::new(engine), as_of, pid: std::process::id() })
    }

    /// The archive as given.
    #[getter]
    fn uri(&self) -> String {
        self.engine.archive().display().to_string()
    }

    /// The memory limit, in bytes.
    #[getter]
    fn memory_limit(&self) -> u64 {
        self.engine.settings().memory_limit
    }

    /// The snapshot version calls read (`as_of`, else the newest; 0 for an empty archive).
    fn version(&self, py: Python<'_>) -> PyResult<u64> {
        not_forked(self.pid)?;
        if let Some(version) = self.as_of {
            return Ok(version);
        }
        let archive = self.engine.archive().clone();
        wait(py, move || async move { Ok(archive.snapshot().await?.manifest.version) })
    }

    /// Plans `sql` (every statement; those before the last run now) and returns the last one's
    /// result, run each time it is read.
    fn sql(&self, py: Python<'_>, sql: String) -> PyResult<PyResultSet> {
        not_forked(self.pid)?;
        let engine = self.engine.clone();
        let as_of = self.as_of;
        let (session, plan) = wait(py, move || async move {
            let session = engine.session(as_of).await?;
            let mut statements = session.statements(&sql).await?;
            let Some(last) = statements.pop() else {
                return Err(Error::Invalid("no SQL statement given".to_string()));
            };
            for statement in statements {
                let mut stream = session.run(session.plan(statement).await?);
                while let Some(batch) = stream.next().await {
                    batch?;
                }
            }
            let plan = session.plan(last).await?;
            Ok((session, plan))
        })?;
        let schema = Arc::new(plan.schema().as_arrow().clone());
        Ok(PyResultSet { session: ForkSafe::new(Arc::new(session)), plan, schema, pid: self.pid })
    }

    /// The SQL of the saved query `name` with `params` (values as text), from the built-in
    /// queries and the `queries` folder of the settings.
    fn saved_sql(&self, name: &str, params: Vec<(String, String)>) -> PyResult<String> {
        let catalog = catalog(&self.engine)?;
        let query = verbatim_query::saved::find(&catalog, name).map_err(|e| to_python(e.into()))?;
        query.render(&params).map_err(|e| to_python(e.into()))
    }

    /// The saved queries: (name, description, [(parameter, type, default, description)]).
    #[allow(clippy::type_complexity)]
    fn saved_queries(&self) -> PyResult<Vec<(String, String, Vec<(String, String, Option<String>, String)>)>> {
        let catalog = catalog(&self.engine)?;
        Ok(catalog
            .into_iter()
            .map(|query| {
                let params = query
                    .params
                    .into_iter()
                    .map(|param| {
                        let kind = param.declared_type();
                        (param.name, kind, param.default, param.description)
                    })
                    .collect();
                (query.name, query.description, params)
            })
            .collect())
    }

    /// Ingests `sources`; returns the run's report as JSON. `progress` is called with
    /// (files done, files in all, bytes done, bytes in all, segments) a few times a second.
    #[pyo3(signature = (sources, prune=false, strict=false, input_format=None, encoding=None, vacuum=true, watch=None, watch_output=None, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn ingest(
        &self,
        py: Python<'_>,
        sources: Vec<String>,
        prune: bool,
        strict: bool,
        input_format: Option<String>,
        encoding: Option<String>,
        vacuum: bool,
        watch: Option<PathBuf>,
        watch_output: Option<PathBuf>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        not_forked(self.pid)?;
        let input_format = match input_format {
            Some(name) => Some(verbatim_formats::Format::from_name(&name).ok_or_else(|| {
                let names: Vec<_> = verbatim_formats::Format::ALL.iter().map(|f| f.name()).collect();
                invalid(format!("unknown input_format={name:?}; use one of {}", names.join(", ")))
            })?),
            None => None,
        };
        let encoding = match encoding {
            Some(label) => Some(verbatim_formats::decode::encoding_for_label(&label).ok_or_else(|| {
                invalid(format!("unknown encoding={label:?} (WHATWG labels such as utf-8, utf-16le, windows-1250)"))
            })?),
            None => None,
        };
        let watched = match &watch {
            Some(path) => verbatim_engine::read_watch_file(path).map_err(to_python)?,
            None => Vec::new(),
        };
        let request = IngestRequest { sources, prune, input_format, encoding, strict, commit_every: None, vacuum };
        let counters = Arc::new(Counters::default());
        let engine = self.engine.clone();
        let reported = counters.clone();
        let work = async move {
            let outcome = engine.ingest(&request, reported).await?;
            let news = if watched.is_empty() {
                Vec::new()
            } else {
                engine.watched_hits(&watched, outcome.report.version_before, watch_output.as_deref()).await?
            };
            let report = verbatim_engine::report::run_report(&outcome, engine.archive(), &news)?;
            Ok(report.to_string())
        };
        wait_ticking(
            py,
            move || work,
            |py| match &progress {
                Some(callback) => callback.call1(py, counters.sample()).map(drop),
                None => Ok(()),
            },
        )
    }

    /// The URIs of the files of `table` in the snapshot calls read: exactly the committed data.
    fn files(&self, py: Python<'_>, table: String) -> PyResult<Vec<String>> {
        not_forked(self.pid)?;
        let Some(table) = Table::ALL.into_iter().find(|t| t.name() == table) else {
            let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
            return Err(invalid(format!("no table {table:?}; the tables are {}", names.join(", "))));
        };
        let archive = self.engine.archive().clone();
        let as_of = self.as_of;
        wait(py, move || async move {
            let snapshot = match as_of {
                Some(version) => archive.snapshot_at(version).await?,
                None => archive.snapshot().await?,
            };
            let base = archive.url().as_str().trim_end_matches('/').to_string();
            Ok(snapshot.manifest.files(table).iter().map(|file| format!("{base}/{}", file.path)).collect())
        })
    }

    /// The commits whose manifests are kept, oldest first, as JSON lines.
    fn log(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        not_forked(self.pid)?;
        let archive = self.engine.archive().clone();
        let entries = wait(py, move || async move { Ok(archive.log().await?) })?;
        entries.iter().map(|entry| serde_json::to_string(entry).map_err(|e| invalid(e.to_string()))).collect()
    }

    /// Checks every file of the archive (`deep`: decodes every row group): (version, files
    /// checked, bytes checked, problems, notes).
    fn verify(&self, py: Python<'_>, deep: bool) -> PyResult<VerifyFindings> {
        not_forked(self.pid)?;
        let archive = self.engine.archive().clone();
        let depth = if deep { CheckDepth::Deep } else { CheckDepth::Footer };
        let report = wait(py, move || async move { Ok(archive.verify(depth, &|_, _| {}).await?) })?;
        Ok((
            report.version,
            report.files_checked as u64,
            report.bytes_checked,
            report.problems.iter().map(ToString::to_string).collect(),
            report.notes.iter().map(ToString::to_string).collect(),
        ))
    }

    /// The documents `doc_ids` (or those for which the SQL condition `where` over `documents`
    /// holds) as subtitles or a transcript in `format`, one text per document, in id order:
    /// (doc_id, text) pairs.
    #[pyo3(signature = (format, doc_ids=None, r#where=None))]
    fn export(
        &self,
        py: Python<'_>,
        format: String,
        doc_ids: Option<Vec<String>>,
        r#where: Option<String>,
    ) -> PyResult<Vec<(String, String)>> {
        not_forked(self.pid)?;
        let selection = match (doc_ids, r#where) {
            (Some(ids), None) => verbatim_query::Selection::Ids(ids),
            (None, Some(condition)) => verbatim_query::Selection::Where(condition),
            _ => return Err(invalid("give doc= or where=, one of them")),
        };
        let format = verbatim_output::transcript::TranscriptFormat::from_name(&format).ok_or_else(|| {
            invalid(format!(
                "unknown format={format:?}; use one of {}",
                verbatim_output::transcript::TranscriptFormat::NAMES
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let request =
            verbatim_engine::ExportRequest { selection, format, limits: Default::default(), as_of: self.as_of };
        let engine = self.engine.clone();
        wait(py, move || async move {
            let texts: ExportedTexts = Arc::default();
            let sink = texts.clone();
            engine
                .export(&request, move |doc_id| {
                    let buffer = SharedBuffer { texts: sink.clone(), index: push(&sink, doc_id) };
                    Ok(Box::new(buffer) as Box<dyn std::io::Write>)
                })
                .await?;
            let texts = std::mem::take(&mut *texts.lock().unwrap_or_else(|p| p.into_inner()));
            Ok(texts.into_iter().map(|(id, bytes)| (id, String::from_utf8_lossy(&bytes).into_owned())).collect())
        })
    }
}

fn push(texts: &ExportedTexts, doc_id: &str) -> usize {
    let mut texts = texts.lock().unwrap_or_else(|p| p.into_inner());
    texts.push((doc_id.to_string(), Vec::new()));
    texts.len() - 1
}

/// The documents of an export, in the order written: (doc_id, text bytes).
type ExportedTexts = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// What `verify` found: (version, files checked, bytes checked, problems, notes).
type VerifyFindings = (Option<u64>, u64, u64, Vec<String>, Vec<String>);

/// One exported document's text, written into the shared list.
struct SharedBuffer {
    texts: ExportedTexts,
    index: usize,
}

impl std::io::Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.texts.lock().unwrap_or_else(|p| p.into_inner())[self.index].1.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn catalog(engine: &Engine) -> PyResult<Vec<verbatim_query::saved::SavedQuery>> {
    let folders: Vec<&std::path::Path> = engine.settings().queries.iter().map(PathBuf::as_path).collect();
    verbatim_query::saved::catalog(&folders).map_err(|e| to_python(e.into()))
}

/// An ingest's progress, counted as the workers report it.
#[derive(Default)]
struct Counters {
    files: AtomicU64,
    files_total: AtomicU64,
    bytes: AtomicU64,
    bytes_total: AtomicU64,
    segments: AtomicU64,
}

impl Counters {
    fn sample(&self) -> (u64, u64, u64, u64, u64) {
        (
            self.files.load(Ordering::Relaxed),
            self.files_total.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.bytes_total.load(Ordering::Relaxed),
            self.segments.load(Ordering::Relaxed),
        )
    }
}

impl verbatim_ingest::Progress for Counters {
    fn begin(&self, files: usize, bytes: u64) {
        self.files_total.store(files as u64, Ordering::Relaxed);
        self.bytes_total.store(bytes, Ordering::Relaxed);
    }

    fn files_done(&self, files: u64, bytes: u64, segments: u64) {
        self.files.fetch_add(files, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.segments.fetch_add(segments, Ordering::Relaxed);
    }
}

/// A planned query: run each time it is read, over the snapshot it was planned on.
#[pyclass(module = "verbatim._native", name = "Result", frozen)]
struct PyResultSet {
    session: ForkSafe<Arc<Session>>,
    plan: LogicalPlan,
    schema: SchemaRef,
    /// The process that opened its archive.
    pid: u32,
}

#[pymethods]
impl PyResultSet {
    /// The schema of the rows, as a `pyarrow.Schema`.
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.schema.as_ref().to_pyarrow(py)
    }

    /// Starts the query: its batches, read one at a time.
    fn execute(&self) -> PyResult<PyBatches> {
        not_forked(self.pid)?;
        Ok(PyBatches { schema: self.schema.clone(), stream: ForkSafe::new(Mutex::new(Some(self.execute_stream()))) })
    }

    /// The Arrow C stream interface: a capsule that pyarrow, Polars and DuckDB read without
    /// copies. The schema asked for is not applied (the result has one).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        not_forked(self.pid)?;
        let reader = StreamReader::start(self.schema.clone(), self.execute_stream())?;
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        let name = CString::new("arrow_array_stream").expect("no NUL in the name");
        PyCapsule::new(py, stream, Some(name))
    }
}

impl PyResultSet {
    fn execute_stream(&self) -> QueryStream {
        let _entered = runtime().enter();
        self.session.run(self.plan.clone())
    }
}

/// A running query, read a batch at a time; dropping it stops the query.
#[pyclass(module = "verbatim._native", name = "Batches", frozen)]
struct PyBatches {
    schema: SchemaRef,
    stream: ForkSafe<Mutex<Option<QueryStream>>>,
}

#[pymethods]
impl PyBatches {
    /// The next batch as a `pyarrow.RecordBatch`, or `None` at the end. Waits with the GIL
    /// released; Ctrl-C stops the query and raises KeyboardInterrupt.
    fn next_batch<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        not_forked(self.stream.pid)?;
        loop {
            let polled = py.detach(|| {
                let mut guard = self.stream.lock().unwrap_or_else(|p| p.into_inner());
                let Some(stream) = guard.as_mut() else { return Ok(None) };
                runtime().block_on(async { tokio::time::timeout(SIGNAL_CHECK, stream.next()).await }).map(Some)
            });
            match polled {
                Ok(None) | Ok(Some(None)) => {
                    self.close();
                    return Ok(None);
                }
                Ok(Some(Some(Ok(batch)))) => return batch.to_pyarrow(py).map(Some),
                Ok(Some(Some(Err(error)))) => {
                    self.close();
                    return Err(to_python(error));
                }
                Err(_elapsed) => {
                    if let Err(interrupt) = py.check_signals() {
                        self.close();
                        return Err(interrupt);
                    }
                }
            }
        }
    }

    /// The schema of the rows, as a `pyarrow.Schema`.
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.schema.as_ref().to_pyarrow(py)
    }

    /// Stops the query (nothing more is read).
    fn close(&self) {
        if self.stream.pid == std::process::id() {
            self.stream.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
    }
}

/// A query's batches as an Arrow `RecordBatchReader`, for the C stream interface. The consumer
/// may call from any thread, with or without the GIL, even from a tokio runtime of its own: the
/// query is read on a thread of its own and handed over a batch at a time. While it waits, the
/// reader looks for Ctrl-C (Python runs signal handlers on its main thread only).
struct StreamReader {
    schema: SchemaRef,
    /// Behind a lock: a consumer that reads one stream from two threads at once (pyarrow's
    /// `read_next_batch` releases the GIL) gets the batches one at a time, not a crash.
    state: Mutex<StreamState>,
}

/// Where a [`StreamReader`] is.
struct StreamState {
    /// Batches, then `None` at the end; closed early if the reading thread died.
    batches: Option<std::sync::mpsc::Receiver<Option<Result<RecordBatch, Error>>>>,
    /// Dropping it stops the reading thread and the query at once.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StreamState {
    fn close(&mut self) {
        self.batches = None;
        self.stop = None;
    }
}

impl StreamReader {
    fn start(schema: SchemaRef, mut stream: QueryStream) -> PyResult<StreamReader> {
        let (sender, batches) = std::sync::mpsc::sync_channel(1);
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("verbatim-stream".to_string())
            .spawn(move || {
                runtime().block_on(async move {
                    loop {
                        let item = tokio::select! {
                            item = stream.next() => item,
                            _ = &mut stopped => return,
                        };
                        let end = item.is_none();
                        // A blocking send: this thread is the reader's own, not a runtime worker.
                        if sender.send(item).is_err() || end {
                            return;
                        }
                    }
                })
            })
            .map_err(|e| VerbatimError::new_err(format!("cannot start a thread: {e}")))?;
        let state = StreamState { batches: Some(batches), stop: Some(stop) };
        Ok(StreamReader { schema, state: Mutex::new(state) })
    }
}

impl Iterator for StreamReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        use std::sync::mpsc::RecvTimeoutError;
        loop {
            // The lock is held while waiting for a batch, never while waiting for the GIL.
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let received = state.batches.as_ref()?.recv_timeout(SIGNAL_CHECK);
            let failed = match received {
                Ok(Some(Ok(batch))) => return Some(Ok(batch)),
                Ok(None) => {
                    state.close();
                    return None;
                }
                Ok(Some(Err(error))) => python_message(&error),
                Err(RecvTimeoutError::Disconnected) => "the query's reader stopped before the last row".to_string(),
                Err(RecvTimeoutError::Timeout) => {
                    drop(state);
                    if !Python::attach(|py| py.check_signals().is_err()) {
                        continue;
                    }
                    state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                    "KeyboardInterrupt: Ctrl-C stopped the query".to_string()
                }
            };
            state.close();
            return Some(Err(ArrowError::ExternalError(failed.into())));
        }
    }
}

impl RecordBatchReader for StreamReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// The message of `error` as Python shows it: the error, each cause it does not already say, and
/// what would help in Python's terms.
fn python_message(error: &Error) -> String {
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(current) = cause {
        let text = current.to_string();
        if !message.contains(&text) {
            message.push_str("\n  cause: ");
            message.push_str(&text);
        }
        cause = current.source();
    }
    if let Some(hint) = error.hint() {
        message.push_str("\n  hint: ");
        message.push_str(&python_hint(hint));
    }
    message
}

/// The transcript at `path` (youtube-transcript-api JSON) pretty-printed as `format_json.py` does,
/// with `indent` spaces.
#[pyfunction]
#[pyo3(signature = (path, indent=4))]
fn fmt(py: Python<'_>, path: PathBuf, indent: usize) -> PyResult<String> {
    py.detach(|| {
        let text = std::fs::read_to_string(&path).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        verbatim_formats::pyjson::format(&text, indent).map_err(|e| invalid(format!("{}: {e}", path.display())))
    })
}

/// The settings Python can give: (key, environment variable, what it is, default shown).
#[pyfunction]
fn settings() -> Vec<(String, String, String, String)> {
    Setting::ALL
        .iter()
        .filter(|setting| **setting != Setting::Archive)
        .map(|setting| (setting.key().to_string(), setting.env(), setting.about().to_string(), setting.default_shown()))
        .collect()
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PyArchive>()?;
    m.add_class::<PyResultSet>()?;
    m.add_class::<PyBatches>()?;
    m.add_function(wrap_pyfunction!(fmt, m)?)?;
    m.add_function(wrap_pyfunction!(settings, m)?)?;
    m.add("VerbatimError", py.get_type::<VerbatimError>())?;
    m.add("SettingsError", py.get_type::<SettingsError>())?;
    m.add("ArchiveError", py.get_type::<ArchiveError>())?;
    m.add("QueryError", py.get_type::<QueryError>())?;
    m.add("IngestError", py.get_type::<IngestError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
