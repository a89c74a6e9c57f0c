//! The `table` format: aligned columns, streamed.

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::{BatchSink, OutputError};

/// Writes batches as aligned text columns; widths are fixed by the header and the first batch.
pub struct TableSink<'w> {
    schema: SchemaRef,
    out: Box<dyn Write + Send + 'w>,
    widths: Option<Vec<usize>>,
    numeric: Vec<bool>,
    rows: u64,
}

impl<'w> TableSink<'w> {
    /// A sink for results of `schema`.
    pub fn new(schema: SchemaRef, out: Box<dyn Write + Send + 'w>) -> Self {
        let numeric = schema.fields().iter().map(|f| f.data_type().is_numeric()).collect();
        TableSink { schema, out, widths: None, numeric, rows: 0 }
    }

    fn cells(batch: &RecordBatch) -> Result<Vec<Vec<String>>, OutputError> {
        let options = FormatOptions::default().with_null("NULL");
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((0..batch.num_rows())
            .map(|row| {
                formatters.iter().map(|f| f.value(row).to_string().replace('\n', "\\n").replace('\r', "\\r")).collect()
            })
            .collect())
    }

    fn write_header(&mut self, widths: &[usize]) -> Result<(), OutputError> {
        let names: Vec<String> = self.schema.fields().iter().map(|f| f.name().clone()).collect();
        let header: Vec<String> = names.iter().zip(widths).map(|(n, w)| pad(n, *w, false)).collect();
        writeln!(self.out, "{}", header.join(" | ").trim_end())?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        writeln!(self.out, "{}", rule.join("-+-"))?;
        Ok(())
    }
}

impl BatchSink for TableSink<'_> {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        let rows = Self::cells(batch)?;
        if self.widths.is_none() {
            let mut widths: Vec<usize> = self.schema.fields().iter().map(|f| f.name().chars().count()).collect();
            for row in &rows {
                for (width, cell) in widths.iter_mut().zip(row) {
                    *width = (*width).max(cell.chars().count());
                }
            }
            self.write_header(&widths)?;
            self.widths = Some(widths);
        }
        let widths = self.widths.as_ref().expect("set above");
        for row in rows {
            let cells: Vec<String> =
                row.iter().zip(widths).zip(&self.numeric).map(|((cell, w), numeric)| pad(cell, *w, *numeric)).collect();
            writeln!(self.out, "{}", cells.join(" | ").trim_end())?;
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, OutputError> {
        if self.widths.is_none() {
            let widths: Vec<usize> = self.schema.fields().iter().map(|f| f.name().chars().count()).collect();
            self.write_header(&widths)?;
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

/// `cell` padded with spaces to `width` characters, on the left for numbers (values of any length).
fn pad(cell: &str, width: usize, right_align: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(cell.chars().count()));
    if right_align { format!("{fill}{cell}") } else { format!("{cell}{fill}") }
}
