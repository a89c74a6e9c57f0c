//! Command-line arguments. A flag that sets a setting takes its help text from the setting
//! (`verbatim_engine::Setting`: what it sets, its variable, its config key and its default, written
//! once there), and adds its value to the settings the engine resolves; `VERBATIM_*` variables are
//! read by the engine, not by the parser, so that every front end reads them the same way.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use verbatim_engine::{Setting, SettingsBuilder};

use crate::settings::help;

/// Turn archives of speech transcripts into a chunked Parquet archive and query it with SQL in
/// bounded memory.
#[derive(Debug, Parser)]
#[command(name = "verbatim", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// Print nothing on stderr but errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Read settings from this file instead of ./config/verbatim.toml and ~/.config/verbatim/config.toml.
    #[arg(long, global = true, env = "VERBATIM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str = "\
Settings come from flags, then VERBATIM_<SETTING> environment variables, then the config file, then defaults.
Exit status: 0 success, 1 error (for `verify`: problems found), 2 usage error, 3 finished but some
inputs were rejected, 4 archive busy (another writer held the lock for all of --wait), 5 ingest
finished but --prune removed nothing (more documents vanished than --max-delete allows).

Examples:
  verbatim demo
  verbatim ingest ~/transcripts --archive ./archive
  verbatim run top-words --archive ./archive --param limit=50 --param stopwords=english
  verbatim sql --archive ./archive \"SELECT count(*) FROM segments\"";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest transcript files, folders (recursively) and globs into an archive.
    Ingest(IngestArgs),
    /// Run SQL over an archive (tables: segments, documents, words, rejects); no SQL opens a shell.
    Sql(SqlArgs),
    /// Run a saved query by name (see --list).
    Run(RunArgs),
    /// Summarise an archive: snapshot version and per-table files, rows and bytes.
    Info(InfoArgs),
    /// Check an archive: metadata, and that every file of the current snapshot is there and reads.
    Verify(VerifyArgs),
    /// Rebuild a lost manifest from the archive's table files (only when no manifest is left).
    Recover(RecoverArgs),
    /// List the archive's commits: version, time, run, operation, files and rows added and removed.
    Log(LogArgs),
    /// Delete manifests older than the retention period and the files no retained snapshot lists.
    Vacuum(VacuumArgs),
    /// Rewrite the chunks of many runs into target-size chunks in document order (a streaming merge).
    Compact(CompactArgs),
    /// Write documents out as SRT, WebVTT, youtube-transcript-api JSON or text, optionally re-cut.
    Export(ExportArgs),
    /// Re-indent JSON transcripts in place exactly as Python's json.dump(data, f, indent=4) writes them.
    Fmt(FmtArgs),
    /// Generate a deterministic corpus: synthetic text, or real speech repeated (--speech DIR).
    Gen(GenArgs),
    /// Ingest the bundled sample transcript into an archive and run the saved queries on it.
    Demo(DemoArgs),
    /// Run a cluster scheduler (Apache DataFusion Ballista): `sql`/`run --cluster df://HOST:PORT` send it work.
    Scheduler(SchedulerArgs),
    /// Run a cluster executor: it asks the scheduler at --scheduler for tasks and runs them.
    Executor(ExecutorArgs),
    /// Watch a cluster's executors, jobs and stages, refreshed in the terminal.
    Top(TopArgs),
    /// Answer SQL over an archive for notebooks and other clients, over Arrow Flight SQL (read-only).
    Serve(ServeArgs),
}

/// Where the archive is.
#[derive(Debug, Args, Clone, Default)]
pub struct ArchiveArg {
    // The archive.
    #[arg(long, short, value_name = "DIR", help = help(Setting::Archive))]
    pub archive: Option<String>,
}

impl ArchiveArg {
    /// Adds the flag's value to `settings`.
    pub fn given(&self, settings: SettingsBuilder) -> SettingsBuilder {
        settings.given_if(Setting::Archive, self.archive.clone())
    }
}

