//! `verbatim info`.

use std::process::ExitCode;

use anyhow::Result;
use verbatim_archive::{CheckDepth, Table};

use crate::args::InfoArgs;
use crate::config::{Config, show_size};

pub async fn run(args: InfoArgs, config: &Config) -> Result<ExitCode> {
    let archive = config.open_archive(&args.archive.archive)?;
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
    Ok(ExitCode::SUCCESS)
}
