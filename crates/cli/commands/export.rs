//! `verbatim export`: documents written back out as SRT, WebVTT, youtube-transcript-api JSON or
//! text, one document at a time, to stdout, a file, or a folder of files named from the ids.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use verbatim_output::transcript::{self, Limits, TranscriptFormat};
use verbatim_query::{ArchiveSession, DocumentRows, Selection, SessionOptions};

use crate::args::ExportArgs;
use crate::config::{Config, show_size};

/// Where the documents go.
enum Destination {
    Stdout,
    File(PathBuf),
    Folder(PathBuf),
}

pub async fn run(args: ExportArgs, config: &Config, quiet: bool) -> Result<ExitCode> {
    let Some(format) = TranscriptFormat::from_name(&args.format) else {
        let names: Vec<_> = TranscriptFormat::NAMES.iter().map(|(n, _)| *n).collect();
        bail!("unknown --format {:?}; use one of {}", args.format, names.join(", "));
    };
    let limits = Limits {
        max_chars: args.max_chars,
        max_duration_ms: match args.max_duration {
            Some(seconds) if seconds.is_finite() && seconds > 0.0 => Some((seconds * 1000.0).round() as i64),
            Some(seconds) => bail!("--max-duration must be a positive number of seconds, got {seconds}"),
            None => None,
        },
    };
    if limits.max_chars == Some(0) {
        bail!("--max-chars must be at least 1");
    }
    let selection = match &args.filter {
        Some(condition) => Selection::Where(condition.clone()),
        None => Selection::Ids(args.docs.clone()),
    };
    let single = matches!(&selection, Selection::Ids(ids) if ids.len() == 1);
    let destination = match &args.output {
        None if single => Destination::Stdout,
        None => bail!("several documents: give --output FOLDER (one file per document)"),
        Some(path) if single && !path.is_dir() && !path.to_string_lossy().ends_with('/') => {
            Destination::File(path.clone())
        }
        Some(path) => Destination::Folder(path.clone()),
    };
    let archive = config.open_archive(&args.archive.archive)?;
    let memory_limit = config.memory_limit(&args.memory.memory_limit)?;
    let options = SessionOptions {
        memory_limit,
        spill_dir: config.file.spill_dir.clone(),
        target_partitions: config.threads(None),
        batch_size: 8192,
        as_of: args.as_of,
        index_cache: Some(config.index_cache()?),
    };
    let session = ArchiveSession::open(&archive, &options).await?;
    let mut exported = BTreeSet::new();
    let mut cues_written = 0usize;
    let mut bytes_written = 0u64;
    let result = session
        .for_each_document(&selection, |document: DocumentRows| -> Result<()> {
            let cues = transcript::cues_from(&document.segments)?;
            let cues = if limits.any() {
                transcript::resegment(&cues, &transcript::words_from(&document.words)?, &limits)
            } else {
                cues.into_iter().map(|(_, cue)| cue).collect()
            };
            let mut text = Vec::new();
            transcript::write(format, &cues, &mut text)?;
            cues_written += cues.len();
            bytes_written += text.len() as u64;
            deliver(&destination, &document.doc_id, format, &text)?;
            exported.insert(document.doc_id);
            Ok(())
        })
        .await;
    if let Err(e) = result {
        return match e.downcast::<datafusion::error::DataFusionError>() {
            Ok(error) => Err(session.explain(error, &show_size(memory_limit)).await.into()),
            Err(other) => Err(other),
        };
    }
    if let Selection::Ids(ids) = &selection {
        let missing: Vec<&String> = ids.iter().filter(|id| !exported.contains(*id)).collect();
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|id| format!("{id:?}")).collect();
            bail!(
                "no document {} in {} (`verbatim sql \"SELECT doc_id FROM documents\"` lists them)",
                list.join(", "),
                archive.display()
            );
        }
    }
    if exported.is_empty() {
        bail!("no document matches the --where condition");
    }
    if !quiet {
        let to = match &destination {
            Destination::Stdout => "stdout".to_string(),
            Destination::File(path) | Destination::Folder(path) => path.display().to_string(),
        };
        eprintln!(
            "exported {} documents ({cues_written} cues, {}) as {} to {to}",
            exported.len(),
            show_size(bytes_written),
            format.extension()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes one document's file where it belongs.
fn deliver(destination: &Destination, doc_id: &str, format: TranscriptFormat, text: &[u8]) -> Result<()> {
    let path = match destination {
        Destination::Stdout => {
            let mut stdout = std::io::stdout().lock();
            return match stdout.write_all(text).and_then(|_| stdout.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => Ok(other?),
            };
        }
        Destination::File(path) => path.clone(),
        Destination::Folder(folder) => folder.join(file_name_for(doc_id, format)),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// The relative file for a document: its id's `/`-separated parts (never `..` or absolute), with
/// the format's extension.
fn file_name_for(doc_id: &str, format: TranscriptFormat) -> PathBuf {
    let mut path = PathBuf::new();
    for part in Path::new(doc_id).components() {
        if let Component::Normal(part) = part {
            path.push(part.to_string_lossy().replace('#', "_"));
        }
    }
    if path.as_os_str().is_empty() {
        path.push("document");
    }
    let mut name = path.into_os_string();
    name.push(format!(".{}", format.extension()));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_ids_and_stay_inside_the_folder() {
        assert_eq!(file_name_for("channel-01/abc.en", TranscriptFormat::Srt), PathBuf::from("channel-01/abc.en.srt"));
        assert_eq!(file_name_for("../../etc/passwd", TranscriptFormat::Text), PathBuf::from("etc/passwd.txt"));
        assert_eq!(file_name_for("/abs", TranscriptFormat::WebVtt), PathBuf::from("abs.vtt"));
        assert_eq!(file_name_for("bundle#v1.en", TranscriptFormat::YoutubeJson), PathBuf::from("bundle_v1.en.json"));
    }
}
