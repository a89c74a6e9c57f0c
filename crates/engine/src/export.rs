//! Exporting documents as subtitles or transcripts: each selected document's captions, re-cut when
//! asked, written in a transcript format to where the front end says.

use std::io::Write;

use verbatim_output::transcript::{self, Limits, TranscriptFormat};
use verbatim_query::{DocumentRows, Selection};

use crate::{Engine, Error};

/// What to export, and how.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The documents.
    pub selection: Selection,
    /// The format they are written in.
    pub format: TranscriptFormat,
    /// How cues are cut anew (nothing is re-cut when no limit is set).
    pub limits: Limits,
    /// Read the snapshot of this version instead of the newest.
    pub as_of: Option<u64>,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// The documents written, in id order.
    pub documents: Vec<String>,
    /// Cues written.
    pub cues: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl Engine {
    /// Writes every document `request` selects, in document id order, to the writer `open` gives
    /// for its id.
    pub async fn export(
        &self,
        request: &ExportRequest,
        mut open: impl FnMut(&str) -> Result<Box<dyn Write>, Error>,
    ) -> Result<ExportReport, Error> {
        let session = self.session(request.as_of).await?;
        let mut report = ExportReport::default();
        let written = session
            .archive_session()
            .for_each_document(&request.selection, |document: DocumentRows| -> Result<(), ExportFailure> {
                let cues = transcript::cues_from(&document.segments).map_err(Error::from)?;
                let cues = if request.limits.any() {
                    let words = transcript::words_from(&document.words).map_err(Error::from)?;
                    transcript::resegment(&cues, &words, &request.limits)
                } else {
                    cues.into_iter().map(|(_, cue)| cue).collect()
                };
                let mut text = Vec::new();
                transcript::write(request.format, &cues, &mut text)
                    .map_err(|source| io_error(&document.doc_id, source))?;
                let mut out = open(&document.doc_id)?;
                out.write_all(&text).and_then(|()| out.flush()).map_err(|source| io_error(&document.doc_id, source))?;
                report.cues += cues.len() as u64;
                report.bytes += text.len() as u64;
                report.documents.push(document.doc_id);
                Ok(())
            })
            .await;
        match written {
            Ok(_) => Ok(report),
            Err(ExportFailure::Engine(error)) => Err(error),
            Err(ExportFailure::Query(error)) => Err(session.explain(error).await),
        }
    }
}

/// Why an export stopped: reading the documents, or writing them.
enum ExportFailure {
    Query(datafusion::error::DataFusionError),
    Engine(Error),
}

impl From<datafusion::error::DataFusionError> for ExportFailure {
    fn from(error: datafusion::error::DataFusionError) -> ExportFailure {
        ExportFailure::Query(error)
    }
}

impl From<Error> for ExportFailure {
    fn from(error: Error) -> ExportFailure {
        ExportFailure::Engine(error)
    }
}

fn io_error(doc_id: &str, source: std::io::Error) -> Error {
    Error::Io { path: doc_id.to_string(), action: "writing the document", source }
}
