//! Reading whole documents out of the archive in document order, one at a time: the rows of
//! `segments` and `words` of each selected document, for writers that need a document whole
//! (`verbatim export`). Two ordered scans are merged by document id, so memory holds one document.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::ArchiveSession;

/// Which documents to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These document ids.
    Ids(Vec<String>),
    /// The documents for which this SQL condition over the `documents` table holds.
    Where(String),
}

impl Selection {
    /// The SQL condition on `doc_id` that selects the documents.
    fn condition(&self) -> String {
        match self {
            Selection::Ids(ids) => {
                let quoted: Vec<String> = ids.iter().map(|id| format!("'{}'", id.replace('\'', "''"))).collect();
                format!("doc_id IN ({})", if quoted.is_empty() { "NULL".to_string() } else { quoted.join(", ") })
            }
            Selection::Where(condition) => format!("doc_id IN (SELECT doc_id FROM documents WHERE {condition})"),
        }
    }
}

/// One document's rows: `segments` (`doc_id, seq, start_ms, end_ms, text, speaker`) in `seq`
/// order and `words` (`doc_id, seq, word_index, start_ms, end_ms, word`) in order.
#[derive(Debug, Clone)]
pub struct DocumentRows {
    /// The document id.
    pub doc_id: String,
    /// Its segments.
    pub segments: Vec<RecordBatch>,
    /// Its timed words (empty when the file had none).
    pub words: Vec<RecordBatch>,
}

/// An ordered scan cut at document boundaries.
struct ByDocument {
    stream: SendableRecordBatchStream,
    batch: Option<RecordBatch>,
    offset: usize,
}

impl ByDocument {
    fn new(stream: SendableRecordBatchStream) -> Self {
        ByDocument { stream, batch: None, offset: 0 }
    }

    /// Loads the next batch when the current one is used up; false at the end.
    async fn fill(&mut self) -> Result<bool> {
        while self.batch.as_ref().is_none_or(|b| self.offset >= b.num_rows()) {
            match self.stream.next().await {
                Some(batch) => {
                    self.batch = Some(batch?);
                    self.offset = 0;
                }
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// The document id of the next row.
    async fn peek(&mut self) -> Result<Option<String>> {
        if !self.fill().await? {
            return Ok(None);
        }
        let batch = self.batch.as_ref().expect("filled");
        Ok(Some(id_at(batch.column(0).as_ref(), self.offset)))
    }

    /// The rows of `doc_id` at the cursor, skipping rows of smaller ids before them.
    async fn take(&mut self, doc_id: &str) -> Result<Vec<RecordBatch>> {
        let mut rows = Vec::new();
        while self.fill().await? {
            let batch = self.batch.as_ref().expect("filled");
            let ids = batch.column(0).as_ref();
            while self.offset < batch.num_rows() && id_at(ids, self.offset).as_str() < doc_id {
                self.offset += 1;
            }
            let start = self.offset;
            while self.offset < batch.num_rows() && id_at(ids, self.offset) == doc_id {
                self.offset += 1;
            }
            if self.offset > start {
                rows.push(batch.slice(start, self.offset - start));
            }
            if self.offset < batch.num_rows() {
                break;
            }
        }
        Ok(rows)
    }
}

fn id_at(array: &dyn Array, row: usize) -> String {
    match array.data_type() {
        DataType::Utf8View => array.as_string_view().value(row).to_string(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).to_string(),
        _ => array.as_string::<i32>().value(row).to_string(),
    }
}

impl ArchiveSession {
    /// Calls `each` with every selected document's rows, in document id order; returns how many
    /// documents there were. Stops at the first error `each` returns.
    pub async fn for_each_document<E: From<datafusion::error::DataFusionError>>(
        &self,
        selection: &Selection,
        mut each: impl FnMut(DocumentRows) -> std::result::Result<(), E>,
    ) -> std::result::Result<u64, E> {
        let condition = selection.condition();
        let segments = format!(
            "SELECT doc_id, seq, start_ms, end_ms, text, speaker FROM segments WHERE {condition} ORDER BY doc_id, seq"
        );
        let words = format!(
            "SELECT doc_id, seq, word_index, start_ms, end_ms, word FROM words WHERE {condition} ORDER BY doc_id, seq, word_index"
        );
        let mut segments = ByDocument::new(self.ctx.sql(&segments).await?.execute_stream().await?);
        let mut words = ByDocument::new(self.ctx.sql(&words).await?.execute_stream().await?);
        let mut documents = 0;
        while let Some(doc_id) = segments.peek().await? {
            let rows = segments.take(&doc_id).await?;
            let timed = words.take(&doc_id).await?;
            documents += 1;
            each(DocumentRows { doc_id, segments: rows, words: timed })?;
        }
        Ok(documents)
    }
}
