//! Reading documents out of the archive in document order, as pieces a writer can stream
//! (`verbatim export`): each selected document's `segments` rows a batch at a time, each with the
//! `words` of its segments. Two ordered scans are merged by document id and segment, so memory
//! holds a batch of each, however long a document is.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type};
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

/// A piece of the selected documents, in order: a document starts, its rows come in pieces,
/// it ends.
#[derive(Debug, Clone)]
pub enum DocumentPart<'a> {
    /// A document starts.
    Start {
        /// Its id.
        doc_id: &'a str,
    },
    /// Consecutive segments of the document (`doc_id, seq, start_ms, end_ms, text, speaker`, in
    /// `seq` order), with the timed words of those segments (`doc_id, seq, word_index, start_ms,
    /// end_ms, word`, in order; none when the file had no word timings).
    Rows {
        /// The segments.
        segments: RecordBatch,
        /// Their words.
        words: Vec<RecordBatch>,
    },
    /// The document ended.
    End,
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

    /// The next rows of `doc_id` at the cursor, at most the rest of the current batch; `None` when
    /// the cursor is past the document.
    async fn next_of(&mut self, doc_id: &str) -> Result<Option<RecordBatch>> {
        self.skip_before(doc_id).await?;
        if !self.fill().await? {
            return Ok(None);
        }
        let batch = self.batch.as_ref().expect("filled");
        let ids = batch.column(0).as_ref();
        let start = self.offset;
        while self.offset < batch.num_rows() && id_at(ids, self.offset) == doc_id {
            self.offset += 1;
        }
        Ok((self.offset > start).then(|| batch.slice(start, self.offset - start)))
    }

    /// The rows of `doc_id` at the cursor whose `seq` (the second column) is at most `last_seq`.
    async fn take_through(&mut self, doc_id: &str, last_seq: i64) -> Result<Vec<RecordBatch>> {
        self.skip_before(doc_id).await?;
        let mut rows = Vec::new();
        while self.fill().await? {
            let batch = self.batch.as_ref().expect("filled");
            let (ids, seqs) = (batch.column(0).as_ref(), batch.column(1).as_ref());
            let start = self.offset;
            while self.offset < batch.num_rows()
                && id_at(ids, self.offset) == doc_id
                && seq_at(seqs, self.offset) <= last_seq
            {
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

    /// Moves the cursor past rows of documents before `doc_id` (words of a segment-less document).
    async fn skip_before(&mut self, doc_id: &str) -> Result<()> {
        while self.fill().await? {
            let batch = self.batch.as_ref().expect("filled");
            let ids = batch.column(0).as_ref();
            while self.offset < batch.num_rows() && id_at(ids, self.offset).as_str() < doc_id {
                self.offset += 1;
            }
            if self.offset < batch.num_rows() {
                break;
            }
        }
        Ok(())
    }
}

/// The segment number at `row` of a `seq` column.
fn seq_at(array: &dyn Array, row: usize) -> i64 {
    match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row),
        _ => array.as_primitive::<Int32Type>().value(row) as i64,
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
    /// Calls `each` with the pieces of every selected document, in document id order; returns how
    /// many documents there were. Stops at the first error `each` returns.
    pub async fn for_each_document<E: From<datafusion::error::DataFusionError>>(
        &self,
        selection: &Selection,
        mut each: impl FnMut(DocumentPart<'_>) -> std::result::Result<(), E>,
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
            each(DocumentPart::Start { doc_id: &doc_id })?;
            while let Some(rows) = segments.next_of(&doc_id).await? {
                let last_seq = seq_at(rows.column(1).as_ref(), rows.num_rows() - 1);
                let timed = words.take_through(&doc_id, last_seq).await?;
                each(DocumentPart::Rows { segments: rows, words: timed })?;
            }
            each(DocumentPart::End)?;
            documents += 1;
        }
        Ok(documents)
    }
}
