//! `verbatim info`.

use std::process::ExitCode;

use anyhow::Result;
use verbatim_archive::{CheckDepth, Table};

use crate::args::InfoArgs;
use crate::settings::{resolve, show_size};

pub async fn run(args: InfoArgs, config: Option<&std::path::Path>) -> Result<ExitCode> {
    let engine = verbatim_engine::Engine::open(resolve(config, |settings| args.archive.given(settings))?)?;
    let archive = engine.archive();
    let snapshot = archive.snapshot().await?;
    // A summary of files that are not there would be a wrong answer.
    archive.ensure_sound(&snapshot, CheckDepth::Footer).await?;
    let manifest = &snapshot.manifest;
    println!("archive   {}", archive.url());
    if manifest.version == 0 {
        println!("version   0 (nothing committed yet)");
    } else {
        println!("version   {} (committed {} by run {})", manifest.version, manifest.committed_at, manifest.run_id);
    }
    println!("{:<10} {:>6} {:>14} {:>12}", "table", "files", "rows", "bytes");
    for table in Table::ALL {
        let files = manifest.files(table);
        let bytes: u64 = files.iter().map(|f| f.bytes).sum();
        println!("{:<10} {:>6} {:>14} {:>12}", table.name(), files.len(), manifest.rows(table), show_size(bytes));
    }
    let segments = manifest.files(Table::Segments);
    let indexes: Vec<_> = segments.iter().filter_map(|f| f.phrase_index.as_ref()).collect();
    let index_bytes: u64 = indexes.iter().map(|index| index.bytes).sum();
    let scanned = match segments.len() - indexes.len() {
        0 => String::new(),
        n => format!("; `search` scans the other {n}"),
    };
    println!(
        "phrases   indexed: {} of {} segments chunks, {}{scanned}",
        indexes.len(),
        segments.len(),
        show_size(index_bytes)
    );
    let shape = verbatim_archive::fragmentation(manifest, engine.settings().chunk_size);
    let order = match shape.sorted_runs {
        0 => "no ordered chunks".to_string(),
        1 => "in document order (1 sorted run): per-document queries stream".to_string(),
        runs => {
            format!("{runs} overlapping sorted runs: per-document queries sort; `verbatim compact` restores the order")
        }
    };
    println!(
        "chunks    {} ({} small, {} without a document range); {order}",
        shape.chunks, shape.small_chunks, shape.unordered_chunks
    );
    Ok(ExitCode::SUCCESS)
}
