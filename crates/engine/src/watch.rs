//! Watched queries: what a nightly job wants to hear about after each run. A watch file holds one
//! corpus query per line (blank lines and `#` comments left out); after an ingest commits, the
//! hits of each in the documents the run added or replaced are its news.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use futures::StreamExt;
use verbatim_query::corpus::CorpusQuery;

use crate::{Engine, Error};

/// A watched query: its text and the line of the watch file it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedQuery {
    /// The line (1-based).
    pub line: usize,
    /// The query, as written.
    pub text: String,
}

impl WatchedQuery {
    /// A file name for this query's hits: its line and a slug of its text (`03-memory-safety.csv`).
    pub fn file_name(&self, extension: &str) -> String {
        let mut slug = String::new();
        for c in self.text.chars().flat_map(char::to_lowercase) {
            if c.is_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
            if slug.chars().count() >= 40 {
                break;
            }
        }
        format!("{:02}-{}.{extension}", self.line, slug.trim_end_matches('-'))
    }
}

/// The queries of the watch file at `path`, each checked: a query that does not parse fails the
/// whole file, naming its line and column, before anything is ingested.
pub fn read_watch_file(path: &Path) -> Result<Vec<WatchedQuery>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        action: "reading the watch file",
        source,
    })?;
    let mut queries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let query = line.trim();
        if query.is_empty() || query.starts_with('#') {
            continue;
        }
        if let Err(e) = CorpusQuery::parse(query) {
            return Err(Error::Invalid(format!("{}:{}: {query:?}: {e}", path.display(), index + 1)));
        }
        queries.push(WatchedQuery { line: index + 1, text: query.to_string() });
    }
    Ok(queries)
}

/// The news of one watched query.
#[derive(Debug)]
pub struct WatchHits {
    /// The query.
    pub query: WatchedQuery,
    /// Its hits in the documents added or replaced (the columns of the `search` saved query).
    pub batches: Vec<RecordBatch>,
    /// Where they were written, when they were.
    pub file: Option<PathBuf>,
}

impl WatchHits {
    /// How many hits.
    pub fn hits(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

impl Engine {
    /// The hits of each of `queries` in the documents added or replaced after version `since`
    /// (in the newest snapshot), and with `output` each query's hits written there as CSV.
    pub async fn watched_hits(
        &self,
        queries: &[WatchedQuery],
        since: u64,
        output: Option<&Path>,
    ) -> Result<Vec<WatchHits>, Error> {
        let session = self.session(None).await?;
        let mut news = Vec::with_capacity(queries.len());
        for query in queries {
            let quoted = query.text.replace('\'', "''");
            let sql = format!(
                "SELECT doc_id, seq, word_index, start, speaker, left_context, hit, right_context, link, title, \
                 version, content_hash FROM search('{quoted}', 1, 1000000000, {since}) \
                 ORDER BY doc_id, seq, word_index"
            );
            let mut stream = session.sql(&sql).await?;
            let schema = stream.schema();
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                batches.push(batch?);
            }
            let file = match output {
                Some(folder) => Some(write_csv(folder, &query.file_name("csv"), schema, &batches)?),
                None => None,
            };
            news.push(WatchHits { query: query.clone(), batches, file });
        }
        Ok(news)
    }
}

/// Writes `batches` as CSV (with a header) to `folder/name`; the path written.
fn write_csv(
    folder: &Path,
    name: &str,
    schema: datafusion::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<PathBuf, Error> {
    let io = |action: &'static str, path: &Path| {
        let path = path.display().to_string();
        move |source| Error::Io { path, action, source }
    };
    std::fs::create_dir_all(folder).map_err(io("creating the watch output folder", folder))?;
    let path = folder.join(name);
    let file = std::fs::File::create(&path).map_err(io("writing watched hits", &path))?;
    let mut writer = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(file);
    if batches.is_empty() {
        writer.write(&RecordBatch::new_empty(schema)).map_err(verbatim_output::OutputError::from)?;
    }
    for batch in batches {
        writer.write(batch).map_err(verbatim_output::OutputError::from)?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_the_line_and_a_slug() {
        let query = WatchedQuery { line: 3, text: "\"Memory Safety\" NEAR/5 rust*".into() };
        assert_eq!(query.file_name("csv"), "03-memory-safety-near-5-rust.csv");
    }

    #[test]
    fn watch_files_skip_comments_and_name_the_line_of_a_bad_query() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watch.txt");
        std::fs::write(&path, "# nightly\n\nmemory safety\nrust NEAR c\n").unwrap();
        let error = read_watch_file(&path).unwrap_err().to_string();
        assert!(error.contains("watch.txt:4") && error.contains("column 6"), "{error}");
        std::fs::write(&path, "# nightly\n\nmemory safety\n  open source  \n").unwrap();
        let queries = read_watch_file(&path).unwrap();
        assert_eq!(
            queries.iter().map(|q| (q.line, q.text.as_str())).collect::<Vec<_>>(),
            [(3, "memory safety"), (4, "open source")]
        );
    }
}
