//! Corpus statistics as table functions: `collocations(term, window [, filter])`,
//! `keyness(target, reference [, min_freq])` and `frequencies([filter])`.
//!
//! Each reads the snapshot's `segments` chunks once (frequencies twice), a chunk per task, two at
//! a time, in their stored order: a chunk holds whole documents, each in caption order, so a
//! document's words come in order and windows run across captions. Words are what `tokenize`
//! gives. A filter is written as in a corpus query (`channel:Oxide after:2024-01-01`) and picks
//! the captions a (sub)corpus is made of.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{StreamExt, TryStreamExt};
use verbatim_archive::FileEntry;
use verbatim_model::words::{for_each_word, push_lowercase};

use crate::corpus::measures::{association, deviation_of_proportions_from, keyness};
use crate::corpus::{CorpusQuery, Expr as QueryExpr, Filters, Term, spellings};
use crate::search::{SearchTarget, chunk_columns, documents_taken};

/// The most words each side a collocation window takes.
pub const MAX_WINDOW: i64 = 50;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What one table function computes.
#[derive(Debug, Clone)]
enum Job {
    /// Collocates of `term` within `window` words each side, in the captions `filters` take.
    Collocations { term: Vec<String>, window: usize, filters: Filters },
    /// Words over- and under-used in `target` against `reference` (`None`: the rest).
    Keyness { target: Filters, reference: Option<Filters>, min_freq: u64 },
    /// Every word's frequency and dispersion in the captions `filters` take.
    Frequencies { filters: Filters },
}

static COLLOCATIONS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let count = |name: &str| Field::new(name, DataType::UInt64, false);
    let score = |name: &str| Field::new(name, DataType::Float64, false);
    Arc::new(Schema::new(vec![
        Field::new("word", DataType::Utf8, false),
        count("f_xy"),
        count("f_x"),
        count("f_y"),
        count("n"),
        score("mi"),
        score("mi3"),
        score("t_score"),
        score("log_dice"),
        score("log_likelihood"),
    ]))
});

static KEYNESS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("word", DataType::Utf8, false),
        Field::new("f_target", DataType::UInt64, false),
        Field::new("f_reference", DataType::UInt64, false),
        Field::new("per_million_target", DataType::Float64, false),
        Field::new("per_million_reference", DataType::Float64, false),
        Field::new("log_likelihood", DataType::Float64, false),
        Field::new("log_ratio", DataType::Float64, false),
    ]))
});

static FREQUENCIES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("word", DataType::Utf8, false),
        Field::new("f", DataType::UInt64, false),
        Field::new("per_million", DataType::Float64, false),
        Field::new("documents", DataType::UInt64, false),
        Field::new("dp", DataType::Float64, false),
    ]))
});

impl Job {
    fn schema(&self) -> SchemaRef {
        match self {
            Job::Collocations { .. } => COLLOCATIONS_SCHEMA.clone(),
            Job::Keyness { .. } => KEYNESS_SCHEMA.clone(),
            Job::Frequencies { .. } => FREQUENCIES_SCHEMA.clone(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Job::Collocations { .. } => "collocations",
            Job::Keyness { .. } => "keyness",
            Job::Frequencies { .. } => "frequencies",
        }
    }
}

fn string_argument(name: &str, args: &TableFunctionArgs, index: usize, what: &str) -> Result<Option<String>> {
    match args.exprs().get(index) {
        None => Ok(None),
        Some(Expr::Literal(
            ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)),
            _,
        )) => Ok(Some(s.clone())),
        Some(_) => plan_err!("{name}: {what} must be a string literal"),
    }
}

fn integer_argument(name: &str, args: &TableFunctionArgs, index: usize, what: &str) -> Result<Option<i64>> {
    match args.exprs().get(index) {
        None => Ok(None),
        Some(Expr::Literal(value, _)) if value.data_type().is_integer() => {
            Ok(value.cast_to(&DataType::Int64)?.try_into().ok())
        }
        Some(_) => plan_err!("{name}: {what} must be an integer literal"),
    }
}

