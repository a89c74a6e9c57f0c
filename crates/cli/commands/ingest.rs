//! `verbatim ingest`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use verbatim_archive::Archive;
use verbatim_engine::{Engine, IngestOutcome, IngestRequest, OnLockWait, Settings, WatchHits};
use verbatim_ingest::{IngestOptions, IngestReport};

use crate::args::IngestArgs;
use crate::progress::{IngestProgress, describe_reject, human_count, rate};
use crate::settings::{parse_duration, resolve, show_size};
use crate::{EXIT_PRUNE_REFUSED, EXIT_REJECTS};

/// Rejects listed in the summary; the rest are in the `rejects` table.
const REJECTS_SHOWN: usize = 20;

pub async fn run(args: IngestArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    let settings = resolve(config, |settings| args.given(settings))?;
    let notice = lock_wait_notice(quiet, &settings);
    let engine = Engine::open_with(settings, notice)?;
    let request = request(&args)?;
    // A watched query that does not parse stops the run before anything is ingested.
    let watched = match &args.watch {
        Some(path) => verbatim_engine::read_watch_file(path)?,
        None => Vec::new(),
    };
    let options = engine.ingest_options(&request);
    let progress = Arc::new(IngestProgress::new(quiet, options.budget.limit()));
    let outcome = engine.ingest(&request, progress.clone()).await;
    progress.clear();
    let outcome = outcome.with_context(|| format!("ingesting into {}", engine.archive().display()))?;
    for problem in &outcome.unlisted {
        note!("verbatim: {problem}");
    }
    if request.prune && !outcome.unlisted.is_empty() {
        // A root that could not be listed would look as if all its sources had vanished.
        note!(
            "verbatim: --prune skipped: {} source(s) could not be listed, so nothing was removed this run",
            outcome.unlisted.len()
        );
    }
    let report = &outcome.report;
    if let Some(refusal) = &report.prune_refused {
        note!(
            "verbatim: --prune removed nothing: {} of the archive's {} documents have no source any more, \
             more than --max-delete {} allows (is a source folder unmounted?); if they really are gone, \
             run again with --max-delete {}",
            refusal.vanished,
            refusal.documents,
            refusal.max_prune,
            refusal.vanished
        );
    }
    let archive = engine.archive();
    let news = if args.watch.is_some() {
        engine.watched_hits(&watched, report.version_before, args.watch_output.as_deref()).await?
    } else {
        Vec::new()
    };
    if !quiet {
        for found in &news {
            note!("watch line {}: {} new hit(s) of {:?}", found.query.line, found.hits(), found.query.text);
        }
    }
    if let Some(path) = &args.report {
        write_report(path, &outcome, archive, &news)?;
    }
    if !quiet {
        print_summary(report, archive, &options, outcome.unlisted.len());
    }
    let rejected = report.files_rejected > 0 || !outcome.unlisted.is_empty();
    Ok(if report.prune_refused.is_some() {
        ExitCode::from(EXIT_PRUNE_REFUSED)
    } else if rejected {
        ExitCode::from(EXIT_REJECTS)
    } else {
        ExitCode::SUCCESS
    })
}

/// Tells the user on stderr (unless `quiet`) who holds the archive's lock when a writer waits.
pub fn lock_wait_notice(quiet: bool, settings: &Settings) -> Option<OnLockWait> {
    let shown = settings.archive.clone().unwrap_or_default();
    let wait = humantime::format_duration(settings.wait).to_string();
    (!quiet).then(|| -> OnLockWait {
        Arc::new(move |holder: &str| note!("verbatim: {shown} is locked by {holder}; waiting up to {wait}"))
    })
}

