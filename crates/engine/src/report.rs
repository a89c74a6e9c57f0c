//! The report of an ingest run as JSON: what the CLI writes with `--report` for a nightly job and
//! what the Python package's `ingest()` returns, one shape for both.

use verbatim_archive::Archive;
use verbatim_archive::rows::RejectRow;

use crate::{Error, IngestOutcome, WatchHits};

/// Hits of a watched query listed in the report; the rest are in its CSV file.
pub const WATCH_HITS_REPORTED: usize = 1000;

/// The report of `outcome` on `archive`, with the news of the watched queries.
pub fn run_report(outcome: &IngestOutcome, archive: &Archive, news: &[WatchHits]) -> Result<serde_json::Value, Error> {
    let report = &outcome.report;
    let watch: Vec<serde_json::Value> = news.iter().map(watch_report).collect::<Result<_, _>>()?;
    Ok(serde_json::json!({
        "archive": archive.display(),
        "run_id": report.run_id,
        "sources": {
            "seen": report.files,
            "bytes": report.bytes,
            "new": report.files_ingested - report.files_changed,
            "changed": report.files_changed,
            "unchanged": report.files_unchanged,
            "rejected": report.files_rejected,
            "unreadable": outcome.unlisted.len(),
        },
        "documents": {
            "added": report.documents,
            "replaced": report.documents_replaced,
            "removed": report.documents_pruned,
            "prune_refused": report.prune_refused.as_ref().map(|refusal| serde_json::json!({
                "vanished": refusal.vanished,
                "documents": refusal.documents,
                "max_delete": refusal.max_prune.to_string(),
            })),
            "resumed": report.documents_resumed,
        },
        "rows": { "segments_added": report.segments, "removed": report.rows_removed },
        "version_before": report.version_before,
        "version_after": report.version,
        "commits": report.commits,
        "seconds": report.elapsed.as_secs_f64(),
        "peak_rss_bytes": peak_rss_bytes(),
        "vacuum": report.vacuum,
        "compaction": report.compaction,
        "rejects": report.rejects.iter().map(describe_reject).collect::<Vec<_>>(),
        "unreadable_sources": outcome.unlisted.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "watch": watch,
    }))
}

/// A watched query's news as the report shows it: its line, text, number of hits, file, and the
/// hits as objects (at most [`WATCH_HITS_REPORTED`]).
fn watch_report(found: &WatchHits) -> Result<serde_json::Value, Error> {
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::Report { what: "watched hits", source };
    let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    let mut left = WATCH_HITS_REPORTED;
    for batch in &found.batches {
        let taken = batch.slice(0, batch.num_rows().min(left));
        left -= taken.num_rows();
        writer.write(&taken).map_err(|e| failed(Box::new(e)))?;
    }
    writer.finish().map_err(|e| failed(Box::new(e)))?;
    let bytes = writer.into_inner();
    let rows: serde_json::Value = if bytes.is_empty() {
        serde_json::json!([])
    } else {
        serde_json::from_slice(&bytes).map_err(|e| failed(Box::new(e)))?
    };
    Ok(serde_json::json!({
        "line": found.query.line,
        "query": found.query.text,
        "hits": found.hits(),
        "file": found.file.as_ref().map(|f| f.display().to_string()),
        "rows": rows,
        "rows_truncated": found.hits() > WATCH_HITS_REPORTED,
    }))
}

/// A reject as one line: `source:line:column: reason`.
pub fn describe_reject(reject: &RejectRow) -> String {
    let location = match (reject.line, reject.column) {
        (Some(line), Some(column)) => format!(":{line}:{column}"),
        (Some(line), None) => format!(":{line}"),
        _ => String::new(),
    };
    format!("{}{location}: {}", reject.source, reject.reason)
}

/// The peak resident set size of this process so far, in bytes (`None` where it cannot be read).
pub fn peak_rss_bytes() -> Option<u64> {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let result = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    // Linux reports kibibytes.
    (result == 0).then(|| usage.ru_maxrss.max(0) as u64 * 1024)
}
