//! The interactive shell on a terminal: line editing and history (rustyline), statements run as
//! they complete (`verbatim_query::shell` decides what each line means), Ctrl-C cancels the running
//! statement (or the line being typed), Ctrl-D leaves.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rustyline::error::ReadlineError;
use verbatim_query::shell::{Shell, Step};

use crate::commands::query::Runner;

/// Runs the shell until Ctrl-D or `.quit`.
pub async fn run(mut runner: Runner) -> Result<ExitCode> {
    let mut editor = rustyline::DefaultEditor::new().context("starting the line editor")?;
    let history = history_file();
    if let Some(history) = &history {
        let _ = editor.load_history(history);
        if let Some(parent) = history.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
    }
    note!(
        "verbatim {} on {}: SQL ending with ';', .help for commands, Ctrl-D to leave",
        env!("CARGO_PKG_VERSION"),
        runner.archive_shown()
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
            // Written at once, so that a session that is killed keeps its statements.
            if let Some(history) = &history {
                let _ = editor.append_history(history);
            }
        }
        match shell.feed(&line, runner.session().context()) {
            Step::More => {}
            Step::Run(sql) => {
                // Dropping the statement's future drops its query stream, which stops the query.
                tokio::select! {
                    result = runner.execute(&sql) => if let Err(e) = result {
                        note!("error: {e:#}");
                        if let Some(hint) = crate::settings::hint(&e) {
                            note!("  hint: {hint}");
                        }
                    },
                    _ = tokio::signal::ctrl_c() => note!("cancelled"),
                }
            }
            Step::Print(text) => println!("{text}"),
            Step::Mode(name) => runner.switch_format(&name),
            Step::Timer(on) => runner.set_timer(on),
            Step::Quit => break,
        }
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