/// The memory budget.
#[derive(Debug, Args, Clone, Default)]
pub struct MemoryArg {
    // The memory budget.
    #[arg(long, short = 'm', value_name = "SIZE", help = help(Setting::MemoryLimit))]
    pub memory_limit: Option<String>,
}

impl MemoryArg {
    /// Adds the flag's value to `settings`.
    pub fn given(&self, settings: SettingsBuilder) -> SettingsBuilder {
        settings.given_if(Setting::MemoryLimit, self.memory_limit.clone())
    }
}

/// How a writer waits for a busy archive.
#[derive(Debug, Args, Clone, Default)]
pub struct WaitArg {
    // How long to wait; then exit status 4.
    #[arg(long, value_name = "DURATION", help = format!("{}; then exit with status 4 (archive busy)", help(Setting::Wait)))]
    pub wait: Option<String>,
}

impl WaitArg {
    /// Adds the flag's value to `settings`.
    pub fn given(&self, settings: SettingsBuilder) -> SettingsBuilder {
        settings.given_if(Setting::Wait, self.wait.clone())
    }
}

/// Threads for parsing and queries.
#[derive(Debug, Args, Clone, Default)]
pub struct ThreadsArg {
    // Threads.
    #[arg(long, short = 'j', value_name = "N", help = help(Setting::Threads))]
    pub threads: Option<String>,
}

impl ThreadsArg {
    /// Adds the flag's value to `settings`.
    pub fn given(&self, settings: SettingsBuilder) -> SettingsBuilder {
        settings.given_if(Setting::Threads, self.threads.clone())
    }
}

/// How long superseded snapshots are kept.
#[derive(Debug, Args, Clone, Default)]
pub struct RetentionArg {
    // The retention.
    #[arg(long, value_name = "DURATION", help = help(Setting::Retention))]
    pub retention: Option<String>,
}

impl RetentionArg {
    /// Adds the flag's value to `settings`.
    pub fn given(&self, settings: SettingsBuilder) -> SettingsBuilder {
        settings.given_if(Setting::Retention, self.retention.clone())
    }
}

/// Arguments of `ingest`.
#[derive(Debug, Args, Default)]
pub struct IngestArgs {
    /// Files, folders or glob patterns (quote globs). Folders are walked for *.json, *.jsonl, *.vtt,
    /// *.srt, *.xml, and *.txt files that begin like speaker turns (also gzip- or zstd-compressed:
    /// *.json.gz, *.vtt.zst, …); files named directly are always read.
    /// Object store URLs too: an object, a prefix (listed like a folder) or a glob over keys
    /// (s3://bucket/talks/ or 's3://bucket/talks/*/*.json'), with the archive's store settings.
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub archive: ArchiveArg,
    #[command(flatten)]
    pub memory: MemoryArg,
    #[command(flatten)]
    pub threads: ThreadsArg,
    // Chunk size.
    #[arg(long, value_name = "SIZE", help = help(Setting::ChunkSize))]
    pub chunk_size: Option<String>,
    // Row group size.
    #[arg(long, value_name = "SIZE", help = help(Setting::RowGroupSize))]
    pub row_group_size: Option<String>,
    // zstd level.
    #[arg(long, value_name = "LEVEL", help = help(Setting::ZstdLevel))]
    pub zstd_level: Option<String>,
    /// Read every file as this format (youtube-json, webvtt, srt, whisper-json, deepgram-json,
    /// assemblyai-json, youtube-xml, jsonl, speaker-turns) [default: by name, then content].
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<String>,
    /// Decode text with this encoding (e.g. windows-1250, big5, utf-16le) [default: BOM, UTF-8, else detected].
    #[arg(long, value_name = "LABEL")]
    pub encoding: Option<String>,
    /// Reject files that break their format's rules instead of reading what can be read.
    #[arg(long)]
    pub strict: bool,
    /// Remove archived documents whose source file lies under one of the SOURCE folders (or matches
    /// a SOURCE glob) but no longer exists. Sources are compared as given: name them the same way
    /// every run. Never touches documents from elsewhere.
    #[arg(long)]
    pub prune: bool,
    // How many documents --prune may remove.
    #[arg(long, value_name = "N|P%", help = help(Setting::MaxDelete))]
    pub max_delete: Option<String>,
    /// Commit every DURATION (e.g. 10m) instead of once at the end, so a long backfill shows
    /// progress to readers; by default a run's work appears in one commit.
    #[arg(long, value_name = "DURATION")]
    pub commit_every: Option<String>,
    /// Write a JSON report of the run to this file (sources seen, new, changed, unchanged,
    /// removed, rejected; bytes, rows, seconds, peak memory; versions before and after).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Watch these corpus queries (one per line; `#` comments): after the commit, the hits of
    /// each in the documents this run added or replaced go into the --report and, with
    /// --watch-output, to a CSV per query (what is new since last night).
    #[arg(long, value_name = "FILE")]
    pub watch: Option<PathBuf>,
    /// Write each watched query's new hits to DIR/<line>-<query>.csv (with a header, also when
    /// there are none).
    #[arg(long, value_name = "DIR", requires = "watch")]
    pub watch_output: Option<PathBuf>,
    #[command(flatten)]
    pub retention: RetentionArg,
    /// Do not vacuum after the run.
    #[arg(long)]
    pub no_vacuum: bool,
    /// Do not write phrase indexes: `search` then scans the text (same answers, slower)
    /// [config: phrase_index = false].
    #[arg(long)]
    pub no_phrase_index: bool,
    // When to compact.
    #[arg(long, value_name = "WHEN", help = help(Setting::Compact))]
    pub compact: Option<String>,
    #[command(flatten)]
    pub wait: WaitArg,
}

