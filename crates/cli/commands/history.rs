//! `verbatim log` and `verbatim vacuum`: the archive's commits, and deleting what no retained
//! snapshot needs.

use std::process::ExitCode;

use anyhow::Result;

use crate::args::{LogArgs, VacuumArgs};
use crate::config::{Config, show_size};

/// Lists the commits whose manifests are kept, oldest first.
pub async fn log(args: LogArgs, config: &Config) -> Result<ExitCode> {
    let archive = config.open_archive(&args.archive.archive)?;
    let entries = archive.log().await?;
    if args.json {
        for entry in &entries {
            println!("{}", serde_json::to_string(entry)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>7}  {:<24}  {:<8}  {:>13}  {:>15}  {:>9}  {:<36}",
        "version", "committed", "what", "files +/-", "rows +/-", "docs -", "run"
    );
    for entry in &entries {
        println!(
            "{:>7}  {:<24}  {:<8}  {:>13}  {:>15}  {:>9}  {:<36}",
            entry.version,
            entry.committed_at,
            if entry.operation.is_empty() { "?" } else { &entry.operation },
            format!("+{} -{}", entry.files_added, entry.files_removed),
            format!("+{} -{}", entry.rows_added, entry.rows_removed),
            entry.documents_removed,
            entry.run_id,
        );
    }
    if entries.is_empty() {
        eprintln!("{}: no commits yet", archive.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Deletes manifests past the retention and the files no retained snapshot lists.
pub async fn vacuum(args: VacuumArgs, config: &Config, quiet: bool) -> Result<ExitCode> {
    let archive = config.open_archive_to_write(&args.archive.archive, &args.wait, quiet)?;
    let retention = config.retention(&args.retention)?;
    let report = archive.vacuum(retention).await?;
    if !quiet {
        eprintln!(
            "{}: deleted {} files ({}) and {} manifests older than {}; snapshots from v{} on are kept ({} files kept for them)",
            archive.display(),
            report.files_deleted,
            show_size(report.bytes_deleted),
            report.manifests_deleted,
            humantime::format_duration(retention),
            report.oldest_retained,
            report.files_kept_for_retention,
        );
    }
    Ok(ExitCode::SUCCESS)
}