fn filters_argument(name: &str, args: &TableFunctionArgs, index: usize) -> Result<Option<Filters>> {
    match string_argument(name, args, index, "the filter")? {
        None => Ok(None),
        Some(text) => match Filters::parse(&text) {
            Ok(filters) => Ok(Some(filters)),
            Err(e) => plan_err!("{name}: the filter {text:?} does not parse: {e}"),
        },
    }
}

fn at_most(name: &str, args: &TableFunctionArgs, most: usize, usage: &str) -> Result<()> {
    if args.exprs().len() > most {
        return plan_err!("{name} takes at most {most} arguments ({usage})");
    }
    Ok(())
}

/// The table functions of this module, over `target`.
#[derive(Debug)]
pub struct StatisticsFunction {
    target: Arc<SearchTarget>,
    kind: &'static str,
}

impl StatisticsFunction {
    /// `collocations(term, window [, filter])`.
    pub fn collocations(target: Arc<SearchTarget>) -> StatisticsFunction {
        StatisticsFunction { target, kind: "collocations" }
    }

    /// `keyness(target, reference [, min_freq])`.
    pub fn keyness(target: Arc<SearchTarget>) -> StatisticsFunction {
        StatisticsFunction { target, kind: "keyness" }
    }

    /// `frequencies([filter])`.
    pub fn frequencies(target: Arc<SearchTarget>) -> StatisticsFunction {
        StatisticsFunction { target, kind: "frequencies" }
    }

    fn job(&self, args: &TableFunctionArgs) -> Result<Job> {
        let name = self.kind;
        match name {
            "collocations" => {
                let usage = "'term', window [, 'filter']";
                at_most(name, args, 3, usage)?;
                let Some(term) = string_argument(name, args, 0, "the term")? else {
                    return plan_err!("collocations({usage}): the term is missing");
                };
                // A word or phrase: its words as a corpus query has them (lowercased and folded:
                // each stands for its spellings, as in search).
                let words = match CorpusQuery::parse(&term) {
                    Ok(CorpusQuery { expr: QueryExpr::Sequence(terms), filters, .. }) if filters.is_empty() => terms
                        .iter()
                        .map(|t| match t {
                            Term::Word(word) => Some(word.clone()),
                            _ => None,
                        })
                        .collect::<Option<Vec<String>>>(),
                    _ => None,
                };
                let Some(term) = words else {
                    return plan_err!("collocations: the term \"{term}\" must be a word or a phrase");
                };
                let window = integer_argument(name, args, 1, "the window")?.unwrap_or(5);
                if !(1..=MAX_WINDOW).contains(&window) {
                    return plan_err!("collocations: the window must be 1 to {MAX_WINDOW} words, got {window}");
                }
                let filters = filters_argument(name, args, 2)?.unwrap_or_default();
                Ok(Job::Collocations { term, window: window as usize, filters })
            }
            "keyness" => {
                let usage = "'target filter', 'reference filter' (or '' for the rest) [, min_freq]";
                at_most(name, args, 3, usage)?;
                let Some(target) = filters_argument(name, args, 0)? else {
                    return plan_err!("keyness({usage}): the target filter is missing");
                };
                let reference = filters_argument(name, args, 1)?.filter(|f| !f.is_empty());
                if target.is_empty() && reference.is_none() {
                    return plan_err!("keyness: give a target filter, e.g. keyness('channel:Oxide', '')");
                }
                let min_freq = integer_argument(name, args, 2, "min_freq")?.unwrap_or(1).max(0) as u64;
                Ok(Job::Keyness { target, reference, min_freq })
            }
            _ => {
                at_most(name, args, 1, "['filter']")?;
                Ok(Job::Frequencies { filters: filters_argument(name, args, 0)?.unwrap_or_default() })
            }
        }
    }
}

impl TableFunctionImpl for StatisticsFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let job = self.job(&args)?;
        Ok(Arc::new(StatisticsTable { target: self.target.clone(), job }))
    }
}

