//! Progress on stderr: a live bar on a terminal, a line every 10 seconds otherwise (for logs of
//! nightly jobs), nothing with `--quiet`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use verbatim_archive::rows::RejectRow;

pub use verbatim_engine::report::describe_reject;

use crate::settings::show_size;

/// How progress is shown.
pub struct IngestProgress {
    bar: Option<ProgressBar>,
    log_lines: bool,
    files: AtomicU64,
    total_files: AtomicU64,
    segments: AtomicU64,
    memory_limit: u64,
    started: Instant,
    last_line: Mutex<Instant>,
}

/// A live bar on stderr counting bytes (with rate, ETA and a message), for terminals.
pub fn byte_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let template = "{spinner} {elapsed_precise} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}";
    bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

impl IngestProgress {
    /// Progress for a run within `memory_limit` bytes; `quiet` shows none.
    pub fn new(quiet: bool, memory_limit: u64) -> IngestProgress {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = (!quiet && terminal).then(byte_bar);
        IngestProgress {
            bar,
            log_lines: !quiet && !terminal,
            files: AtomicU64::new(0),
            total_files: AtomicU64::new(0),
            segments: AtomicU64::new(0),
            memory_limit,
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// Removes the bar before the summary is printed.
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn message(&self) -> String {
        let segments = self.segments.load(Ordering::Relaxed);
        let rate = segments as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let memory = memory_against(self.memory_limit);
        format!(
            "files {}/{}, segments {} ({}/s){memory}",
            self.files.load(Ordering::Relaxed),
            self.total_files.load(Ordering::Relaxed),
            human_count(segments),
            human_count(rate as u64)
        )
    }
}

impl verbatim_ingest::Progress for IngestProgress {
    fn begin(&self, files: usize, bytes: u64) {
        self.total_files.store(files as u64, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(bytes);
        }
    }

    fn files_done(&self, files: u64, bytes: u64, segments: u64) {
        self.files.fetch_add(files, Ordering::Relaxed);
        self.segments.fetch_add(segments, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
            bar.set_message(self.message());
        } else if self.log_lines {
            let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() >= Duration::from_secs(10) {
                *last = Instant::now();
                note!("verbatim: ingest {:.0}s: {}", self.started.elapsed().as_secs_f64(), self.message());
            }
        }
    }

    fn rejected(&self, reject: &RejectRow) {
        let line = format!("rejected {}", describe_reject(reject));
        match &self.bar {
            Some(bar) => bar.println(line),
            None if self.log_lines => note!("verbatim: {line}"),
            None => {}
        }
    }
}

/// 1234567 as "1.23M".
pub fn human_count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2}M", n as f64 / 1e6),
        _ => format!("{:.2}G", n as f64 / 1e9),
    }
}

/// A byte progress bar for `gen`.
pub fn bytes_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// "12.3 MiB/s" for bytes over a duration.
pub fn rate(bytes: u64, elapsed: Duration) -> String {
    format!("{}/s", show_size((bytes as f64 / elapsed.as_secs_f64().max(1e-3)) as u64))
}

/// ", memory RSS of LIMIT" for a progress line, or nothing where the OS does not say.
fn memory_against(limit: u64) -> String {
    current_rss_bytes().map_or(String::new(), |rss| format!(", memory {} of {}", show_size(rss), show_size(limit)))
}

/// The process's resident memory now, in bytes (`/proc/self/statm`), where the OS says.
pub fn current_rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (page_size > 0).then(|| pages * page_size as u64)
}

/// Progress of one long step on stderr while it runs: after a second, a live line on a terminal,
/// or a line every 10 seconds otherwise (for logs). Stops and clears when dropped.
pub struct Ticker {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

impl Ticker {
    /// Starts showing `describe()` for the step called `what` (e.g. "query").
    pub fn start(what: &'static str, describe: impl Fn() -> String + Send + 'static) -> Ticker {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"));
            bar
        });
        let shown = bar.clone();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let every = if terminal { Duration::from_millis(200) } else { Duration::from_secs(10) };
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(1), every);
            loop {
                ticks.tick().await;
                match &shown {
                    Some(bar) => {
                        bar.set_message(format!("{what}: {}", describe()));
                        bar.tick();
                    }
                    None if started.elapsed() >= Duration::from_secs(10) => {
                        note!("verbatim: {what} {:.0}s: {}", started.elapsed().as_secs_f64(), describe());
                    }
                    None => {}
                }
            }
        });
        Ticker { task, bar }
    }

    /// A query's progress: rows and bytes its scans read, scan partitions done, the memory pool's
    /// use against its size, spills.
    pub fn query(probe: verbatim_engine::ProgressProbe, pool_bytes: u64) -> Ticker {
        Ticker::start("query", move || describe_query(&probe.sample(), pool_bytes))
    }

    /// A compaction's progress: rows written against rows in, the merge pass, memory against the budget.
    pub fn compaction(progress: std::sync::Arc<verbatim_archive::CompactProgress>, memory_limit: u64) -> Ticker {
        Ticker::start("compact", move || {
            let memory = memory_against(memory_limit);
            format!(
                "{} of {} rows written (pass {}){memory}",
                human_count(progress.rows_written.load(Ordering::Relaxed)),
                human_count(progress.rows_in.load(Ordering::Relaxed)),
                progress.pass.load(Ordering::Relaxed).max(1)
            )
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// "1.20M rows, 45.0 MiB read, partitions 3/8, memory 120.0 MiB of 1.2 GiB, 2 spills (300.0 MiB)".
pub fn describe_query(progress: &verbatim_query::progress::QueryProgress, pool_bytes: u64) -> String {
    let mut line = format!(
        "{} rows, {} read, partitions {}/{}, memory {} of {}",
        human_count(progress.rows_read),
        show_size(progress.bytes_read),
        progress.partitions_done,
        progress.partitions,
        show_size(progress.memory_used),
        show_size(pool_bytes)
    );
    if progress.spills > 0 {
        line.push_str(&format!(", {} spills ({})", progress.spills, show_size(progress.spilled_bytes)));
    }
    line
}