impl IngestArgs {
    /// Adds the flags' values to `settings`.
    pub fn given(&self, settings: SettingsBuilder) -> SettingsBuilder {
        let settings = self.archive.given(self.memory.given(self.threads.given(settings)));
        let settings = self.retention.given(self.wait.given(settings));
        settings
            .given_if(Setting::ChunkSize, self.chunk_size.clone())
            .given_if(Setting::RowGroupSize, self.row_group_size.clone())
            .given_if(Setting::ZstdLevel, self.zstd_level.clone())
            .given_if(Setting::Compact, self.compact.clone())
            .given_if(Setting::PhraseIndex, self.no_phrase_index.then_some("false"))
            .given_if(Setting::MaxDelete, self.max_delete.clone())
    }
}

/// Options shared by `sql` and `run`.
#[derive(Debug, Args, Clone, Default)]
pub struct QueryArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    #[command(flatten)]
    pub memory: MemoryArg,
    // Output format.
    #[arg(long, value_name = "FORMAT", help = help(Setting::Format))]
    pub format: Option<String>,
    /// Write results to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    // Spill folder.
    #[arg(long, value_name = "DIR", help = help(Setting::SpillDir))]
    pub spill_dir: Option<String>,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Read the snapshot of this version instead of the newest (`verbatim log` lists them).
    #[arg(long, value_name = "VERSION")]
    pub as_of: Option<u64>,
    // The cluster (`verbatim scheduler` and `verbatim executor` start one).
    #[arg(long, value_name = "df://HOST:PORT", help = help(Setting::Cluster))]
    pub cluster: Option<String>,
    // The time limit of each statement.
    #[arg(long, value_name = "DURATION", help = help(Setting::QueryTimeout))]
    pub query_timeout: Option<String>,
}

impl QueryArgs {
    /// Adds the flags' values to `settings`.
    pub fn given(&self, settings: SettingsBuilder) -> SettingsBuilder {
        let settings = self.archive.given(self.memory.given(self.threads.given(settings)));
        settings
            .given_if(Setting::Format, self.format.clone())
            .given_if(Setting::SpillDir, self.spill_dir.clone())
            .given_if(Setting::Cluster, self.cluster.clone())
            .given_if(Setting::QueryTimeout, self.query_timeout.clone())
    }
}