/// The function's name when `table` is the table of one of this module's functions; these run in
/// one process (a cluster's plan serialisation does not carry them).
pub fn statistics_function_of(table: &dyn TableProvider) -> Option<&'static str> {
    (table as &dyn std::any::Any).downcast_ref::<StatisticsTable>().map(|t| t.job.name())
}

/// The table a statistics function returns.
#[derive(Debug)]
struct StatisticsTable {
    target: Arc<SearchTarget>,
    job: Job,
}

#[async_trait::async_trait]
impl TableProvider for StatisticsTable {
    fn schema(&self) -> SchemaRef {
        self.job.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(columns) => Arc::new(self.job.schema().project(columns)?),
            None => self.job.schema(),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(Arc::new(StatisticsExec {
            target: self.target.clone(),
            job: self.job.clone(),
            projection: projection.cloned(),
            properties: Arc::new(properties),
        }))
    }
}

/// Computes one statistics table: reads the chunks, then gives the table in one batch.
#[derive(Debug)]
struct StatisticsExec {
    target: Arc<SearchTarget>,
    job: Job,
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
}

impl DisplayAs for StatisticsExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "StatisticsExec: {}, chunks={}", self.job.name(), self.target.chunks.len())
    }
}

impl ExecutionPlan for StatisticsExec {
    fn name(&self) -> &str {
        "StatisticsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    leaf_plan_methods!("StatisticsExec");

    fn execute(&self, partition: usize, _ctx: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!("StatisticsExec has one partition, not {partition}")));
        }
        let (target, job, projection) = (self.target.clone(), self.job.clone(), self.projection.clone());
        let batch = futures::stream::once(async move {
            let batch = SpawnedTask::spawn(async move { run(target, job).await })
                .join_unwind()
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))??;
            match projection {
                Some(columns) => Ok(batch.project(&columns)?),
                None => Ok(batch),
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), batch)))
    }
}

/// Which (sub)corpus a caption belongs to.
#[derive(Debug, Clone)]
struct Selection {
    filters: Filters,
    documents: Option<HashSet<String>>,
}

impl Selection {
    async fn of(target: &SearchTarget, filters: &Filters) -> Result<Selection> {
        let documents = if filters.on_documents() { Some(documents_taken(target, filters).await?) } else { None };
        Ok(Selection { filters: filters.clone(), documents })
    }

    fn takes(&self, doc_id: &str, speaker: Option<&str>) -> bool {
        self.documents.as_ref().is_none_or(|taken| taken.contains(doc_id)) && self.filters.takes_speaker(speaker)
    }
}

/// The words of a chunk's documents, numbered by a vocabulary of the task reading it.
#[derive(Debug, Default)]
struct Vocabulary {
    ids: FastMap<Box<str>, u32>,
    words: Vec<Box<str>>,
}

impl Vocabulary {
    fn id(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.ids.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.push(word.into());
        self.ids.insert(word.into(), id);
        id
    }
}

/// One document's words (ids) and, for each, the class of its caption (0: in no corpus).
#[derive(Debug, Default)]
struct Document {
    words: Vec<u32>,
    classes: Vec<u8>,
}

