//! Result sinks: write query results batch by batch as they arrive, never holding a whole result.
//!
//! * `table`: aligned columns for people; widths come from the header and the first batch, and
//!   later wider values simply extend their cell. Newlines in values are shown as `\n`.
//! * `csv`: RFC 4180 with a header row.
//! * `json`: one JSON array of objects; `ndjson`: one object per line.
//! * `parquet`: zstd Parquet.
//!
//! [`transcript`] writes documents back out as SRT, WebVTT, youtube-transcript-api JSON or text.

mod table;
pub mod transcript;

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

pub use table::TableSink;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text columns.
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Newline-delimited JSON objects.
    Ndjson,
    /// Parquet.
    Parquet,
}

impl Format {
    /// Every format, by name.
    pub const NAMES: [(&'static str, Format); 5] = [
        ("table", Format::Table),
        ("csv", Format::Csv),
        ("json", Format::Json),
        ("ndjson", Format::Ndjson),
        ("parquet", Format::Parquet),
    ];

    /// The format called `name`.
    pub fn from_name(name: &str) -> Option<Format> {
        Self::NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, f)| *f)
    }

    /// The format's name.
    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, f)| *f == self).map_or("table", |(n, _)| n)
    }

    /// Whether the format is binary (not for a terminal).
    pub fn is_binary(self) -> bool {
        self == Format::Parquet
    }
}

/// Writing results failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Encoding failed.
    #[error("writing results: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet encoding failed.
    #[error("writing results: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The destination failed (a closed pipe is one: callers may treat it as success).
    #[error("writing results: {0}")]
    Io(#[from] std::io::Error),
    /// The rows were not what a writer expects.
    #[error("{0}")]
    Message(String),
}

impl OutputError {
    /// Whether the reader went away (e.g. `| head`), which is not a failure for a CLI.
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            OutputError::Io(e) => Some(e),
            OutputError::Arrow(arrow::error::ArrowError::IoError(_, e)) => Some(e),
            _ => None,
        };
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) || self.to_string().contains("Broken pipe")
    }
}

/// Receives a result batch by batch.
pub trait BatchSink {
    /// Writes one batch.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError>;
    /// Writes any trailer and flushes; returns the number of rows written.
    fn finish(self: Box<Self>) -> Result<u64, OutputError>;
}

/// A sink writing `format` to `out` for results of `schema`.
pub fn sink<'w>(
    format: Format,
    schema: SchemaRef,
    out: Box<dyn Write + Send + 'w>,
) -> Result<Box<dyn BatchSink + 'w>, OutputError> {
    Ok(match format {
        Format::Table => Box::new(TableSink::new(schema, out)),
        Format::Csv => Box::new(Counted::new(arrow::csv::WriterBuilder::new().with_header(true).build(out))),
        Format::Json => Box::new(Counted::new(arrow::json::ArrayWriter::new(out))),
        Format::Ndjson => Box::new(Counted::new(arrow::json::LineDelimitedWriter::new(out))),
        Format::Parquet => {
            let properties = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let writer = parquet::arrow::ArrowWriter::try_new(out, schema, Some(properties))?;
            Box::new(Counted::new(writer))
        }
    })
}

/// Adapts the writers of arrow and parquet to [`BatchSink`], counting rows.
struct Counted<W> {
    writer: W,
    rows: u64,
}

impl<W> Counted<W> {
    fn new(writer: W) -> Self {
        Counted { writer, rows: 0 }
    }
}

/// The common shape of the arrow/parquet writers.
trait Encoder {
    fn encode(&mut self, batch: &RecordBatch) -> Result<(), OutputError>;
    fn close(self) -> Result<(), OutputError>;
}

impl<W: Write> Encoder for arrow::csv::Writer<W> {
    fn encode(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        Ok(self.write(batch)?)
    }
    fn close(self) -> Result<(), OutputError> {
        self.into_inner().flush()?;
        Ok(())
    }
}

