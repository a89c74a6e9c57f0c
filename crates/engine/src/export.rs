//! Exporting documents as subtitles or transcripts: each selected document's captions, re-cut when
//! asked, written in a transcript format to where the front end says.

use std::io::Write;

use datafusion::arrow::record_batch::RecordBatch;
use verbatim_output::transcript::{self, Cue, CueWriter, Limits, Resegmenter, TranscriptFormat};
use verbatim_query::{DocumentPart, Selection};

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
    /// for its id. Each document streams through a batch at a time, so memory stays within the
    /// budget however long a document is.
    pub async fn export(
        &self,
        request: &ExportRequest,
        mut open: impl FnMut(&str) -> Result<Box<dyn Write>, Error>,
    ) -> Result<ExportReport, Error> {
        let session = self.session(request.as_of).await?;
        let mut report = ExportReport::default();
        let mut current: Option<OpenDocument> = None;
        let written = session
            .archive_session()
            .for_each_document(&request.selection, |part: DocumentPart<'_>| -> Result<(), ExportFailure> {
                match part {
                    DocumentPart::Start { doc_id } => {
                        let out = CountingWriter { inner: open(doc_id)?, bytes: 0 };
                        current = Some(OpenDocument::new(doc_id, out, request));
                    }
                    DocumentPart::Rows { segments, words } => {
                        if let Some(document) = &mut current {
                            document.write(&segments, &words)?;
                        }
                    }
                    DocumentPart::End => {
                        if let Some(document) = current.take() {
                            let (doc_id, cues, bytes) = document.finish()?;
                            report.cues += cues;
                            report.bytes += bytes;
                            report.documents.push(doc_id);
                        }
                    }
                }
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

/// A document being written: its cue writer, and the cue still open when cues are cut anew.
struct OpenDocument {
    doc_id: String,
    writer: CueWriter<CountingWriter>,
    resegmenter: Option<Resegmenter>,
}

impl OpenDocument {
    fn new(doc_id: &str, out: CountingWriter, request: &ExportRequest) -> OpenDocument {
        let resegmenter = request.limits.any().then(|| Resegmenter::new(request.limits));
        OpenDocument { doc_id: doc_id.to_string(), writer: CueWriter::new(request.format, out), resegmenter }
    }

    /// Writes the cues of the next segments (cut anew with their words when asked).
    fn write(&mut self, segments: &RecordBatch, words: &[RecordBatch]) -> Result<(), Error> {
        let cues = transcript::cues_from(std::slice::from_ref(segments))?;
        let cues = match &mut self.resegmenter {
            Some(resegmenter) => resegmenter.push(&cues, &transcript::words_from(words)?),
            None => cues.into_iter().map(|(_, cue)| cue).collect(),
        };
        self.write_cues(&cues)
    }

    fn write_cues(&mut self, cues: &[Cue]) -> Result<(), Error> {
        for cue in cues {
            self.writer.write(cue).map_err(|source| io_error(&self.doc_id, source))?;
        }
        Ok(())
    }

    /// Writes the last cue and the end of the file; the id, cues and bytes written.
    fn finish(mut self) -> Result<(String, u64, u64), Error> {
        if let Some(last) = self.resegmenter.take().and_then(Resegmenter::finish) {
            self.write_cues(&[last])?;
        }
        let cues = self.writer.written();
        let out = self.writer.finish().map_err(|source| io_error(&self.doc_id, source))?;
        Ok((self.doc_id, cues, out.bytes))
    }
}

/// A writer that counts the bytes through it.
struct CountingWriter {
    inner: Box<dyn Write>,
    bytes: u64,
}

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
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