/// Reads the chunk `entry` in order, calling `on_document` with each document's words and their
/// captions' classes (`classify(doc_id, speaker)`).
async fn each_document(
    target: &SearchTarget,
    entry: &FileEntry,
    vocabulary: &mut Vocabulary,
    classify: impl Fn(&str, Option<&str>) -> u8,
    mut on_document: impl FnMut(&Document, &Vocabulary),
) -> Result<()> {
    let mut stream = chunk_columns(&target.store, &target.archive, entry, &["doc_id", "text", "speaker"]).await?;
    let (mut document, mut current, mut lowercased) = (Document::default(), None::<String>, String::new());
    while let Some(batch) = stream.try_next().await? {
        let column = |name: &str| -> Result<ArrayRef> {
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| DataFusionError::Execution(format!("{}: no {name} column in segments", entry.path)))?;
            Ok(cast(array, &DataType::Utf8)?)
        };
        let (docs, texts, speakers) = (column("doc_id")?, column("text")?, column("speaker")?);
        let (docs, texts, speakers) = (docs.as_string::<i32>(), texts.as_string::<i32>(), speakers.as_string::<i32>());
        for row in 0..batch.num_rows() {
            let doc = docs.value(row);
            if current.as_deref() != Some(doc) {
                if current.is_some() {
                    on_document(&document, vocabulary);
                }
                document.words.clear();
                document.classes.clear();
                current = Some(doc.to_string());
            }
            use datafusion::arrow::array::Array;
            let speaker = (!speakers.is_null(row)).then(|| speakers.value(row));
            let class = classify(doc, speaker);
            if texts.is_null(row) {
                continue;
            }
            for_each_word(texts.value(row), |word| {
                lowercased.clear();
                push_lowercase(word, &mut lowercased);
                document.words.push(vocabulary.id(&lowercased));
                document.classes.push(class);
            });
        }
    }
    if current.is_some() {
        on_document(&document, vocabulary);
    }
    Ok(())
}

/// Runs `work` on each chunk (two at a time), each with its own vocabulary; the results in chunk
/// order.
async fn per_chunk<T: Send + 'static>(
    target: &Arc<SearchTarget>,
    work: impl Fn(Arc<SearchTarget>, FileEntry) -> futures::future::BoxFuture<'static, Result<T>>,
) -> Result<Vec<T>> {
    futures::stream::iter(target.chunks.clone())
        .map(|entry| {
            let task = work(target.clone(), entry);
            async move { SpawnedTask::spawn(task).join_unwind().await.map_err(|e| DataFusionError::External(Box::new(e)))? }
        })
        .buffered(2)
        .try_collect()
        .await
}

/// Counts per word, merged from the chunks' vocabularies into one.
#[derive(Debug, Default)]
struct Counts {
    index: FastMap<Box<str>, usize>,
    words: Vec<Box<str>>,
    /// Per word: one vector per counter.
    values: Vec<Vec<u64>>,
}

impl Counts {
    fn with_counters(counters: usize) -> Counts {
        Counts { values: vec![Vec::new(); counters], ..Counts::default() }
    }

    /// Adds a chunk's `counters` (each by the chunk's word ids of `vocabulary`).
    fn add(&mut self, vocabulary: &Vocabulary, counters: &[Vec<u64>]) {
        for (id, word) in vocabulary.words.iter().enumerate() {
            if counters.iter().all(|c| c.get(id).copied().unwrap_or(0) == 0) {
                continue;
            }
            let at = match self.index.get(word) {
                Some(&at) => at,
                None => {
                    self.words.push(word.clone());
                    self.index.insert(word.clone(), self.words.len() - 1);
                    self.values.iter_mut().for_each(|v| v.push(0));
                    self.words.len() - 1
                }
            };
            for (total, counter) in self.values.iter_mut().zip(counters) {
                total[at] += counter.get(id).copied().unwrap_or(0);
            }
        }
    }
}

async fn run(target: Arc<SearchTarget>, job: Job) -> Result<RecordBatch> {
    match job {
        Job::Collocations { term, window, filters } => collocations(target, term, window, filters).await,
        Job::Keyness { target: wanted, reference, min_freq } => {
            keyness_table(target, wanted, reference, min_freq).await
        }
        Job::Frequencies { filters } => frequencies(target, filters).await,
    }
}

/// Per chunk: the vocabulary, f_y, f_xy, and the corpus's f_x and n.
struct CollocationPart {
    vocabulary: Vocabulary,
    frequency: Vec<u64>,
    near: Vec<u64>,
    term: u64,
    words: u64,
}