/// Arguments of `sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The SQL to run (several statements may be separated by `;`). Without it: an interactive
    /// shell on a terminal, else the SQL read from stdin.
    #[arg(value_name = "SQL", conflicts_with = "file")]
    pub sql: Option<String>,
    /// Read the SQL from this file.
    #[arg(long, short, value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub query: QueryArgs,
}

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The saved query to run.
    #[arg(value_name = "NAME", required_unless_present = "list")]
    pub name: Option<String>,
    /// A parameter value, `--param name=value` (repeatable).
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// List the saved queries with their parameters.
    #[arg(long)]
    pub list: bool,
    /// Print the SQL with parameters filled in, instead of running it.
    #[arg(long)]
    pub print_sql: bool,
    /// Only documents added or replaced after this archive version (for queries with a `since`
    /// parameter, such as search and kwic): what is new since last night's run.
    #[arg(long, value_name = "VERSION")]
    pub since: Option<u64>,
    // Saved queries.
    #[arg(long, value_name = "DIR", help = help(Setting::Queries))]
    pub queries: Option<String>,
    #[command(flatten)]
    pub query: QueryArgs,
}

impl RunArgs {
    /// Adds the flags' values to `settings`.
    pub fn given(&self, settings: SettingsBuilder) -> SettingsBuilder {
        self.query.given(settings).given_if(Setting::Queries, self.queries.clone())
    }
}

fn parse_param(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {value:?}")),
    }
}

/// Arguments of `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    /// Also decode every row group of every file and compare the rows with the manifest
    /// (reads the whole archive; without it, sizes, footers, row counts and schemas are checked).
    #[arg(long)]
    pub deep: bool,
}

/// Arguments of `recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    #[command(flatten)]
    pub wait: WaitArg,
}

/// Arguments of `compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    #[command(flatten)]
    pub memory: MemoryArg,
    // Target size of an output chunk.
    #[arg(long, value_name = "SIZE", help = help(Setting::ChunkSize))]
    pub chunk_size: Option<String>,
    #[command(flatten)]
    pub retention: RetentionArg,
    #[command(flatten)]
    pub wait: WaitArg,
}

impl CompactArgs {
    /// Adds the flags' values to `settings`.
    pub fn given(&self, settings: SettingsBuilder) -> SettingsBuilder {
        let settings = self.archive.given(self.memory.given(self.retention.given(self.wait.given(settings))));
        settings.given_if(Setting::ChunkSize, self.chunk_size.clone())
    }
}

/// Arguments of `log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    /// Print JSON Lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `vacuum`.
#[derive(Debug, Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    #[command(flatten)]
    pub retention: RetentionArg,
    #[command(flatten)]
    pub wait: WaitArg,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("selection").required(true).args(["docs", "filter"])))]
pub struct ExportArgs {
    /// A document to export, by id (repeatable).
    #[arg(long = "doc", value_name = "ID")]
    pub docs: Vec<String>,
    /// Export the documents for which this SQL condition over `documents` holds, e.g.
    /// "channel = 'Physics' AND published_at >= '2024-01-01'" (or 'true' for all).
    #[arg(long = "where", value_name = "SQL")]
    pub filter: Option<String>,
    /// srt, vtt, json (youtube-transcript-api) or txt.
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "srt")]
    pub format: String,
    /// Where to write: a file for one --doc, else a folder (one file per document, named from its
    /// id). Default: stdout for one --doc.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Cut cues anew with at most this many characters (on word timings where the archive has them).
    #[arg(long, value_name = "N")]
    pub max_chars: Option<usize>,
    /// Cut cues anew lasting at most this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub max_duration: Option<f64>,
    #[command(flatten)]
    pub archive: ArchiveArg,
    #[command(flatten)]
    pub memory: MemoryArg,
    /// Read the snapshot of this version instead of the newest.
    #[arg(long, value_name = "VERSION")]
    pub as_of: Option<u64>,
}

/// Arguments of `fmt`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// JSON files to format (in place, through a temporary file and a rename).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Spaces per level.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub indent: usize,
    /// Change nothing; list the files that would change and exit 1 if there are any.
    #[arg(long, conflicts_with = "stdout")]
    pub check: bool,
    /// Print the formatted JSON instead of rewriting the files.
    #[arg(long)]
    pub stdout: bool,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