impl<W: Write> Encoder for arrow::json::ArrayWriter<W> {
    fn encode(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        Ok(self.write(batch)?)
    }
    fn close(mut self) -> Result<(), OutputError> {
        self.finish()?;
        let mut out = self.into_inner();
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }
}

impl<W: Write> Encoder for arrow::json::LineDelimitedWriter<W> {
    fn encode(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        Ok(self.write(batch)?)
    }
    fn close(mut self) -> Result<(), OutputError> {
        self.finish()?;
        self.into_inner().flush()?;
        Ok(())
    }
}

impl<W: Write + Send> Encoder for parquet::arrow::ArrowWriter<W> {
    fn encode(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        Ok(self.write(batch)?)
    }
    fn close(self) -> Result<(), OutputError> {
        self.into_inner()?.flush()?;
        Ok(())
    }
}

impl<W: Encoder> BatchSink for Counted<W> {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        self.rows += batch.num_rows() as u64;
        self.writer.encode(batch)
    }
    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        let rows = self.rows;
        self.writer.close()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn batches() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, true),
            Field::new("count", DataType::Int64, false),
        ]));
        let a = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![Some("the"), None])), Arc::new(Int64Array::from(vec![10, 2]))],
        )
        .unwrap();
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("a,\"quoted\"\nline")])),
                Arc::new(Int64Array::from(vec![1234567])),
            ],
        )
        .unwrap();
        (schema, vec![a, b])
    }

    fn render(format: Format) -> (String, u64) {
        let (schema, batches) = batches();
        let out = Shared::default();
        let mut sink = sink(format, schema, Box::new(out.clone())).unwrap();
        for batch in &batches {
            sink.write(batch).unwrap();
        }
        let rows = sink.finish().unwrap();
        let bytes = out.0.lock().unwrap().clone();
        (String::from_utf8(bytes).unwrap(), rows)
    }

    #[test]
    fn csv_has_one_header_and_quotes_values() {
        let (text, rows) = render(Format::Csv);
        assert_eq!(rows, 3);
        assert_eq!(text, "word,count\nthe,10\n,2\n\"a,\"\"quoted\"\"\nline\",1234567\n");
    }

    #[test]
    fn json_is_one_array_and_ndjson_one_object_per_line() {
        let (json, _) = render(Format::Json);
        let parsed: serde_json_like::Value = serde_json_like::parse(&json);
        assert_eq!(parsed.0, 3);
        let (ndjson, _) = render(Format::Ndjson);
        assert_eq!(ndjson.lines().count(), 3);
        assert!(ndjson.starts_with("{\"word\":\"the\",\"count\":10}\n"), "{ndjson}");
    }

    #[test]
    fn table_aligns_columns_across_batches_and_escapes_newlines() {
        let (text, rows) = render(Format::Table);
        assert_eq!(rows, 3);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "word | count");
        assert_eq!(lines[1], "-----+------");
        assert_eq!(lines[2], "the  |    10");
        assert_eq!(lines[3], "NULL |     2");
        assert_eq!(lines[4], "a,\"quoted\"\\nline | 1234567");
    }

    #[test]
    fn parquet_round_trips() {
        let (schema, batches) = batches();
        let out = Shared::default();
        let mut sink = sink(Format::Parquet, schema, Box::new(out.clone())).unwrap();
        for batch in &batches {
            sink.write(batch).unwrap();
        }
        assert_eq!(sink.finish().unwrap(), 3);
        let bytes = bytes::Bytes::from(out.0.lock().unwrap().clone());
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 1024).unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 3);
    }

    /// Counts top-level array elements without a JSON dependency.
    mod serde_json_like {
        pub struct Value(pub usize);
        pub fn parse(text: &str) -> Value {
            let trimmed = text.trim();
            assert!(trimmed.starts_with('[') && trimmed.ends_with(']'), "{text}");
            Value(trimmed.matches("{\"").count())
        }
    }
}