async fn collocations(
    target: Arc<SearchTarget>,
    term: Vec<String>,
    window: usize,
    filters: Filters,
) -> Result<RecordBatch> {
    let selection = Arc::new(Selection::of(&target, &filters).await?);
    let term = Arc::new(term);
    let parts = per_chunk(&target, |target, entry| {
        let (selection, term) = (selection.clone(), term.clone());
        Box::pin(async move {
            let mut vocabulary = Vocabulary::default();
            // Each word of the term as the ids of its spellings ("don't" and "don’t").
            let term_ids: Vec<Vec<u32>> =
                term.iter().map(|w| spellings(w).iter().map(|s| vocabulary.id(s)).collect()).collect();
            let mut part = CollocationPart {
                vocabulary: Vocabulary::default(),
                frequency: Vec::new(),
                near: Vec::new(),
                term: 0,
                words: 0,
            };
            let mut kept: Vec<u32> = Vec::new();
            each_document(
                &target,
                &entry,
                &mut vocabulary,
                |doc, speaker| u8::from(selection.takes(doc, speaker)),
                |document, _| {
                    kept.clear();
                    kept.extend(
                        document.words.iter().zip(&document.classes).filter(|(_, c)| **c == 1).map(|(w, _)| *w),
                    );
                    count_collocations(&kept, &term_ids, window, &mut part);
                },
            )
            .await?;
            part.vocabulary = vocabulary;
            Ok(part)
        })
    })
    .await?;
    let mut counts = Counts::with_counters(2);
    let (mut f_x, mut n) = (0u64, 0u64);
    for part in &parts {
        counts.add(&part.vocabulary, &[part.frequency.clone(), part.near.clone()]);
        f_x += part.term;
        n += part.words;
    }
    let rows: Vec<usize> = (0..counts.words.len()).filter(|&i| counts.values[1][i] > 0).collect();
    let mut scores: [Vec<f64>; 5] = Default::default();
    for &i in &rows {
        let a = association(counts.values[1][i] as f64, f_x as f64, counts.values[0][i] as f64, n as f64);
        for (column, value) in scores.iter_mut().zip([a.mi, a.mi3, a.t_score, a.log_dice, a.log_likelihood]) {
            column.push(value);
        }
    }
    let words = StringArray::from_iter_values(rows.iter().map(|&i| &*counts.words[i]));
    let column = |values: Vec<u64>| Arc::new(UInt64Array::from(values)) as ArrayRef;
    let [mi, mi3, t_score, log_dice, log_likelihood] = scores;
    let float = |values: Vec<f64>| Arc::new(Float64Array::from(values)) as ArrayRef;
    Ok(RecordBatch::try_new(
        COLLOCATIONS_SCHEMA.clone(),
        vec![
            Arc::new(words),
            column(rows.iter().map(|&i| counts.values[1][i]).collect()),
            column(vec![f_x; rows.len()]),
            column(rows.iter().map(|&i| counts.values[0][i]).collect()),
            column(vec![n; rows.len()]),
            float(mi),
            float(mi3),
            float(t_score),
            float(log_dice),
            float(log_likelihood),
        ],
    )?)
}

/// Counts one document's words (`words`, ids) into `part`: every word's frequency, the term's
/// occurrences, and each word within `window` words of an occurrence (the term's own words left
/// out; a word near two occurrences counts for each).
fn count_collocations(words: &[u32], term: &[Vec<u32>], window: usize, part: &mut CollocationPart) {
    let grow = |v: &mut Vec<u64>, id: u32| {
        if v.len() <= id as usize {
            v.resize(id as usize + 1, 0);
        }
    };
    for &word in words {
        grow(&mut part.frequency, word);
        part.frequency[word as usize] += 1;
    }
    part.words += words.len() as u64;
    if term.is_empty() || words.len() < term.len() {
        return;
    }
    for start in 0..=words.len() - term.len() {
        if !words[start..start + term.len()].iter().zip(term).all(|(word, spelled)| spelled.contains(word)) {
            continue;
        }
        part.term += 1;
        let end = start + term.len();
        let left = start.saturating_sub(window)..start;
        let right = end..(end + window).min(words.len());
        for at in left.chain(right) {
            let word = words[at];
            grow(&mut part.near, word);
            part.near[word as usize] += 1;
        }
    }
}

