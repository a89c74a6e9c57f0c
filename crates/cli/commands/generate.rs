//! `verbatim gen`: writes a synthetic corpus.

use std::process::ExitCode;

use anyhow::Result;

use crate::args::GenArgs;
use crate::progress::{bytes_bar, rate};
use crate::settings::{parse_size, resolve, show_size};

pub fn run(args: GenArgs, config: Option<&std::path::Path>, quiet: bool) -> Result<ExitCode> {
    let size = parse_size(&args.size).map_err(|reason| anyhow::anyhow!("--size {:?}: {reason}", args.size))?;
    let threads = resolve(config, |settings| args.threads.given(settings))?.threads;
    let bar = bytes_bar(size, quiet);
    let started = std::time::Instant::now();
    let report = match &args.speech {
        Some(folder) => {
            let episodes = verbatim_gen::speech::read_episodes(folder)?;
            anyhow::ensure!(
                !episodes.is_empty(),
                "{}: no speaker-turn transcripts ([Speaker] [MM:SS] text) in *.txt files",
                folder.display()
            );
            verbatim_gen::speech::generate_speech(&episodes, &args.out, size, args.seed, &|bytes| bar.inc(bytes))?
        }
        None => verbatim_gen::generate(&args.out, size, args.seed, threads, &|bytes| bar.inc(bytes))?,
    };
    bar.finish_and_clear();
    if !quiet {
        note!(
            "generated {} files, {} snippets, {} in {} (seed {}, {})",
            report.files,
            report.snippets,
            show_size(report.bytes),
            args.out.display(),
            args.seed,
            rate(report.bytes, started.elapsed())
        );
    }
    Ok(ExitCode::SUCCESS)
}
