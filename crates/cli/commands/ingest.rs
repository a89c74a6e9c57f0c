//! `verbatim ingest`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use verbatim_archive::Archive;
use verbatim_ingest::{IngestOptions, IngestReport, ingest, is_transcript_file};

use crate::EXIT_REJECTS;
use crate::args::IngestArgs;
use crate::config::{Config, parse_size, show_size};
use crate::progress::{IngestProgress, describe_reject, human_count, rate};

/// Rejects listed in the summary; the rest are in the `rejects` table.
const REJECTS_SHOWN: usize = 20;

pub async fn run(args: IngestArgs, config: &Config, quiet: bool) -> Result<ExitCode> {
    let archive = config.open_archive(&args.archive.archive)?;
    let options = options(&args, config)?;
    let expansion = verbatim_sources::expand(&args.sources, is_transcript_file);
    for problem in &expansion.problems {
        eprintln!("verbatim: {problem}");
    }
    let progress = Arc::new(IngestProgress::new(quiet));
    let report = ingest(&archive, expansion.files, &options, progress.clone()).await;
    progress.clear();
    let report = report.with_context(|| format!("ingesting into {}", archive.display()))?;
    if !quiet {
        print_summary(&report, &archive, &options, expansion.problems.len());
    }
    let rejected = report.files_rejected > 0 || !expansion.problems.is_empty();
    Ok(if rejected { ExitCode::from(EXIT_REJECTS) } else { ExitCode::SUCCESS })
}

/// Ingest options from flags, config and the memory budget.
pub fn options(args: &IngestArgs, config: &Config) -> Result<IngestOptions> {
    let memory = config.memory_limit(&args.memory.memory_limit)?;
    let chunk = match args.chunk_size.as_ref().or(config.file.chunk_size.as_ref()) {
        Some(size) => parse_size(size).context("--chunk-size")?,
        None => 128 << 20,
    };
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
    Ok(options)
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
        "  added {} documents, {} segments; {} unchanged; {} rejected; {} is at version {}",
        report.documents,
        report.segments,
        report.files_unchanged,
        report.files_rejected,
        archive.display(),
        report.version
    );
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
