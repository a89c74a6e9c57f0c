//! `verbatim ingest`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use verbatim_archive::Archive;
use verbatim_ingest::{IngestOptions, IngestReport, ingest, is_transcript_file, is_transcript_key};

use crate::EXIT_REJECTS;
use crate::args::IngestArgs;
use crate::config::{Config, parse_duration, parse_size, show_size};
use crate::progress::{IngestProgress, describe_reject, human_count, rate};

/// Rejects listed in the summary; the rest are in the `rejects` table.
const REJECTS_SHOWN: usize = 20;

pub async fn run(args: IngestArgs, config: &Config, quiet: bool) -> Result<ExitCode> {
    let archive = config.open_archive_to_write(&args.archive.archive, &args.wait, quiet)?;
    let mut options = options(&args, config)?;
    let expansion = expand_sources(&args.sources, config).await;
    for problem in &expansion.problems {
        eprintln!("verbatim: {problem}");
    }
    if !options.prune_under.is_empty() && !expansion.problems.is_empty() {
        // A root that could not be listed would look as if all its sources had vanished.
        eprintln!(
            "verbatim: --prune skipped: {} source(s) could not be listed, so nothing is removed this run",
            expansion.problems.len()
        );
        options.prune_under.clear();
    }
    let progress = Arc::new(IngestProgress::new(quiet, options.memory_limit));
    let report = ingest(&archive, expansion.files, &options, progress.clone()).await;
    progress.clear();
    let report = report.with_context(|| format!("ingesting into {}", archive.display()))?;
    if let Some(path) = &args.report {
        write_report(path, &report, &archive, expansion.problems.len())?;
    }
    if !quiet {
        print_summary(&report, &archive, &options, expansion.problems.len());
    }
    let rejected = report.files_rejected > 0 || !expansion.problems.is_empty();
    Ok(if rejected { ExitCode::from(EXIT_REJECTS) } else { ExitCode::SUCCESS })
}

/// Expands local sources (files, folders, globs) and object store URLs (objects, prefixes, globs
/// over keys) into one list of files.
async fn expand_sources(sources: &[String], config: &Config) -> verbatim_sources::Expansion {
    let (remote, local): (Vec<String>, Vec<String>) =
        sources.iter().cloned().partition(|source| verbatim_sources::stores::is_store_url(source));
    let mut expansion = verbatim_sources::expand(&local, is_transcript_file);
    if !remote.is_empty() {
        let options = config.store_options();
        let found = verbatim_sources::expand_remote(&remote, &options, is_transcript_key).await;
        expansion.files.extend(found.files);
        expansion.problems.extend(found.problems);
    }
    expansion
}

/// Ingest options from flags, config and the memory budget.
pub fn options(args: &IngestArgs, config: &Config) -> Result<IngestOptions> {
    let memory = config.memory_limit(&args.memory.memory_limit)?;
    let chunk = config.chunk_size(&args.chunk_size)?;
    let mut options = IngestOptions::new(config.threads(args.threads), memory, chunk);
    if let Some(size) = args.row_group_size.as_ref().or(config.file.row_group_size.as_ref()) {
        options.row_group_bytes = parse_size(size).context("--row-group-size")?;
    }
    if let Some(name) = &args.input_format {
        let format = verbatim_formats::Format::from_name(name);
        let names: Vec<_> = verbatim_formats::Format::ALL.iter().map(|f| f.name()).collect();
        options.input_format =
            Some(format.with_context(|| format!("unknown --input-format {name:?}; use one of {}", names.join(", ")))?);
    }
    if let Some(label) = &args.encoding {
        let encoding = verbatim_formats::decode::encoding_for_label(label);
        options.read.encoding = Some(encoding.with_context(|| {
            format!("unknown --encoding {label:?} (WHATWG labels such as utf-8, utf-16le, windows-1250, big5, gb18030)")
        })?);
    }
    options.read.strict = args.strict;
    if let Some(level) = args.zstd_level.or(config.file.zstd_level) {
        anyhow::ensure!((1..=22).contains(&level), "--zstd-level must be 1 to 22, got {level}");
        options.zstd_level = level;
    }
    if args.prune {
        options.prune_under = args.sources.clone();
    }
    if let Some(every) = &args.commit_every {
        options.commit_every = Some(parse_duration(every).context("--commit-every")?);
    }
    options.phrase_index = !args.no_phrase_index && config.file.phrase_index.unwrap_or(true);
    options.vacuum = if args.no_vacuum { None } else { Some(config.retention(&args.retention)?) };
    options.compact_at_runs = match args.compact.as_ref().or(config.file.compact.as_ref()).map(String::as_str) {
        None | Some("auto") => Some(config.file.compact_threshold.unwrap_or(4)),
        Some("always") => Some(1),
        Some("never") => None,
        Some(other) => anyhow::bail!("unknown --compact {other:?}; use auto, always or never"),
    };
    Ok(options)
}

