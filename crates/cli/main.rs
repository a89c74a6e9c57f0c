//! The `verbatim` command: a thin layer that parses arguments, resolves configuration and runs
//! the pipeline crates. Exit status: 0 success, 1 error, 2 usage error, 3 finished but some
//! inputs were rejected, 4 archive busy, 5 pruning refused.

/// `eprintln!` that ignores a closed stderr (`verbatim ingest … 2>&1 | head -1`): a message that
/// cannot be shown must not turn the exit status into a panic's 101.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod args;
mod commands;
mod progress;
mod settings;
mod shell;

use std::process::ExitCode;

use clap::Parser;

// Parsing and encoding allocate many short-lived buffers on several threads; mimalloc serves them
// faster and with less fragmentation than the system allocator (benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status when a run finished but rejected some inputs.
pub const EXIT_REJECTS: u8 = 3;
/// Exit status when another writer held the archive's lock for all of `--wait`.
pub const EXIT_BUSY: u8 = 4;
/// Exit status when an ingest finished but pruning was refused: more archived documents vanished
/// than `--max-delete` allows, so none were removed.
pub const EXIT_PRUNE_REFUSED: u8 = 5;

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    let cli = args::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            note!("verbatim: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            note!("verbatim: {}", message(&e));
            if let Some(hint) = settings::hint(&e) {
                note!("  hint: {hint}");
            }
            if is_busy(&e) { ExitCode::from(EXIT_BUSY) } else { ExitCode::FAILURE }
        }
    }
}

/// Turns transparent huge pages off for this process. With them, the first touch of fresh memory
/// zeroes a whole 2 MiB page, and mimalloc returns freed memory to the system and takes it back
/// often: a search for a rare phrase on a 5 GB archive spent three quarters of its 0.9 s zeroing
/// pages, 0.3 s in all without them (benches/results/search-5GB.md).
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// `error` and its causes, each said once: a cause whose text is already shown (DataFusion's
/// kind prefix aside, as in "Error during planning: …") is left out.
fn message(error: &anyhow::Error) -> String {
    let mut shown = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let bare = match text.split_once(": ") {
            Some((kind, rest)) if kind.len() <= 40 && (kind.contains("rror") || kind.contains("exhausted")) => rest,
            _ => text.as_str(),
        };
        if bare.is_empty() || shown.contains(bare) {
            continue;
        }
        if !shown.is_empty() {
            shown.push_str(": ");
        }
        shown.push_str(&text);
    }
    shown
}

/// Whether `error` says the archive was busy (locked by another writer for all of `--wait`).
fn is_busy(error: &anyhow::Error) -> bool {
    error.chain().any(verbatim_engine::is_busy)
}
