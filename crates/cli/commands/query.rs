//! `verbatim sql` and `verbatim run`: plan each statement, stream its batches into the sink.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use datafusion::sql::parser::DFParser;
use futures::StreamExt;
use verbatim_output::{BatchSink, Format};
use verbatim_query::ArchiveSession;
use verbatim_query::saved::{self, ParamType};

use crate::args::{QueryArgs, RunArgs, SqlArgs};
use crate::config::{Config, show_size};
use crate::progress::Ticker;

/// An open query session and where its results go.
pub struct Runner {
    archive_shown: String,
    session: ArchiveSession,
    format: Format,
    output: Option<PathBuf>,
    limit: String,
    pool_bytes: u64,
    on_cluster: bool,
    quiet: bool,
}

impl Runner {
    /// Opens the archive named by the arguments and configuration.
    pub async fn open(args: &QueryArgs, config: &Config, quiet: bool) -> Result<Runner> {
        let archive = config.open_archive(&args.archive.archive)?;
        let format_name = args.format.as_ref().or(config.file.format.as_ref()).map_or("table", String::as_str);
        let Some(format) = Format::from_name(format_name) else {
            let names: Vec<_> = Format::NAMES.iter().map(|(n, _)| *n).collect();
            bail!("unknown --format {format_name:?}; use one of {}", names.join(", "));
        };
        if format.is_binary() && args.output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            bail!("{format_name} output is binary: use --output FILE or redirect stdout");
        }
        let memory_limit = config.memory_limit(&args.memory.memory_limit)?;
        let options = config.session_options(memory_limit, &args.spill_dir, args.threads, args.as_of)?;
        let cluster = args.cluster.as_ref().or(config.file.cluster.as_ref());
        let session = match cluster {
            Some(cluster) => {
                let address = verbatim_cluster::ClusterAddress::parse(cluster)?;
                verbatim_cluster::open_cluster_session(&address, &archive, &options).await?
            }
            None => ArchiveSession::open(&archive, &options).await?,
        };
        Ok(Runner {
            archive_shown: archive.display().to_string(),
            session,
            format,
            output: args.output.clone(),
            limit: show_size(memory_limit),
            pool_bytes: options.pool_bytes() as u64,
            on_cluster: cluster.is_some(),
            quiet,
        })
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
        let statements = match DFParser::parse_sql(sql) {
            Ok(statements) => statements,
            Err(e) => return Err(self.error(e).await),
        };
        let mut out: Box<dyn Write + Send> = match &self.output {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
            )),
            None => Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout())),
        };
        for statement in statements {
            let started = Instant::now();
            let ctx = &self.session.ctx;
            let plan = match ctx.state().statement_to_plan(statement).await {
                Ok(plan) => plan,
                Err(e) => return Err(self.error(e).await),
            };
            let frame = match ctx.execute_logical_plan(plan).await {
                Ok(frame) => frame,
                Err(e) => return Err(self.error(e).await),
            };
            let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
            let plan = match frame.create_physical_plan().await {
                Ok(plan) => plan,
                Err(e) => return Err(self.error(e).await),
            };
            // A cluster's work is watched with `verbatim top`; the client's plan only waits for it.
            let mut ticker = (!self.quiet && !self.on_cluster)
                .then(|| Ticker::query(plan.clone(), ctx.runtime_env().memory_pool.clone(), self.pool_bytes));
            let mut stream = match datafusion::physical_plan::execute_stream(plan, ctx.task_ctx()) {
                Ok(stream) => stream,
                Err(e) => return Err(self.error(e).await),
            };
            if schema.fields().is_empty() {
                while let Some(batch) = stream.next().await {
                    if let Err(e) = batch {
                        return Err(self.error(e).await);
                    }
                }
                continue;
            }
            let mut sink = verbatim_output::sink(self.format, schema, Box::new(&mut out))?;
            let mut closed = false;
            while let Some(batch) = stream.next().await {
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(e) => return Err(self.error(e).await),
                };
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
                eprintln!("{rows} rows in {:.3}s", started.elapsed().as_secs_f64());
            }
        }
        match out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }

    /// The error to show for a failed statement, naming the damaged file when reading one failed.
    async fn error(&self, error: datafusion::error::DataFusionError) -> anyhow::Error {
        self.session.explain(error, &self.limit).await.into()
    }
}

