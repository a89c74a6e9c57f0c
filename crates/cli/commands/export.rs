//! `verbatim export`: documents written back out as SRT, WebVTT, youtube-transcript-api JSON or
//! text, one document at a time, to stdout, a file, or a folder of files named from the ids.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use verbatim_engine::{Engine, ExportRequest};
use verbatim_output::transcript::{Limits, TranscriptFormat};
use verbatim_query::Selection;

use crate::args::ExportArgs;
use crate::settings::{resolve, show_size};

/// Where the documents go.
enum Destination {
    Stdout,
    File(PathBuf),
    Folder(PathBuf),
}

pub async fn run(args: ExportArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    let Some(format) = TranscriptFormat::from_name(&args.format) else {
        let names: Vec<_> = TranscriptFormat::NAMES.iter().map(|(n, _)| *n).collect();
        bail!("unknown --format {:?}; use one of {}", args.format, names.join(", "));
    };
    let limits = Limits {
        max_chars: args.max_chars,
        max_duration_ms: match args.max_duration {
            Some(seconds) if seconds.is_finite() && seconds >= 0.001 => Some((seconds * 1000.0).round() as i64),
            Some(seconds) => {
                bail!("--max-duration must be at least 0.001 seconds (cue times are in milliseconds), got {seconds}")
            }
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
    let settings = resolve(config, |settings| args.archive.given(args.memory.given(settings)))?;
    let engine = Engine::open(settings)?;
    let request = ExportRequest { selection: selection.clone(), format, limits, as_of: args.as_of };
    let report = engine.export(&request, |doc_id| open(&destination, doc_id, format)).await?;
    if let Selection::Ids(ids) = &selection {
        let missing: Vec<String> =
            ids.iter().filter(|id| !report.documents.contains(id)).map(|id| format!("{id:?}")).collect();
        if !missing.is_empty() {
            bail!(
                "no document {} in {} (`verbatim sql \"SELECT doc_id FROM documents\"` lists them)",
                missing.join(", "),
                engine.archive().display()
            );
        }
    }
    if report.documents.is_empty() {
        bail!("no document matches the --where condition");
    }
    if !quiet {
        let to = match &destination {
            Destination::Stdout => "stdout".to_string(),
            Destination::File(path) | Destination::Folder(path) => path.display().to_string(),
        };
        note!(
            "exported {} documents ({} cues, {}) as {} to {to}",
            report.documents.len(),
            report.cues,
            show_size(report.bytes),
            format.extension()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The writer of one document's file, where it belongs.
fn open(
    destination: &Destination,
    doc_id: &str,
    format: TranscriptFormat,
) -> Result<Box<dyn Write>, verbatim_engine::Error> {
    let path = match destination {
        Destination::Stdout => return Ok(Box::new(StdoutIgnoringClosedPipe)),
        Destination::File(path) => path.clone(),
        Destination::Folder(folder) => folder.join(file_name_for(doc_id, format)),
    };
    let io = |action: &'static str| {
        let path = path.display().to_string();
        move |source| verbatim_engine::Error::Io { path, action, source }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("creating its folder"))?;
    }
    Ok(Box::new(std::io::BufWriter::new(std::fs::File::create(&path).map_err(io("creating"))?)))
}

/// Standard output, where a reader that went away (`| head`) ends the output quietly.
struct StdoutIgnoringClosedPipe;

impl Write for StdoutIgnoringClosedPipe {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match std::io::stdout().lock().write(bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(bytes.len()),
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match std::io::stdout().lock().flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
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
