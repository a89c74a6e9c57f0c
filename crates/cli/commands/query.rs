//! `verbatim sql` and `verbatim run`: plan each statement, stream its batches into the sink.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use verbatim_engine::{Engine, Session, Settings};
use verbatim_output::{BatchSink, Format};
use verbatim_query::saved;

use crate::args::{QueryArgs, RunArgs, SqlArgs};
use crate::progress::Ticker;
use crate::settings::resolve;

/// An open query session and where its results go.
pub struct Runner {
    engine: Engine,
    session: Session,
    format: Format,
    output: Option<PathBuf>,
    quiet: bool,
}

impl Runner {
    /// Opens a session over the archive `settings` name, writing `output` (stdout when `None`).
    pub async fn open(settings: Settings, output: Option<PathBuf>, as_of: Option<u64>, quiet: bool) -> Result<Runner> {
        let format = settings.format;
        if format.is_binary() && output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            bail!("{} output is binary: use --output FILE or redirect stdout", format.name());
        }
        let engine = Engine::open(settings)?;
        let session = engine.session(as_of).await?;
        Ok(Runner { engine, session, format, output, quiet })
    }

    /// Writes results in the format called `name` from now on (text formats only).
    fn set_format(&mut self, name: &str) -> Result<()> {
        match Format::from_name(name).filter(|f| !f.is_binary()) {
            Some(format) => {
                self.format = format;
                Ok(())
            }
            None => bail!("unknown mode {name:?}; use table, csv, json or ndjson"),
        }
    }

    /// Runs every statement of `sql`, streaming results of those that return rows.
    pub async fn execute(&self, sql: &str) -> Result<()> {
        let statements = self.session.statements(sql).await?;
        let staged = self.output.as_deref().map(StagedOutput::create).transpose()?;
        let mut out: Box<dyn Write + Send> = match &staged {
            Some(staged) => Box::new(std::io::BufWriter::new(staged.file()?)),
            None => Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout())),
        };
        for statement in statements {
            let started = Instant::now();
            let plan = self.session.plan(statement).await?;
            let mut stream = self.session.run(plan);
            let schema = stream.schema();
            // A cluster's work is watched with `verbatim top`; the client's plan only waits for it.
            let mut ticker = (!self.quiet && !self.session.on_cluster()).then(|| {
                let pool_bytes = self.engine.budget().query_pool();
                Ticker::query(stream.progress(), pool_bytes)
            });
            if schema.fields().is_empty() {
                while let Some(batch) = stream.next().await {
                    batch?;
                }
                continue;
            }
            let mut sink = verbatim_output::sink(self.format, schema, Box::new(&mut out))?;
            let mut closed = false;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                // Results are on their way: the progress line would mix with them on a terminal.
                drop(ticker.take());
                if let Err(e) = sink.write(&batch) {
                    if e.is_broken_pipe() {
                        closed = true;
                        break;
                    }
                    return Err(e.into());
                }
            }
            if closed {
                return Ok(());
            }
            let rows = match finish(sink) {
                Ok(rows) => rows,
                Err(e) if e.is_broken_pipe() => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            if !self.quiet {
                note!("{rows} rows in {:.3}s", started.elapsed().as_secs_f64());
            }
        }
        match out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
        drop(out);
        if let Some(staged) = staged {
            staged.commit()?;
        }
        Ok(())
    }
}

/// A result file (`--output`) written beside its destination and renamed over it only when every
/// statement succeeded: a query that fails, times out or is interrupted leaves no half-written
/// file and the old one as it was.
struct StagedOutput {
    temporary: tempfile::NamedTempFile,
    path: PathBuf,
}

impl StagedOutput {
    fn create(path: &Path) -> Result<StagedOutput> {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut builder = tempfile::Builder::new();
        builder.prefix(".verbatim-output-");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // As a file created in place would be (the umask applies).
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let temporary = builder.tempfile_in(folder).with_context(|| format!("creating {}", path.display()))?;
        Ok(StagedOutput { temporary, path: path.to_path_buf() })
    }

