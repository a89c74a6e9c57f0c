//! `verbatim log`, `verbatim vacuum` and `verbatim compact`: the archive's commits, deleting what
//! no retained snapshot needs, and rewriting many runs' chunks in document order.

use std::process::ExitCode;

use anyhow::Result;

use crate::args::{CompactArgs, LogArgs, VacuumArgs};
use crate::commands::ingest::lock_wait_notice;
use crate::settings::{resolve, show_size};

/// Lists the commits whose manifests are kept, oldest first.
pub async fn log(args: LogArgs, config: Option<&std::path::Path>) -> Result<ExitCode> {
    let engine = verbatim_engine::Engine::open(resolve(config, |settings| args.archive.given(settings))?)?;
    let archive = engine.archive();
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
        note!("{}: no commits yet", archive.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Deletes manifests past the retention and the files no retained snapshot lists.
pub async fn vacuum(args: VacuumArgs, config: Option<&std::path::Path>, quiet: bool) -> Result<ExitCode> {
    let settings = resolve(config, |settings| args.archive.given(args.retention.given(args.wait.given(settings))))?;
    let retention = settings.retention;
    let notice = lock_wait_notice(quiet, &settings);
    let engine = verbatim_engine::Engine::open_with(settings, notice)?;
    let archive = engine.archive();
    let report = archive.vacuum(retention).await?;
    if !quiet {
        note!(
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

/// Compacts the archive, then vacuums with the retention.
pub async fn compact(args: CompactArgs, config: Option<&std::path::Path>, quiet: bool) -> Result<ExitCode> {
    let settings = resolve(config, |settings| args.given(settings))?;
    let progress = std::sync::Arc::new(verbatim_archive::CompactProgress::default());
    let options = verbatim_archive::CompactOptions {
        target_bytes: settings.chunk_size,
        budget: settings.budget(),
        phrase_index: settings.phrase_index,
        progress: Some(progress.clone()),
    };
    let retention = settings.retention;
    let notice = lock_wait_notice(quiet, &settings);
    let engine = verbatim_engine::Engine::open_with(settings, notice)?;
    let archive = engine.archive();
    let ticker = (!quiet).then(|| crate::progress::Ticker::compaction(progress, options.budget.limit()));
    let report = archive.compact(&options).await;
    drop(ticker);
    let report = report?;
    let vacuum = archive.vacuum(retention).await?;
    if quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let before = &report.before;
    let Some(version) = report.version else {
        note!(
            "{}: nothing to compact ({} chunks in {} sorted run(s), {} small)",
            archive.display(),
            before.chunks,
            before.sorted_runs,
            before.small_chunks
        );
        return Ok(ExitCode::SUCCESS);
    };
    let seconds = report.elapsed.as_secs_f64().max(1e-3);
    note!(
        "{}: merged {} chunks in {} sorted runs ({} files, {}) into {} files ({}) in document order in {seconds:.2}s ({}/s, {} pass(es)); now at version {version}",
        archive.display(),
        before.chunks,
        before.sorted_runs,
        report.files_in,
        show_size(report.bytes_in),
        report.files_out,
        show_size(report.bytes_out),
        show_size((report.bytes_in as f64 / seconds) as u64),
        report.passes,
    );
    if before.unordered_chunks > 0 {
        note!("  {} chunks without a document range were left as they are", before.unordered_chunks);
    }
    note!(
        "  the replaced files are kept for readers of older snapshots for {} ({} files kept; `verbatim vacuum` deletes them after)",
        humantime::format_duration(retention),
        vacuum.files_kept_for_retention
    );
    Ok(ExitCode::SUCCESS)
}
