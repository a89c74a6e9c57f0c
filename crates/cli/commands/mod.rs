//! One module per subcommand; `run` dispatches. Each command resolves its settings once (its
//! flags over `VERBATIM_*` variables over the config file over defaults) and works through the
//! engine, as every front end does.

mod cluster;
mod demo;
mod export;
mod fmt;
mod generate;
mod history;
mod info;
mod ingest;
pub mod query;
mod verify;

use std::process::ExitCode;

use anyhow::Result;

use crate::args::{Cli, Command};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let config = cli.config.as_deref();
    let quiet = cli.quiet;
    match cli.command {
        Command::Ingest(args) => ingest::run(args, config, quiet).await,
        Command::Sql(args) => query::sql(args, config, quiet).await,
        Command::Run(args) => query::run_saved(args, config, quiet).await,
        Command::Info(args) => info::run(args, config).await,
        Command::Verify(args) => verify::verify(args, config, quiet).await,
        Command::Recover(args) => verify::recover(args, config, quiet).await,
        Command::Log(args) => history::log(args, config).await,
        Command::Vacuum(args) => history::vacuum(args, config, quiet).await,
        Command::Compact(args) => history::compact(args, config, quiet).await,
        Command::Export(args) => export::run(args, config, quiet).await,
        Command::Fmt(args) => fmt::run(args, config, quiet),
        Command::Gen(args) => generate::run(args, config, quiet),
        Command::Demo(args) => demo::run(args, config, quiet).await,
        Command::Scheduler(args) => cluster::scheduler(args, config, quiet).await,
        Command::Executor(args) => cluster::executor(args, config, quiet).await,
        Command::Top(args) => cluster::top(args, config).await,
        Command::Serve(args) => cluster::serve(args, config, quiet).await,
    }
}
