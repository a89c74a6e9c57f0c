//! The `verbatim` command: a thin layer that parses arguments, resolves configuration and runs
//! the pipeline crates. Exit status: 0 success, 1 error, 2 usage error, 3 finished but some
//! inputs were rejected.

mod args;
mod commands;
mod config;
mod progress;

use std::process::ExitCode;

use clap::Parser;

// Parsing and encoding allocate many short-lived buffers on several threads; mimalloc serves them
// faster and with less fragmentation than the system allocator (benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status when a run finished but rejected some inputs.
pub const EXIT_REJECTS: u8 = 3;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("verbatim: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("verbatim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
