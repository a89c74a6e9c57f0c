//! One module per subcommand; `run` dispatches.

mod cluster;
mod demo;
mod export;
mod fmt;
mod generate;
mod history;
mod info;
mod ingest;
mod query;
mod verify;

use std::process::ExitCode;

use anyhow::Result;

use crate::args::{Cli, Command};
use crate::config::Config;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Ingest(args) => ingest::run(args, &config, cli.quiet).await,
        Command::Sql(args) => query::sql(args, &config, cli.quiet).await,
        Command::Run(args) => query::run_saved(args, &config, cli.quiet).await,
        Command::Info(args) => info::run(args, &config).await,
        Command::Verify(args) => verify::verify(args, &config, cli.quiet).await,
        Command::Recover(args) => verify::recover(args, &config, cli.quiet).await,
        Command::Log(args) => history::log(args, &config).await,
        Command::Vacuum(args) => history::vacuum(args, &config, cli.quiet).await,
        Command::Compact(args) => history::compact(args, &config, cli.quiet).await,
        Command::Export(args) => export::run(args, &config, cli.quiet).await,
        Command::Fmt(args) => fmt::run(args, &config, cli.quiet),
        Command::Gen(args) => generate::run(args, &config, cli.quiet),
        Command::Demo(args) => demo::run(args, &config, cli.quiet).await,
        Command::Scheduler(args) => cluster::scheduler(args, &config, cli.quiet).await,
        Command::Executor(args) => cluster::executor(args, &config, cli.quiet).await,
        Command::Top(args) => cluster::top(args, &config).await,
        Command::Serve(args) => cluster::serve(args, &config, cli.quiet).await,
    }
}