/// Writes the run's report as JSON, for the job that runs ingest every night.
fn write_report(path: &Path, report: &IngestReport, archive: &Archive, unlisted_sources: usize) -> Result<()> {
    let json = serde_json::json!({
        "archive": archive.display(),
        "run_id": report.run_id,
        "sources": {
            "seen": report.files,
            "bytes": report.bytes,
            "new": report.files_ingested - report.files_changed,
            "changed": report.files_changed,
            "unchanged": report.files_unchanged,
            "rejected": report.files_rejected,
            "unreadable": unlisted_sources,
        },
        "documents": {
            "added": report.documents,
            "replaced": report.documents_replaced,
            "removed": report.documents_pruned,
            "resumed": report.documents_resumed,
        },
        "rows": { "segments_added": report.segments, "removed": report.rows_removed },
        "version_before": report.version_before,
        "version_after": report.version,
        "commits": report.commits,
        "seconds": report.elapsed.as_secs_f64(),
        "peak_rss_bytes": crate::progress::peak_rss_bytes(),
        "vacuum": report.vacuum,
        "compaction": report.compaction,
        "rejects": report.rejects.iter().map(describe_reject).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&json).context("serialising the report")?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing the report {}", path.display()))
}

fn print_summary(report: &IngestReport, archive: &Archive, options: &IngestOptions, unreadable_sources: usize) {
    let seconds = report.elapsed.as_secs_f64();
    eprintln!(
        "processed {} files ({}) in {seconds:.2}s: {}, {} segments/s, {} threads, memory budget {}",
        report.files,
        show_size(report.bytes),
        rate(report.bytes, report.elapsed),
        human_count((report.segments as f64 / seconds.max(1e-3)) as u64),
        options.workers,
        show_size(options.memory_limit),
    );
    eprintln!(
        "  added {} documents, {} segments; {} files unchanged, {} changed, {} rejected",
        report.documents, report.segments, report.files_unchanged, report.files_changed, report.files_rejected,
    );
    if report.documents_replaced + report.documents_pruned + report.documents_resumed > 0 {
        eprintln!(
            "  replaced {} documents, pruned {} ({} rows removed); resumed {} documents a killed run had finished",
            report.documents_replaced, report.documents_pruned, report.rows_removed, report.documents_resumed
        );
    }
    let versions = if report.version == report.version_before {
        format!("stays at version {} (nothing to commit)", report.version)
    } else {
        format!("is at version {} (was {})", report.version, report.version_before)
    };
    eprintln!("  {} {versions}", archive.display());
    if let Some(compaction) = &report.compaction {
        eprintln!(
            "  compacted {} overlapping runs: {} files ({}) into {} in document order, {:.1}s",
            compaction.before.sorted_runs,
            compaction.files_in,
            show_size(compaction.bytes_in),
            compaction.files_out,
            compaction.elapsed.as_secs_f64()
        );
    }
    if let Some(vacuum) = report.vacuum.as_ref().filter(|v| v.files_deleted + v.manifests_deleted > 0) {
        eprintln!(
            "  vacuum deleted {} files ({}) and {} old manifests",
            vacuum.files_deleted,
            show_size(vacuum.bytes_deleted),
            vacuum.manifests_deleted
        );
    }
    if unreadable_sources > 0 {
        eprintln!("  {unreadable_sources} source(s) could not be listed (see above)");
    }
    for reject in report.rejects.iter().take(REJECTS_SHOWN) {
        eprintln!("  rejected {}", describe_reject(reject));
    }
    if report.files_rejected > REJECTS_SHOWN as u64 {
        eprintln!(
            "  … and {} more: verbatim sql --archive {} \"SELECT * FROM rejects\"",
            report.files_rejected - REJECTS_SHOWN as u64,
            archive.display()
        );
    }
}
