//! `verbatim demo`: the whole pipeline on the bundled sample, for a first run.

use std::process::ExitCode;

use anyhow::{Context, Result};
use verbatim_query::saved;

use crate::args::{ArchiveArg, DemoArgs, IngestArgs, MemoryArg, QueryArgs, WaitArg};
use crate::commands::{ingest, query::Runner};
use crate::config::Config;

/// The transcript of the talk "Python for HPC" (youtube-transcript-api JSON).
const SAMPLE: &[u8] = include_bytes!("../../../samples/python-for-hpc.json");

pub async fn run(args: DemoArgs, config: &Config, quiet: bool) -> Result<ExitCode> {
    let archive =
        args.archive.archive.clone().or_else(|| config.file.archive.clone()).unwrap_or_else(|| "verbatim-demo".into());
    let staging = std::env::temp_dir().join(format!("verbatim-demo-{}", std::process::id()));
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let sample = staging.join("python-for-hpc.json");
    std::fs::write(&sample, SAMPLE).with_context(|| format!("writing {}", sample.display()))?;

    eprintln!("== verbatim ingest python-for-hpc.json --archive {archive}");
    let ingest_args = IngestArgs {
        sources: vec![sample.to_string_lossy().into_owned()],
        archive: ArchiveArg { archive: Some(archive.clone()) },
        memory: MemoryArg { memory_limit: None },
        threads: None,
        chunk_size: None,
        row_group_size: None,
        zstd_level: None,
        input_format: None,
        encoding: None,
        strict: false,
        prune: false,
        commit_every: None,
        report: None,
        retention: None,
        no_vacuum: false,
        no_phrase_index: false,
        compact: None,
        wait: WaitArg { wait: None },
    };
    let ingested = ingest::run(ingest_args, config, quiet).await;
    std::fs::remove_dir_all(&staging).ok();
    ingested?;

    let query_args = QueryArgs {
        archive: ArchiveArg { archive: Some(archive.clone()) },
        memory: MemoryArg { memory_limit: None },
        format: None,
        output: None,
        spill_dir: None,
        threads: None,
        as_of: None,
        cluster: None,
    };
    let runner = Runner::open(&query_args, config, quiet).await?;
    let catalog = saved::builtin();
    let steps: [(&str, &[(&str, &str)]); 3] = [
        ("top-words", &[("limit", "15"), ("stopwords", "english")]),
        ("search", &[("phrase", "parallel"), ("limit", "5")]),
        ("doc-stats", &[]),
    ];
    for (name, params) in steps {
        let query = catalog.iter().find(|q| q.name == name).context("built-in query missing")?;
        let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let shown: Vec<String> = params.iter().map(|(k, v)| format!("--param {k}={v}")).collect();
        eprintln!("\n== verbatim run {name} {} --archive {archive}", shown.join(" "));
        runner.execute(&query.render(&params)?).await?;
    }
    eprintln!(
        "\nNext: verbatim sql --archive {archive} \"SELECT * FROM segments LIMIT 5\"   (verbatim --help for more)"
    );
    Ok(ExitCode::SUCCESS)
}
