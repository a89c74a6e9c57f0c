//! `verbatim verify` and `verbatim recover`.

use std::process::ExitCode;

use anyhow::Result;
use indicatif::ProgressBar;
use verbatim_archive::CheckDepth;

use crate::args::{RecoverArgs, VerifyArgs};
use crate::settings::{resolve, show_size};

/// Checks the archive; prints one line per problem and exits 1 when there is any.
pub async fn verify(args: VerifyArgs, config: Option<&std::path::Path>, quiet: bool) -> Result<ExitCode> {
    let engine = verbatim_engine::Engine::open(resolve(config, |settings| args.archive.given(settings))?)?;
    let archive = engine.archive();
    let depth = if args.deep { CheckDepth::Deep } else { CheckDepth::Footer };
    let bar = progress_bar(quiet);
    let report = archive
        .verify(depth, &|done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total);
                bar.set_position(done);
            }
        })
        .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report?;
    for note in &report.notes {
        note!("note: {note}");
    }
    for problem in &report.problems {
        println!("{problem}");
    }
    if !quiet {
        let what = if args.deep { "decoded" } else { "footers read" };
        let version = report.version.map_or("no readable manifest".to_string(), |v| format!("snapshot v{v}"));
        let rows: Vec<String> = report.rows.iter().map(|(t, rows)| format!("{} {rows}", t.name())).collect();
        note!(
            "{}: {version}, {} manifests, {} files ({}) {what}; rows: {}; {} problems",
            archive.display(),
            report.manifests,
            report.files_checked,
            show_size(report.bytes_checked),
            rows.join(", "),
            report.problems.len()
        );
    }
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Rebuilds a manifest from the table files when every manifest was lost.
pub async fn recover(args: RecoverArgs, config: Option<&std::path::Path>, quiet: bool) -> Result<ExitCode> {
    let settings = resolve(config, |settings| args.archive.given(args.wait.given(settings)))?;
    let notice = crate::commands::ingest::lock_wait_notice(quiet, &settings);
    let engine = verbatim_engine::Engine::open_with(settings, notice)?;
    let archive = engine.archive();
    let report = archive.recover().await?;
    for skipped in &report.skipped {
        note!("left out: {skipped}");
    }
    if !quiet {
        for superseded in &report.superseded {
            note!("left out: {superseded}: an older copy (every document in it has a newer one)");
        }
    }
    if let Some(existing) = report.existing_version {
        println!(
            "{}: the archive has manifest v{existing}; nothing to recover (`verbatim verify` checks it)",
            archive.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(version) = report.version else {
        anyhow::bail!("{}: no table file could be recovered; nothing was published", archive.display());
    };
    if !quiet {
        let rows: u64 = report.recovered.iter().map(|(_, f)| f.rows).sum();
        note!(
            "{}: published snapshot v{version} with {} files ({rows} rows) read from their footers; {} older copies and {} unreadable files left out",
            archive.display(),
            report.recovered.len(),
            report.superseded.len(),
            report.skipped.len()
        );
        note!("document order is not declared for recovered files: queries are correct, per-document ones slower");
    }
    Ok(if report.skipped.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(crate::EXIT_REJECTS) })
}

/// A byte progress bar on a terminal's stderr, or none.
fn progress_bar(quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    Some(crate::progress::byte_bar())
}