async fn keyness_table(
    target: Arc<SearchTarget>,
    wanted: Filters,
    reference: Option<Filters>,
    min_freq: u64,
) -> Result<RecordBatch> {
    let wanted = Arc::new(Selection::of(&target, &wanted).await?);
    let reference = match &reference {
        Some(filters) => Some(Arc::new(Selection::of(&target, filters).await?)),
        None => None,
    };
    let parts = per_chunk(&target, |target, entry| {
        let (wanted, reference) = (wanted.clone(), reference.clone());
        Box::pin(async move {
            let mut vocabulary = Vocabulary::default();
            let mut counters = [Vec::new(), Vec::new()];
            let classify = |doc: &str, speaker: Option<&str>| {
                if wanted.takes(doc, speaker) {
                    1
                } else if reference.as_ref().is_none_or(|r| r.takes(doc, speaker)) {
                    2
                } else {
                    0
                }
            };
            each_document(&target, &entry, &mut vocabulary, classify, |document, _| {
                for (&word, &class) in document.words.iter().zip(&document.classes) {
                    if class == 0 {
                        continue;
                    }
                    let counter: &mut Vec<u64> = &mut counters[class as usize - 1];
                    if counter.len() <= word as usize {
                        counter.resize(word as usize + 1, 0);
                    }
                    counter[word as usize] += 1;
                }
            })
            .await?;
            Ok((vocabulary, counters))
        })
    })
    .await?;
    let mut counts = Counts::with_counters(2);
    for (vocabulary, counters) in &parts {
        counts.add(vocabulary, counters);
    }
    let (c, d) = (counts.values[0].iter().sum::<u64>() as f64, counts.values[1].iter().sum::<u64>() as f64);
    if c == 0.0 || d == 0.0 {
        let which = if c == 0.0 { "target" } else { "reference" };
        return Err(DataFusionError::Plan(format!("keyness: the {which} corpus has no words: check its filter")));
    }
    let rows: Vec<usize> =
        (0..counts.words.len()).filter(|&i| counts.values[0][i] + counts.values[1][i] >= min_freq.max(1)).collect();
    let (mut ll, mut ratio) = (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()));
    for &i in &rows {
        let k = keyness(counts.values[0][i] as f64, counts.values[1][i] as f64, c, d);
        ll.push(k.log_likelihood);
        ratio.push(k.log_ratio);
    }
    let column = |values: Vec<u64>| Arc::new(UInt64Array::from(values)) as ArrayRef;
    let float = |values: Vec<f64>| Arc::new(Float64Array::from(values)) as ArrayRef;
    let per_million = |counter: usize, total: f64| -> ArrayRef {
        float(rows.iter().map(|&i| counts.values[counter][i] as f64 * 1e6 / total).collect())
    };
    Ok(RecordBatch::try_new(
        KEYNESS_SCHEMA.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|&i| &*counts.words[i]))),
            column(rows.iter().map(|&i| counts.values[0][i]).collect()),
            column(rows.iter().map(|&i| counts.values[1][i]).collect()),
            per_million(0, c),
            per_million(1, d),
            float(ll),
            float(ratio),
        ],
    )?)
}

