//! `verbatim fmt`: re-indents JSON files exactly as Python's `json.dump(data, f, indent=N)` does
//! (the talk's `format_json.py`), in parallel. A file is replaced through a temporary file in the
//! same folder and a rename, so a failure never leaves it truncated.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;

use crate::args::FmtArgs;

/// What happened to one file.
enum Outcome {
    Unchanged,
    /// Formatted (or, with `--check`, would be).
    Changed,
    /// Printed to stdout.
    Printed(String),
    Failed(String),
}

pub fn run(args: FmtArgs, config: Option<&std::path::Path>, quiet: bool) -> Result<ExitCode> {
    let settings = crate::settings::resolve(config, |settings| args.threads.given(settings))?;
    let threads = settings.threads.min(args.files.len()).max(1);
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..args.files.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = args.files.get(index) else { break };
                    let outcome = format_file(path, &args);
                    outcomes.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(outcome);
                }
            });
        }
    });
    let (mut changed, mut unchanged, mut failed) = (0usize, 0usize, 0usize);
    let mut stdout = std::io::stdout().lock();
    for (path, outcome) in args.files.iter().zip(outcomes.into_inner().unwrap_or_else(|p| p.into_inner())) {
        match outcome.expect("every file was handled") {
            Outcome::Unchanged => unchanged += 1,
            Outcome::Changed => {
                changed += 1;
                if args.check {
                    println!("would reformat {}", path.display());
                }
            }
            Outcome::Printed(text) => {
                stdout.write_all(text.as_bytes())?;
                stdout.write_all(b"\n")?;
            }
            Outcome::Failed(reason) => {
                failed += 1;
                note!("{reason}");
            }
        }
    }
    stdout.flush()?;
    if !quiet && !args.stdout {
        let verb = if args.check { "would reformat" } else { "reformatted" };
        note!("{verb} {changed} files, {unchanged} already formatted, {failed} failed");
    }
    let fails = failed > 0 || (args.check && changed > 0);
    Ok(if fails { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn format_file(path: &Path, args: &FmtArgs) -> Outcome {
    let shown = path.display();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return Outcome::Failed(format!("{shown}: {e}")),
    };
    // Python's json.load takes UTF-8 with an optional BOM.
    let text = match std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes)) {
        Ok(text) => text,
        Err(e) => {
            let at = verbatim_formats::FormatError::at_offset(
                &String::from_utf8_lossy(&bytes[..e.valid_up_to()]),
                e.valid_up_to(),
                "not UTF-8",
            );
            return Outcome::Failed(format!("{shown}:{}:{}: {}", at.line, at.column, at.reason));
        }
    };
    let formatted = match verbatim_formats::pyjson::format(text, args.indent) {
        Ok(formatted) => formatted,
        Err(e) => return Outcome::Failed(format!("{shown}:{}:{}: {}", e.line, e.column, e.reason)),
    };
    if args.stdout {
        return Outcome::Printed(formatted);
    }
    if formatted.as_bytes() == bytes.as_slice() {
        return Outcome::Unchanged;
    }
    if args.check {
        return Outcome::Changed;
    }
    match replace(path, formatted.as_bytes()) {
        Ok(()) => Outcome::Changed,
        Err(e) => Outcome::Failed(format!("{shown}: cannot write: {e} (the file is unchanged)")),
    }
}

/// Writes `bytes` to a temporary file beside `path`, with its permissions, then renames it over.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut temporary = tempfile::Builder::new().prefix(".verbatim-fmt-").tempfile_in(folder)?;
    temporary.write_all(bytes)?;
    temporary.as_file().sync_all()?;
    let permissions = std::fs::metadata(path)?.permissions();
    temporary.as_file().set_permissions(permissions)?;
    temporary.persist(path).map_err(|e| e.error)?;
    Ok(())
}