/// Arguments of `gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Folder to write the corpus into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Approximate total size, e.g. 100MB, 2GB.
    #[arg(long, value_name = "SIZE", default_value = "100MB")]
    pub size: String,
    /// Seed: the same size and seed always give the same files.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Make real speech instead of generated text: cut the speaker-turn transcripts (*.txt) under
    /// this folder (e.g. benches/corpora/oxide-and-friends) into caption-sized snippets, repeated
    /// with shifted windows and new ids up to --size (youtube-transcript-api JSON, a tenth WebVTT,
    /// a tenth WhisperX JSON).
    #[arg(long, value_name = "DIR")]
    pub speech: Option<PathBuf>,
}

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
}

/// Arguments of `scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// The address to listen on (gRPC for executors and clients, and the REST API `top` reads).
    #[arg(long, default_value = "0.0.0.0:50050", value_name = "HOST:PORT")]
    pub bind: String,
    /// The host name executors and clients reach the scheduler by [default: this machine's host
    /// name when binding to all interfaces, else the bound address].
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
}

/// Arguments of `executor`.
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler's address.
    #[arg(long, env = "VERBATIM_SCHEDULER", default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    pub scheduler: String,
    /// The address to serve results and shuffle data on (a host name or IP address; port 0 picks a free one).
    #[arg(long, default_value = "0.0.0.0:50051", value_name = "IP:PORT")]
    pub bind: String,
    /// The host name the scheduler, other executors and clients reach this executor by [default:
    /// this machine's host name when binding to all interfaces, else the bound address].
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Tasks run at once [config: threads] [default: the number of cores].
    #[arg(long, short = 'j', value_name = "N")]
    pub slots: Option<String>,
    #[command(flatten)]
    pub memory: MemoryArg,
    /// Folder for shuffle files and spills, on node-local disk [default: a folder under the OS temp folder].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// How long to keep trying to reach the scheduler at start, e.g. 30s, 2m.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub connect_timeout: String,
}

impl ExecutorArgs {
    /// Adds the flags' values to `settings`.
    pub fn given(&self, settings: SettingsBuilder) -> SettingsBuilder {
        self.memory.given(settings).given_if(Setting::Threads, self.slots.clone())
    }
}

/// Arguments of `top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    // The cluster.
    #[arg(long, value_name = "df://HOST:PORT", help = help(Setting::Cluster))]
    pub cluster: Option<String>,
    /// Time between refreshes, e.g. 1s, 500ms.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub interval: String,
    /// Print the state once and exit (the default when stdout is not a terminal).
    #[arg(long)]
    pub once: bool,
    /// Jobs to show, newest first.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub jobs: usize,
}

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    #[command(flatten)]
    pub memory: MemoryArg,
    /// The address to listen on (clients connect to grpc://HOST:PORT).
    #[arg(long, default_value = "127.0.0.1:50060", value_name = "HOST:PORT")]
    pub bind: String,
    /// Require clients to send `authorization: Bearer TOKEN` [env: VERBATIM_SERVE_TOKEN].
    #[arg(long, env = "VERBATIM_SERVE_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    // Spill folder.
    #[arg(long, value_name = "DIR", help = help(Setting::SpillDir))]
    pub spill_dir: Option<String>,
    #[command(flatten)]
    pub threads: ThreadsArg,
    // The time limit of each query.
    #[arg(long, value_name = "DURATION", help = help(Setting::QueryTimeout))]
    pub query_timeout: Option<String>,
}

impl ServeArgs {
    /// Adds the flags' values to `settings`.
    pub fn given(&self, settings: SettingsBuilder) -> SettingsBuilder {
        let settings = self.archive.given(self.memory.given(self.threads.given(settings)));
        settings
            .given_if(Setting::SpillDir, self.spill_dir.clone())
            .given_if(Setting::QueryTimeout, self.query_timeout.clone())
    }
}