fn finish(sink: Box<dyn BatchSink + '_>) -> Result<u64, verbatim_output::OutputError> {
    sink.finish()
}

pub async fn sql(args: SqlArgs, config: &Config, quiet: bool) -> Result<ExitCode> {
    let text = match (&args.sql, &args.file) {
        (Some(sql), _) => sql.clone(),
        (None, Some(file)) => std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        (None, None) if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            let runner = Runner::open(&args.query, config, true).await?;
            return shell(runner).await;
        }
        (None, None) => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("reading SQL from stdin")?;
            text
        }
    };
    let runner = Runner::open(&args.query, config, quiet).await?;
    runner.execute(&text).await?;
    Ok(ExitCode::SUCCESS)
}

/// The interactive shell: line editing and history (rustyline), statements run as they complete,
/// Ctrl-C cancels the running statement (or the line being typed), Ctrl-D leaves.
async fn shell(mut runner: Runner) -> Result<ExitCode> {
    use rustyline::error::ReadlineError;
    use verbatim_query::shell::{Shell, Step};
    let mut editor = rustyline::DefaultEditor::new().context("starting the line editor")?;
    let history = history_file();
    if let Some(history) = &history {
        let _ = editor.load_history(history);
    }
    eprintln!(
        "verbatim {} on {}: SQL ending with ';', .help for commands, Ctrl-D to leave",
        env!("CARGO_PKG_VERSION"),
        runner.archive_shown
    );
    let mut shell = Shell::new();
    loop {
        let prompt = shell.prompt();
        let line = match tokio::task::block_in_place(|| editor.readline(prompt)) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                shell.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e).context("reading a line"),
        };
        if !line.trim().is_empty() {
            let _ = editor.add_history_entry(line.as_str());
        }
        match shell.feed(&line, &runner.session.ctx) {
            Step::More => {}
            Step::Run(sql) => {
                tokio::select! {
                    result = runner.execute(&sql) => if let Err(e) = result {
                        eprintln!("error: {e:#}");
                    },
                    _ = tokio::signal::ctrl_c() => eprintln!("cancelled"),
                }
            }
            Step::Print(text) => println!("{text}"),
            Step::Mode(name) => {
                if let Err(e) = runner.set_format(&name) {
                    eprintln!("{e}");
                }
            }
            Step::Timer(on) => runner.quiet = !on,
            Step::Quit => break,
        }
    }
    if let Some(history) = &history {
        if let Some(parent) = history.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = editor.save_history(history);
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the shell keeps its history: `$XDG_STATE_HOME/verbatim/history`, else
/// `~/.local/state/verbatim/history`.
fn history_file() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))?;
    Some(state.join("verbatim/history"))
}

pub async fn run_saved(args: RunArgs, config: &Config, quiet: bool) -> Result<ExitCode> {
    let extra = args.queries.clone().or_else(|| config.file.queries.clone());
    let catalog = saved::catalog(&extra.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    if args.list {
        print_list(&catalog);
        return Ok(ExitCode::SUCCESS);
    }
    let name = args.name.as_deref().unwrap_or_default();
    let Some(query) = catalog.iter().find(|q| q.name == name) else {
        let names: Vec<_> = catalog.iter().map(|q| q.name.as_str()).collect();
        bail!("no saved query {name:?}; saved queries: {}", names.join(", "));
    };
    let sql = query.render(&args.params)?;
    if args.print_sql {
        println!("{}", sql.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let runner = Runner::open(&args.query, config, quiet).await?;
    runner.execute(&sql).await?;
    Ok(ExitCode::SUCCESS)
}

fn print_list(catalog: &[saved::SavedQuery]) {
    for query in catalog {
        println!("{}  ({})", query.name, query.origin);
        println!("    {}", query.description);
        for param in &query.params {
            let kind = match param.kind {
                ParamType::Integer => "integer",
                ParamType::Number => "number",
                ParamType::Text => "text",
            };
            let default = match &param.default {
                Some(default) => format!(" = {default:?}"),
                None => " (required)".to_string(),
            };
            println!("    --param {}=<{kind}>{default}: {}", param.name, param.description);
        }
    }
}