async fn frequencies(target: Arc<SearchTarget>, filters: Filters) -> Result<RecordBatch> {
    let selection = Arc::new(Selection::of(&target, &filters).await?);
    // First pass: each word's frequency and the number of documents it is in; the corpus's size.
    let parts = per_chunk(&target, |target, entry| {
        let selection = selection.clone();
        Box::pin(async move {
            let mut vocabulary = Vocabulary::default();
            let (mut counters, mut words) = ([Vec::new(), Vec::new()], 0u64);
            let mut seen: Vec<u32> = Vec::new();
            each_document(
                &target,
                &entry,
                &mut vocabulary,
                |d, s| u8::from(selection.takes(d, s)),
                |document, _| {
                    seen.clear();
                    seen.extend(
                        document.words.iter().zip(&document.classes).filter(|(_, c)| **c != 0).map(|(w, _)| *w),
                    );
                    words += seen.len() as u64;
                    for &word in &seen {
                        add_one(&mut counters[0], word);
                    }
                    seen.sort_unstable();
                    seen.dedup();
                    for &word in &seen {
                        add_one(&mut counters[1], word);
                    }
                },
            )
            .await?;
            Ok((vocabulary, counters, words))
        })
    })
    .await?;
    let mut counts = Counts::with_counters(2);
    let mut n = 0u64;
    for (vocabulary, counters, words) in &parts {
        counts.add(vocabulary, counters);
        n += words;
    }
    drop(parts);
    // Second pass: each word's deviation of proportions, a document at a time: Σ |v_i − s_i| and
    // Σ s_i over the documents it is in (the others add their share, 1 − Σ s_i).
    let totals: Arc<FastMap<Box<str>, (usize, u64)>> =
        Arc::new(counts.index.iter().map(|(word, &i)| (word.clone(), (i, counts.values[0][i]))).collect());
    let distinct = counts.words.len();
    let parts = per_chunk(&target, |target, entry| {
        let (selection, totals) = (selection.clone(), totals.clone());
        Box::pin(async move {
            let mut vocabulary = Vocabulary::default();
            let (mut deviation, mut shares) = (vec![0.0f64; distinct], vec![0.0f64; distinct]);
            let mut global: Vec<Option<(usize, u64)>> = Vec::new();
            let mut in_document: FastMap<u32, u64> = FastMap::default();
            each_document(
                &target,
                &entry,
                &mut vocabulary,
                |d, s| u8::from(selection.takes(d, s)),
                |document, words| {
                    // The corpus-wide index and total of each id this task has numbered.
                    while global.len() < words.words.len() {
                        global.push(totals.get(&words.words[global.len()]).copied());
                    }
                    in_document.clear();
                    for (&word, &class) in document.words.iter().zip(&document.classes) {
                        if class != 0 {
                            *in_document.entry(word).or_default() += 1;
                        }
                    }
                    let share = in_document.values().sum::<u64>() as f64 / n as f64;
                    for (&word, &count) in &in_document {
                        let Some(Some((at, total))) = global.get(word as usize).copied() else { continue };
                        deviation[at] += (count as f64 / total as f64 - share).abs();
                        shares[at] += share;
                    }
                },
            )
            .await?;
            Ok((deviation, shares))
        })
    })
    .await?;
    let (mut deviation, mut shares) = (vec![0.0f64; distinct], vec![0.0f64; distinct]);
    for (part_deviation, part_shares) in parts {
        deviation.iter_mut().zip(part_deviation).for_each(|(total, d)| *total += d);
        shares.iter_mut().zip(part_shares).for_each(|(total, s)| *total += s);
    }
    let dp: Vec<f64> = deviation.iter().zip(&shares).map(|(d, s)| deviation_of_proportions_from(*d, *s)).collect();
    let column = |values: &[u64]| Arc::new(UInt64Array::from(values.to_vec())) as ArrayRef;
    let per_million: Vec<f64> = counts.values[0].iter().map(|&f| f as f64 * 1e6 / n as f64).collect();
    Ok(RecordBatch::try_new(
        FREQUENCIES_SCHEMA.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(counts.words.iter().map(|w| &**w))),
            column(&counts.values[0]),
            Arc::new(Float64Array::from(per_million)),
            column(&counts.values[1]),
            Arc::new(Float64Array::from(dp)),
        ],
    )?)
}

fn add_one(counter: &mut Vec<u64>, word: u32) {
    if counter.len() <= word as usize {
        counter.resize(word as usize + 1, 0);
    }
    counter[word as usize] += 1;
}