/// What the flags ask to ingest, and how.
fn request(args: &IngestArgs) -> Result<IngestRequest> {
    let input_format = match &args.input_format {
        Some(name) => {
            let names: Vec<_> = verbatim_formats::Format::ALL.iter().map(|f| f.name()).collect();
            let format = verbatim_formats::Format::from_name(name);
            Some(format.with_context(|| format!("unknown --input-format {name:?}; use one of {}", names.join(", ")))?)
        }
        None => None,
    };
    let encoding = match &args.encoding {
        Some(label) => Some(verbatim_formats::decode::encoding_for_label(label).with_context(|| {
            format!("unknown --encoding {label:?} (WHATWG labels such as utf-8, utf-16le, windows-1250, big5, gb18030)")
        })?),
        None => None,
    };
    let commit_every = match &args.commit_every {
        Some(every) => {
            Some(parse_duration(every).map_err(|reason| anyhow::anyhow!("--commit-every {every:?}: {reason}"))?)
        }
        None => None,
    };
    Ok(IngestRequest {
        sources: args.sources.clone(),
        prune: args.prune,
        input_format,
        encoding,
        strict: args.strict,
        commit_every,
        vacuum: !args.no_vacuum,
    })
}

/// Writes the run's report as JSON, for the job that runs ingest every night.
fn write_report(path: &Path, outcome: &IngestOutcome, archive: &Archive, news: &[WatchHits]) -> Result<()> {
    let json = verbatim_engine::report::run_report(outcome, archive, news)?;
    let text = serde_json::to_string_pretty(&json).context("serialising the report")?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing the report {}", path.display()))
}

fn print_summary(report: &IngestReport, archive: &Archive, options: &IngestOptions, unreadable_sources: usize) {
    let seconds = report.elapsed.as_secs_f64();
    note!(
        "processed {} files ({}) in {seconds:.2}s: {}, {} segments/s, {} threads, memory budget {}",
        report.files,
        show_size(report.bytes),
        rate(report.bytes, report.elapsed),
        human_count((report.segments as f64 / seconds.max(1e-3)) as u64),
        options.workers,
        show_size(options.budget.limit()),
    );
    note!(
        "  added {} documents, {} segments; {} files unchanged, {} changed, {} rejected",
        report.documents,
        report.segments,
        report.files_unchanged,
        report.files_changed,
        report.files_rejected,
    );
    if report.documents_replaced + report.documents_pruned + report.documents_resumed > 0 {
        note!(
            "  replaced {} documents, pruned {} ({} rows removed); resumed {} documents a killed run had finished",
            report.documents_replaced,
            report.documents_pruned,
            report.rows_removed,
            report.documents_resumed
        );
    }
    let versions = if report.version == report.version_before {
        format!("stays at version {} (nothing to commit)", report.version)
    } else {
        format!("is at version {} (was {})", report.version, report.version_before)
    };
    note!("  {} {versions}", archive.display());
    if let Some(compaction) = &report.compaction {
        note!(
            "  compacted {} overlapping runs: {} files ({}) into {} in document order, {:.1}s",
            compaction.before.sorted_runs,
            compaction.files_in,
            show_size(compaction.bytes_in),
            compaction.files_out,
            compaction.elapsed.as_secs_f64()
        );
    }
    if let Some(vacuum) = report.vacuum.as_ref().filter(|v| v.files_deleted + v.manifests_deleted > 0) {
        note!(
            "  vacuum deleted {} files ({}) and {} old manifests",
            vacuum.files_deleted,
            show_size(vacuum.bytes_deleted),
            vacuum.manifests_deleted
        );
    }
    if unreadable_sources > 0 {
        note!("  {unreadable_sources} source(s) could not be listed (see above)");
    }
    for reject in report.rejects.iter().take(REJECTS_SHOWN) {
        note!("  rejected {}", describe_reject(reject));
    }
    if report.files_rejected > REJECTS_SHOWN as u64 {
        note!(
            "  … and {} more: verbatim sql --archive {} \"SELECT * FROM rejects\"",
            report.files_rejected - REJECTS_SHOWN as u64,
            archive.display()
        );
    }
}
