//! sqllogictest suite: every `.slt` file in `tests/slt/` runs against a session over an archive
//! holding the bundled sample transcript, with verbatim's functions registered; files named
//! `*.corpus.slt` run over a mixed corpus instead: the sample, a generated corpus (300 KB, seed 11),
//! a JSON Lines bundle with channels and dates, a WhisperX file with speakers, a yt-dlp download
//! with its sidecar and a real podcast episode with speaker turns.
//!
//! Besides SQL, a record may run a saved query: `run NAME` on the first line, then one
//! `param=value` per line. Regenerate expected results with `cargo test --test slt -- --complete`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use sqllogictest::{DBOutput, DefaultColumnType};
use verbatim_archive::Archive;
use verbatim_query::{SessionOptions, open_session, saved};

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

struct Verbatim {
    ctx: SessionContext,
}

#[async_trait]
impl sqllogictest::AsyncDB for Verbatim {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let sql = match sql.trim().strip_prefix("run ") {
            Some(saved_call) => render_saved(saved_call)?,
            None => sql.to_string(),
        };
        let frame = self.ctx.sql(&sql).await.map_err(|e| SltError(e.to_string()))?;
        let schema = frame.schema().as_arrow().clone();
        if schema.fields().is_empty() {
            frame.collect().await.map_err(|e| SltError(e.to_string()))?;
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
        let mut rows = Vec::new();
        let mut stream = frame.execute_stream().await.map_err(|e| SltError(e.to_string()))?;
        while let Some(batch) = stream.next().await {
            rows.extend(format_rows(&batch.map_err(|e| SltError(e.to_string()))?)?);
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "verbatim"
    }

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await
    }
}

/// `NAME\nk=v\n…` to the rendered SQL of the built-in saved query NAME.
fn render_saved(call: &str) -> Result<String, SltError> {
    let mut lines = call.lines();
    let name = lines.next().unwrap_or_default().trim();
    let params: Vec<(String, String)> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_string(), v.to_string())))
        .collect::<Option<_>>()
        .ok_or_else(|| SltError(format!("bad parameter line in run {name}")))?;
    let query = saved::builtin()
        .into_iter()
        .find(|q| q.name == name)
        .ok_or_else(|| SltError(format!("no saved query {name}")))?;
    query.render(&params).map_err(|e| SltError(e.to_string()))
}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    if data_type.is_integer() {
        DefaultColumnType::Integer
    } else if data_type.is_floating() || matches!(data_type, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

fn format_rows(batch: &RecordBatch) -> Result<Vec<Vec<String>>, SltError> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SltError(e.to_string()))?;
    Ok((0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .map(|f| match f.value(row).to_string() {
                    s if s.is_empty() => "(empty)".to_string(),
                    s => s,
                })
                .collect()
        })
        .collect())
}

async fn ingested(dir: &Path, sources: &[PathBuf]) -> Archive {
    let archive = Archive::at(&dir.to_string_lossy()).expect("archive location");
    let sources: Vec<String> = sources.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    let expansion =
        verbatim_sources::expand(&sources, verbatim_ingest::is_transcript_file, verbatim_ingest::is_transcript_key);
    assert!(expansion.problems.is_empty(), "{:?}", expansion.problems);
    let options = verbatim_ingest::IngestOptions::new(2, verbatim_model::MemoryBudget::new(512 << 20), 128 << 20);
    let report = verbatim_ingest::ingest(&archive, expansion.files, &options, Arc::new(verbatim_ingest::NoProgress))
        .await
        .expect("ingest");
    assert_eq!(report.files_rejected, 0, "{:?}", report.rejects);
    archive
}

async fn sample_archive(dir: &Path) -> Archive {
    ingested(dir, &[repository("samples/python-for-hpc.json")]).await
}

async fn corpus_archive(dir: &Path) -> Archive {
    let generated = dir.join("generated");
    verbatim_gen::generate(&generated, 300_000, 11, 2, &|_| {}).expect("generate");
    let sources = [
        repository("samples/python-for-hpc.json"),
        generated,
        repository("tests/fixtures/formats/bundle/physics.jsonl"),
        repository("tests/fixtures/formats/stt/whisperx.json"),
        repository("tests/fixtures/formats/yt-dlp"),
        repository("tests/fixtures/external/oxide-and-friends"),
    ];
    ingested(&dir.join("archive"), &sources).await
}

fn repository(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

fn main() -> ExitCode {
    let complete = std::env::args().any(|a| a == "--complete");
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("temp dir");
        let archive = sample_archive(&dir.path().join("sample")).await;
        let corpus = corpus_archive(&dir.path().join("corpus")).await;
        let options = SessionOptions {
            budget: verbatim_model::MemoryBudget::new(512 << 20),
            spill_dir: None,
            target_partitions: 2,
            batch_size: 8192,
            as_of: None,
            index_cache: None,
        };
        let mut failures = 0;
        let mut passed = 0;
        for file in slt_files() {
            let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
                continue;
            }
            let over = if name.ends_with(".corpus.slt") { &corpus } else { &archive };
            let ctx = open_session(over, &options).await.expect("session");
            let mut runner = sqllogictest::Runner::new(move || {
                let ctx = ctx.clone();
                async move { Ok(Verbatim { ctx }) }
            });
            runner.with_column_validator(sqllogictest::strict_column_validator);
            let result = if complete {
                runner
                    .update_test_file(
                        &file,
                        " ",
                        sqllogictest::default_validator,
                        sqllogictest::default_normalizer,
                        sqllogictest::strict_column_validator,
                    )
                    .await
                    .map_err(|e| e.to_string())
            } else {
                runner.run_file_async(&file).await.map_err(|e| e.display(true).to_string())
            };
            match result {
                Ok(()) => {
                    passed += 1;
                    println!("ok {name}");
                }
                Err(e) => {
                    failures += 1;
                    println!("FAILED {name}\n{e}");
                }
            }
        }
        println!("{passed} passed, {failures} failed");
        if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    })
}