    /// A handle to write the results through.
    fn file(&self) -> Result<std::fs::File> {
        self.temporary.as_file().try_clone().with_context(|| format!("writing {}", self.path.display()))
    }

    /// Puts the results in place.
    fn commit(self) -> Result<()> {
        let path = self.path;
        self.temporary.persist(&path).map_err(|e| e.error).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// How long an interrupted command waits for its queries to clean up (cancel cluster jobs).
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn finish(sink: Box<dyn BatchSink + '_>) -> Result<u64, verbatim_output::OutputError> {
    sink.finish()
}

/// The settings of a query command.
fn query_settings(config: Option<&Path>, args: &QueryArgs) -> Result<Settings> {
    resolve(config, |settings| args.given(settings))
}

pub async fn sql(args: SqlArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    let settings = query_settings(config, &args.query)?;
    let text = match (&args.sql, &args.file) {
        (Some(sql), _) => sql.clone(),
        (None, Some(file)) => std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        (None, None) if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            let runner = Runner::open(settings, args.query.output.clone(), args.query.as_of, true).await?;
            return crate::shell::run(runner).await;
        }
        (None, None) => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("reading SQL from stdin")?;
            text
        }
    };
    let runner = Runner::open(settings, args.query.output.clone(), args.query.as_of, quiet).await?;
    runner.execute_until_interrupted(&text).await
}

impl Runner {
    /// Runs `sql` as [`Runner::execute`] does, unless Ctrl-C comes first: then the query stops
    /// (on a cluster, its job is cancelled) and the exit status is 130, as for a shell's
    /// interrupted command.
    pub async fn execute_until_interrupted(&self, sql: &str) -> Result<ExitCode> {
        // The statement's future (and its query stream) is dropped when `select!` ends, which is
        // what stops the query; only then is there anything to wait for.
        tokio::select! {
            done = self.execute(sql) => return done.map(|()| ExitCode::SUCCESS),
            _ = tokio::signal::ctrl_c() => {}
        }
        note!("verbatim: cancelled");
        self.engine.wait_for_stopped_queries(STOP_WAIT).await;
        Ok(ExitCode::from(130))
    }

    /// The session, for the shell's listings.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The archive, as the user gave it.
    pub fn archive_shown(&self) -> &str {
        self.engine.archive().display()
    }

    /// Shows timings (`true`) or not.
    pub fn set_timer(&mut self, on: bool) {
        self.quiet = !on;
    }

    /// Switches the output format, reporting a bad name on stderr.
    pub fn switch_format(&mut self, name: &str) {
        if let Err(e) = self.set_format(name) {
            note!("{e}");
        }
    }
}

pub async fn run_saved(args: RunArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    let settings = resolve(config, |settings| args.given(settings))?;
    let catalog = saved::catalog(&settings.queries.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    if args.list {
        print_list(&catalog);
        return Ok(ExitCode::SUCCESS);
    }
    let query = saved::find(&catalog, args.name.as_deref().unwrap_or_default())?;
    let mut params = args.params.clone();
    if let Some(version) = args.since {
        if !query.params.iter().any(|p| p.name == "since") {
            anyhow::bail!("--since: {} has no since parameter (search and kwic have one)", query.name);
        }
        params.retain(|(name, _)| name != "since");
        params.push(("since".to_string(), version.to_string()));
    }
    let sql = query.render(&params)?;
    if args.print_sql {
        println!("{}", sql.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let runner = Runner::open(settings, args.query.output.clone(), args.query.as_of, quiet).await?;
    runner.execute_until_interrupted(&sql).await
}

fn print_list(catalog: &[saved::SavedQuery]) {
    for query in catalog {
        println!("{}  ({})", query.name, query.origin);
        println!("    {}", query.description);
        for param in &query.params {
            let kind = if param.choices.is_empty() { param.kind.name().to_string() } else { param.choices.join("|") };
            let default = match &param.default {
                Some(default) => format!(" = {default:?}"),
                None => " (required)".to_string(),
            };
            println!("    --param {}=<{kind}>{default}: {}", param.name, param.description);
        }
    }
}
