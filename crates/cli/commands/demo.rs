//! `verbatim demo`: the whole pipeline on the bundled sample, for a first run.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use verbatim_query::saved;

use crate::args::{ArchiveArg, DemoArgs, IngestArgs};
use crate::commands::{ingest, query::Runner};
use crate::settings::resolve;

/// The transcript of the talk "Python for HPC" (youtube-transcript-api JSON).
const SAMPLE: &[u8] = include_bytes!("../../../samples/python-for-hpc.json");

pub async fn run(args: DemoArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    let configured = resolve(config, |settings| args.archive.given(settings))?;
    let archive = configured.archive.clone().unwrap_or_else(|| "verbatim-demo".into());
    let staging = std::env::temp_dir().join(format!("verbatim-demo-{}", std::process::id()));
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let sample = staging.join("python-for-hpc.json");
    std::fs::write(&sample, SAMPLE).with_context(|| format!("writing {}", sample.display()))?;

    note!("== verbatim ingest python-for-hpc.json --archive {archive}");
    let ingest_args = IngestArgs {
        sources: vec![sample.to_string_lossy().into_owned()],
        archive: ArchiveArg { archive: Some(archive.clone()) },
        ..IngestArgs::default()
    };
    let ingested = ingest::run(ingest_args, config, quiet).await;
    std::fs::remove_dir_all(&staging).ok();
    ingested?;

    let settings = resolve(config, |settings| settings.given(verbatim_engine::Setting::Archive, archive.clone()))?;
    let runner = Runner::open(settings, None, None, quiet).await?;
    let catalog = saved::builtin();
    let steps: [(&str, &[(&str, &str)]); 3] = [
        ("top-words", &[("limit", "15"), ("stopwords", "english")]),
        ("search", &[("phrase", "parallel"), ("limit", "5")]),
        ("doc-stats", &[]),
    ];
    for (name, params) in steps {
        let query = saved::find(&catalog, name)?;
        let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let shown: Vec<String> = params.iter().map(|(k, v)| format!("--param {k}={v}")).collect();
        note!("\n== verbatim run {name} {} --archive {archive}", shown.join(" "));
        runner.execute(&query.render(&params)?).await?;
    }
    note!("\nNext: verbatim sql --archive {archive} \"SELECT * FROM segments LIMIT 5\"   (verbatim --help for more)");
    Ok(ExitCode::SUCCESS)
}
