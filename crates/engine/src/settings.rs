//! Settings: every setting verbatim has, resolved once from four layers, highest first:
//!
//! 1. what the front end was given (a command-line flag, a Python keyword argument);
//! 2. `VERBATIM_<KEY>` environment variables (`VERBATIM_MEMORY_LIMIT`);
//! 3. the config file (`memory_limit = "4GiB"`): the one named, else `./config/verbatim.toml`,
//!    else `~/.config/verbatim/config.toml`; relative paths in it are relative to the folder that
//!    holds its `config/` folder (or the file itself); unknown keys are errors;
//! 4. the default, written once here (or in the crate that owns the value) and shown by every
//!    front end from the same place ([`Setting::default_shown`]).
//!
//! A setting is named by its key everywhere the library speaks ([`Setting::key`]: the config key,
//! and the keyword a Python user writes); front ends show their own spelling of it (the CLI's
//! `--memory-limit`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use verbatim_archive::{DEFAULT_CHUNK_BYTES, DEFAULT_RETENTION, DEFAULT_ZSTD_LEVEL, IndexCache, LockOptions};
pub use verbatim_ingest::{DEFAULT_MAX_DELETE_PERCENT, MaxDelete};

/// Overlapping sorted runs at which an ingest compacts, unless told otherwise.
pub const DEFAULT_COMPACT_THRESHOLD: usize = 4;

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Setting {
    /// The archive: a folder, a `file://` URL or an object store URL.
    Archive,
    /// The memory budget of the process.
    MemoryLimit,
    /// Threads for ingest and queries.
    Threads,
    /// How query results are written.
    Format,
    /// Where queries spill.
    SpillDir,
    /// A folder of saved queries beside the built-in ones.
    Queries,
    /// Target size of a chunk file.
    ChunkSize,
    /// Target encoded size of a row group.
    RowGroupSize,
    /// zstd level of the chunks.
    ZstdLevel,
    /// How long superseded snapshots are kept.
    Retention,
    /// How long a writer waits for a busy archive.
    Wait,
    /// When an ingest compacts.
    Compact,
    /// Overlapping runs at which `compact = "auto"` compacts.
    CompactThreshold,
    /// Whether chunks get phrase indexes.
    PhraseIndex,
    /// The cluster queries run on.
    Cluster,
    /// Where copies of remote archives' phrase indexes are kept.
    IndexCache,
    /// The most bytes that folder holds.
    IndexCacheSize,
    /// How long one query may run.
    QueryTimeout,
    /// The most documents one pruning run may remove.
    MaxDelete,
}

impl Setting {
    /// Every setting.
    pub const ALL: [Setting; 19] = [
        Setting::Archive,
        Setting::MemoryLimit,
        Setting::Threads,
        Setting::Format,
        Setting::SpillDir,
        Setting::Queries,
        Setting::ChunkSize,
        Setting::RowGroupSize,
        Setting::ZstdLevel,
        Setting::Retention,
        Setting::Wait,
        Setting::Compact,
        Setting::CompactThreshold,
        Setting::PhraseIndex,
        Setting::Cluster,
        Setting::IndexCache,
        Setting::IndexCacheSize,
        Setting::QueryTimeout,
        Setting::MaxDelete,
    ];

    /// The setting's name: its key in the config file, and the keyword Python users write.
    pub fn key(self) -> &'static str {
        match self {
            Setting::Archive => "archive",
            Setting::MemoryLimit => "memory_limit",
            Setting::Threads => "threads",
            Setting::Format => "format",
            Setting::SpillDir => "spill_dir",
            Setting::Queries => "queries",
            Setting::ChunkSize => "chunk_size",
            Setting::RowGroupSize => "row_group_size",
            Setting::ZstdLevel => "zstd_level",
            Setting::Retention => "retention",
            Setting::Wait => "wait",
            Setting::Compact => "compact",
            Setting::CompactThreshold => "compact_threshold",
            Setting::PhraseIndex => "phrase_index",
            Setting::Cluster => "cluster",
            Setting::IndexCache => "index_cache",
            Setting::IndexCacheSize => "index_cache_size",
            Setting::QueryTimeout => "query_timeout",
            Setting::MaxDelete => "max_delete",
        }
    }

    /// The environment variable that sets it: `VERBATIM_` and the key in capitals.
    pub fn env(self) -> String {
        format!("VERBATIM_{}", self.key().to_ascii_uppercase())
    }

    /// The setting named `key`, if one is.
    pub fn from_key(key: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|setting| setting.key() == key)
    }

    /// What it sets, in a sentence fragment for help texts.
    pub fn about(self) -> &'static str {
        match self {
            Setting::Archive => {
                "the archive: a folder, file:// URL or object store URL (s3://bucket/prefix, gs://…, az://…; credentials and endpoint from AWS_*, GOOGLE_*, AZURE_* variables)"
            }
            Setting::MemoryLimit => "memory budget of the process, e.g. 512MiB or 4GB",
            Setting::Threads => "threads for parsing and queries",
            Setting::Format => "output format: table, csv, json, ndjson or parquet",
            Setting::SpillDir => "folder for the files queries spill to",
            Setting::Queries => "folder of saved queries (*.sql) that add to or override the built-in ones",
            Setting::ChunkSize => "target size of each Parquet chunk file",
            Setting::RowGroupSize => "target encoded size of a row group",
            Setting::ZstdLevel => "zstd compression level, 1-22",
            Setting::Retention => "how long superseded snapshots are kept for their readers, e.g. 7d, 36h, 0s",
            Setting::Wait => "how long to wait when another writer holds the archive's lock, e.g. 30s, 10m, 0s",
            Setting::Compact => {
                "when ingest compacts: auto (at compact_threshold overlapping runs), always (whenever it would change anything) or never"
            }
            Setting::CompactThreshold => "overlapping sorted runs at which compact = auto compacts",
            Setting::PhraseIndex => "whether ingest and compaction write a phrase index beside each segments chunk",
            Setting::Cluster => "the cluster queries run on, e.g. df://node1:50050",
            Setting::IndexCache => "folder for local copies of remote archives' phrase indexes",
            Setting::IndexCacheSize => "the most bytes that folder holds (least recently used copies go first)",
            Setting::QueryTimeout => "the longest a query may run, e.g. 30s, 10m (0: no limit)",
            Setting::MaxDelete => {
                "the most archived documents one pruning run may remove: a count (100) or a share of the archive (10%)"
            }
        }
    }

    /// The default, as people read it.
    pub fn default_shown(self) -> String {
        match self {
            Setting::Archive => "none".to_string(),
            Setting::MemoryLimit => "half of the machine's memory".to_string(),
            Setting::Threads => "the number of cores".to_string(),
            Setting::Format => verbatim_output::Format::Table.name().to_string(),
            Setting::SpillDir => "the OS temporary folder".to_string(),
            Setting::Queries => "the built-in queries only".to_string(),
            Setting::ChunkSize => exact_size(DEFAULT_CHUNK_BYTES),
            Setting::RowGroupSize => "from the memory budget, at most 128MiB".to_string(),
            Setting::ZstdLevel => DEFAULT_ZSTD_LEVEL.to_string(),
            Setting::Retention => exact_duration(DEFAULT_RETENTION),
            Setting::Wait => exact_duration(LockOptions::DEFAULT_WAIT),
            Setting::Compact => "auto".to_string(),
            Setting::CompactThreshold => DEFAULT_COMPACT_THRESHOLD.to_string(),
            Setting::PhraseIndex => "true".to_string(),
            Setting::Cluster => "none: queries run in this process".to_string(),
            Setting::IndexCache => {
                "$XDG_CACHE_HOME/verbatim/phrase-index, else ~/.cache/verbatim/phrase-index".to_string()
            }
            Setting::IndexCacheSize => exact_size(IndexCache::DEFAULT_LIMIT_BYTES),
            Setting::QueryTimeout => "0 (no limit)".to_string(),
            Setting::MaxDelete => format!("{DEFAULT_MAX_DELETE_PERCENT}%"),
        }
    }

    /// Whether a relative path given for it in a config file is relative to the file's project.
    fn is_path(self) -> bool {
        matches!(self, Setting::Archive | Setting::SpillDir | Setting::Queries | Setting::IndexCache)
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Where a setting's value came from, lowest layer first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A config file.
    ConfigFile(PathBuf),
    /// An environment variable.
    Environment(String),
    /// The front end was given it (a flag, a keyword argument).
    Given,
}

impl Origin {
    /// The layer's rank: a value replaces one of a lower or equal rank.
    fn rank(&self) -> u8 {
        match self {
            Origin::ConfigFile(_) => 1,
            Origin::Environment(_) => 2,
            Origin::Given => 3,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Given => f.write_str("given"),
            Origin::Environment(variable) => write!(f, "from {variable}"),
            Origin::ConfigFile(path) => write!(f, "in {}", path.display()),
        }
    }
}

/// A setting could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value is not what its setting takes.
    #[error("{setting} = {value:?} ({origin}): {reason}")]
    Invalid {
        /// The setting.
        setting: Setting,
        /// Where the value came from.
        origin: Origin,
        /// The value as written.
        value: String,
        /// Why it does not do.
        reason: ValueError,
    },
    /// The config file could not be read.
    #[error("config {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config {} is not valid: {source}", path.display())]
    NotToml {
        /// The file.
        path: PathBuf,
        /// The parser's account.
        source: Box<toml::de::Error>,
    },
    /// The config file has a key that is no setting.
    #[error("config {}: unknown key {key:?} (settings: {})", path.display(), Setting::ALL.map(Setting::key).join(", "))]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A setting that a command needs has no value.
    #[error("no {setting} given")]
    Missing {
        /// The setting.
        setting: Setting,
    },
}

impl SettingsError {
    /// The setting the error is about, if it is about one.
    pub fn setting(&self) -> Option<Setting> {
        match self {
            SettingsError::Invalid { setting, .. } | SettingsError::Missing { setting } => Some(*setting),
            _ => None,
        }
    }
}

/// When an ingest compacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compaction {
    /// When the archive has this many overlapping sorted runs or more.
    Auto {
        /// The number of runs.
        threshold: usize,
    },
    /// Whenever compaction would change anything.
    Always,
    /// Never.
    Never,
}

impl Compaction {
    /// The overlapping runs at which compaction is due; `None`: never.
    pub fn at_runs(self) -> Option<usize> {
        match self {
            Compaction::Auto { threshold } => Some(threshold),
            Compaction::Always => Some(1),
            Compaction::Never => None,
        }
    }
}

/// Every setting, resolved. Build it with [`SettingsBuilder`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The archive location, when one was given.
    pub archive: Option<String>,
    /// The memory budget of the process, in bytes.
    pub memory_limit: u64,
    /// Threads for ingest and queries.
    pub threads: usize,
    /// How query results are written.
    pub format: verbatim_output::Format,
    /// Where queries spill; the OS temporary folder when `None`.
    pub spill_dir: Option<PathBuf>,
    /// A folder of saved queries beside the built-in ones.
    pub queries: Option<PathBuf>,
    /// Target size of a chunk file, in bytes.
    pub chunk_size: u64,
    /// Target encoded size of a row group; from the memory budget when `None`.
    pub row_group_size: Option<u64>,
    /// zstd level of the chunks.
    pub zstd_level: i32,
    /// How long superseded snapshots are kept.
    pub retention: Duration,
    /// How long a writer waits for a busy archive.
    pub wait: Duration,
    /// When an ingest compacts.
    pub compact: Compaction,
    /// Whether chunks get phrase indexes.
    pub phrase_index: bool,
    /// The cluster queries run on (`df://HOST:PORT`); in this process when `None`.
    pub cluster: Option<String>,
    /// Where copies of remote archives' phrase indexes are kept, and how much.
    pub index_cache: IndexCache,
    /// How long one query may run; no limit when `None`.
    pub query_timeout: Option<Duration>,
    /// The most documents one pruning run may remove.
    pub max_delete: MaxDelete,
    /// Object store settings (`aws_region`, …, as object_store's builders name them); the
    /// environment's `AWS_*`, `GOOGLE_*` and `AZURE_*` variables override them.
    pub storage: Vec<(String, String)>,
}

impl Settings {
    /// The memory budget these settings give.
    pub fn budget(&self) -> verbatim_model::MemoryBudget {
        verbatim_model::MemoryBudget::new(self.memory_limit)
    }

    /// The archive location, or [`SettingsError::Missing`].
    pub fn archive(&self) -> Result<&str, SettingsError> {
        self.archive.as_deref().ok_or(SettingsError::Missing { setting: Setting::Archive })
    }
}

/// Gathers the layers of settings and resolves them once.
#[derive(Debug, Default, Clone)]
pub struct SettingsBuilder {
    /// The value of each setting from the highest layer so far that has one.
    values: HashMap<Setting, (String, Origin)>,
    /// Object store settings, lowest layer first.
    storage: BTreeMap<String, String>,
}

impl SettingsBuilder {
    /// No layers yet: every setting at its default.
    pub fn new() -> SettingsBuilder {
        SettingsBuilder::default()
    }

    /// Adds the config file: `explicit` if given, else the first of `./config/verbatim.toml` and
    /// `~/.config/verbatim/config.toml` that exists (none is fine). Layers may be added in any
    /// order: each value keeps to its rank.
    pub fn config_file(mut self, explicit: Option<&Path>) -> Result<SettingsBuilder, SettingsError> {
        let path = match explicit {
            Some(path) => Some(path.to_path_buf()),
            None => default_config_locations().into_iter().find(|path| path.is_file()),
        };
        let Some(path) = path else { return Ok(self) };
        let text = std::fs::read_to_string(&path)
            .map_err(|source| SettingsError::Unreadable { path: path.clone(), source })?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|source| SettingsError::NotToml { path: path.clone(), source: Box::new(source) })?;
        let base = project_folder(&path);
        for (key, value) in table {
            if key == "storage" {
                let options = value.as_table().cloned().unwrap_or_default();
                for (name, value) in options {
                    // Given storage options rank above the file's.
                    self.storage.entry(name).or_insert_with(|| plain(&value));
                }
                continue;
            }
            let Some(setting) = Setting::from_key(&key) else {
                return Err(SettingsError::UnknownKey { path: path.clone(), key });
            };
            let mut text = plain(&value);
            if setting.is_path() && !text.contains("://") && Path::new(&text).is_relative() {
                text = base.join(&text).to_string_lossy().into_owned();
            }
            self.set(setting, text, Origin::ConfigFile(path.clone()));
        }
        Ok(self)
    }

    /// Adds the `VERBATIM_<KEY>` environment variables (empty ones count as unset), above the
    /// config file.
    pub fn environment(mut self) -> SettingsBuilder {
        for setting in Setting::ALL {
            let variable = setting.env();
            if let Some(value) = std::env::var_os(&variable).filter(|value| !value.is_empty()) {
                self.set(setting, value.to_string_lossy().into_owned(), Origin::Environment(variable));
            }
        }
        self
    }

    /// Sets `setting` as given to the front end: above every other layer.
    pub fn given(mut self, setting: Setting, value: impl Into<String>) -> SettingsBuilder {
        self.set(setting, value.into(), Origin::Given);
        self
    }

    /// Takes `value` for `setting` unless a higher layer has given one.
    fn set(&mut self, setting: Setting, value: String, origin: Origin) {
        if self.values.get(&setting).is_none_or(|(_, held)| held.rank() <= origin.rank()) {
            self.values.insert(setting, (value, origin));
        }
    }

    /// [`SettingsBuilder::given`] when `value` is `Some`.
    pub fn given_if(self, setting: Setting, value: Option<impl Into<String>>) -> SettingsBuilder {
        match value {
            Some(value) => self.given(setting, value),
            None => self,
        }
    }

    /// Sets an object store setting as given (above the config file's `[storage]`).
    pub fn storage_option(mut self, key: impl Into<String>, value: impl Into<String>) -> SettingsBuilder {
        self.storage.insert(key.into(), value.into());
        self
    }

    /// Resolves every setting: the highest layer's value, parsed and checked, else the default.
    pub fn build(self) -> Result<Settings, SettingsError> {
        let values = Values(&self.values);
        let compact_threshold =
            values.parse(Setting::CompactThreshold, parse_count)?.unwrap_or(DEFAULT_COMPACT_THRESHOLD);
        let compact = match values.text(Setting::Compact) {
            None | Some(("auto", _)) => Compaction::Auto { threshold: compact_threshold },
            Some(("always", _)) => Compaction::Always,
            Some(("never", _)) => Compaction::Never,
            Some((other, origin)) => return Err(invalid(Setting::Compact, origin, other, ValueError::NotCompaction)),
        };
        Ok(Settings {
            archive: values.text(Setting::Archive).map(|(text, _)| text.to_string()),
            memory_limit: values.parse(Setting::MemoryLimit, parse_size)?.unwrap_or_else(default_memory_limit),
            threads: values.parse(Setting::Threads, parse_threads)?.unwrap_or_else(default_threads),
            format: values.parse(Setting::Format, parse_format)?.unwrap_or(verbatim_output::Format::Table),
            spill_dir: values.text(Setting::SpillDir).map(|(text, _)| PathBuf::from(text)),
            queries: values.text(Setting::Queries).map(|(text, _)| PathBuf::from(text)),
            chunk_size: values.parse(Setting::ChunkSize, parse_size)?.unwrap_or(DEFAULT_CHUNK_BYTES),
            row_group_size: values.parse(Setting::RowGroupSize, parse_size)?,
            zstd_level: values.parse(Setting::ZstdLevel, parse_zstd_level)?.unwrap_or(DEFAULT_ZSTD_LEVEL),
            retention: values.parse(Setting::Retention, parse_duration)?.unwrap_or(DEFAULT_RETENTION),
            wait: values.parse(Setting::Wait, parse_duration)?.unwrap_or(LockOptions::DEFAULT_WAIT),
            compact,
            phrase_index: values.parse(Setting::PhraseIndex, parse_bool)?.unwrap_or(true),
            cluster: values.text(Setting::Cluster).map(|(text, _)| text.to_string()),
            index_cache: IndexCache {
                dir: values.text(Setting::IndexCache).map_or_else(default_index_cache, |(text, _)| PathBuf::from(text)),
                limit_bytes: values
                    .parse(Setting::IndexCacheSize, parse_size)?
                    .unwrap_or(IndexCache::DEFAULT_LIMIT_BYTES),
            },
            query_timeout: values.parse(Setting::QueryTimeout, parse_duration)?.filter(|limit| !limit.is_zero()),
            max_delete: values.parse(Setting::MaxDelete, parse_max_delete)?.unwrap_or(MaxDelete::DEFAULT),
            storage: self.storage.into_iter().collect(),
        })
    }
}

/// The values of a builder, read one setting at a time.
struct Values<'a>(&'a HashMap<Setting, (String, Origin)>);

impl Values<'_> {
    /// The text of `setting` and where it came from, if it has a value.
    fn text(&self, setting: Setting) -> Option<(&str, &Origin)> {
        self.0.get(&setting).map(|(text, origin)| (text.trim(), origin))
    }

    /// `setting`'s value read by `parse`, if it has one; an error naming the setting, the value
    /// and where it came from when it does not read.
    fn parse<T>(
        &self,
        setting: Setting,
        parse: impl Fn(&str) -> Result<T, ValueError>,
    ) -> Result<Option<T>, SettingsError> {
        match self.text(setting) {
            Some((text, origin)) => parse(text).map(Some).map_err(|reason| invalid(setting, origin, text, reason)),
            None => Ok(None),
        }
    }
}

fn invalid(setting: Setting, origin: &Origin, value: &str, reason: ValueError) -> SettingsError {
    SettingsError::Invalid { setting, origin: origin.clone(), value: value.to_string(), reason }
}

/// A TOML value as the text a flag would give.
fn plain(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The config files read when none is named, in order.
fn default_config_locations() -> Vec<PathBuf> {
    let mut locations = vec![PathBuf::from("config/verbatim.toml")];
    if let Some(home) = std::env::var_os("HOME") {
        locations.push(PathBuf::from(home).join(".config/verbatim/config.toml"));
    }
    locations
}

/// The folder relative paths in the config file `config` are resolved against: the one holding
/// its `config/` folder, else its own.
fn project_folder(config: &Path) -> PathBuf {
    let parent = config.parent().unwrap_or(Path::new(""));
    let base =
        if parent.file_name().is_some_and(|n| n == "config") { parent.parent().unwrap_or(parent) } else { parent };
    if base.as_os_str().is_empty() { PathBuf::from(".") } else { base.to_path_buf() }
}

/// Why a setting's value does not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// Not a size.
    #[error("not a size like 512MiB or 2GB: {0}")]
    NotSize(String),
    /// A size of zero, where something must fit.
    #[error("the size must be more than zero")]
    ZeroSize,
    /// Not a duration.
    #[error("not a duration like 30s, 10m, 36h or 7d: {0}")]
    NotDuration(#[from] humantime::DurationError),
    /// Not a whole number.
    #[error("not a whole number: {0}")]
    NotWhole(#[from] std::num::ParseIntError),
    /// A count of zero, where at least one is needed.
    #[error("must be at least 1")]
    ZeroCount,
    /// More threads than any machine runs usefully (each is started up front).
    #[error("must be at most {MAX_THREADS}")]
    TooManyThreads,
    /// A zstd level outside 1-22.
    #[error("must be a whole number from 1 to 22")]
    NotZstdLevel,
    /// Not a yes or no.
    #[error("use true or false")]
    NotBool,
    /// Not an output format's name.
    #[error("unknown format; use one of {}", format_names())]
    UnknownFormat,
    /// Not a compaction policy.
    #[error("use auto, always or never")]
    NotCompaction,
    /// A share outside 0-100 %.
    #[error("a share must be 0% to 100%")]
    NotShare,
    /// Neither a count nor a share.
    #[error("use a count (100) or a share (10%)")]
    NotCountOrShare,
}

fn format_names() -> String {
    verbatim_output::Format::NAMES.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

/// Reads a size such as `512MiB`, `2GB`, `1.5 GiB` or a plain number of bytes (more than zero).
pub fn parse_size(text: &str) -> Result<u64, ValueError> {
    // bytesize reports its reason as text.
    let size: bytesize::ByteSize = text.parse().map_err(ValueError::NotSize)?;
    if size.as_u64() == 0 {
        return Err(ValueError::ZeroSize);
    }
    Ok(size.as_u64())
}

/// Reads a duration such as `30s`, `10m`, `36h`, `7d` or `0s`.
pub fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    Ok(humantime::parse_duration(text)?)
}

fn parse_count(text: &str) -> Result<usize, ValueError> {
    match text.parse::<usize>()? {
        0 => Err(ValueError::ZeroCount),
        count => Ok(count),
    }
}

/// The most threads a setting may ask for: far above any machine's cores, far below what would
/// take minutes to start.
pub const MAX_THREADS: usize = 1024;

fn parse_threads(text: &str) -> Result<usize, ValueError> {
    match parse_count(text)? {
        count if count > MAX_THREADS => Err(ValueError::TooManyThreads),
        count => Ok(count),
    }
}

fn parse_zstd_level(text: &str) -> Result<i32, ValueError> {
    match text.parse::<i32>() {
        Ok(level) if (1..=22).contains(&level) => Ok(level),
        _ => Err(ValueError::NotZstdLevel),
    }
}

fn parse_bool(text: &str) -> Result<bool, ValueError> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(ValueError::NotBool),
    }
}

fn parse_format(text: &str) -> Result<verbatim_output::Format, ValueError> {
    verbatim_output::Format::from_name(text).ok_or(ValueError::UnknownFormat)
}

/// Reads a count (`100`) or a share in percent (`10%`, `0.5%`).
fn parse_max_delete(text: &str) -> Result<MaxDelete, ValueError> {
    match text.strip_suffix('%') {
        Some(percent) => match percent.trim().parse::<f64>() {
            Ok(percent) if (0.0..=100.0).contains(&percent) => Ok(MaxDelete::Percent(percent)),
            _ => Err(ValueError::NotShare),
        },
        None => text.parse::<u64>().map(MaxDelete::Count).map_err(|_| ValueError::NotCountOrShare),
    }
}

/// Half of the machine's memory (or of the cgroup limit, when lower); 4 GiB if unknown.
pub fn default_memory_limit() -> u64 {
    let total = physical_memory().unwrap_or(8 << 30);
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|s| s.trim().parse::<u64>().ok());
    cgroup.map_or(total, |c| c.min(total)) / 2
}

fn physical_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `$XDG_CACHE_HOME/verbatim/phrase-index`, else under `~/.cache`, else the temporary folder.
fn default_index_cache() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("verbatim").join("phrase-index")
}

/// A byte count as a size setting takes it, exactly: `128MiB`, `1GiB`, `1000`.
pub fn exact_size(bytes: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes > 0 && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A byte count for people, in binary units (`1.5 GiB`).
pub fn show_size(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

/// A whole number of seconds as a duration setting takes it, in its largest exact unit: `7d`,
/// `5m`, `90s`.
pub fn exact_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, length) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if seconds > 0 && seconds.is_multiple_of(length) {
            return format!("{}{unit}", seconds / length);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_as_people_write_them() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("lots").is_err() && parse_size("0").is_err());
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_max_delete("10%"), Ok(MaxDelete::Percent(10.0)));
        assert_eq!(parse_max_delete("25"), Ok(MaxDelete::Count(25)));
        assert!(parse_max_delete("150%").is_err() && parse_max_delete("many").is_err());
        assert_eq!(MaxDelete::Percent(10.0).of(2), 1, "a share always allows one document");
        assert_eq!(MaxDelete::Percent(10.0).of(100), 10);
    }

    #[test]
    fn layers_resolve_given_over_environment_over_file_over_default() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config/verbatim.toml");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(
            &config,
            "archive = \"a\"\nthreads = 3\nzstd_level = 5\nphrase_index = false\n[storage]\naws_region = \"x\"\n",
        )
        .unwrap();
        let builder = SettingsBuilder::new().config_file(Some(&config)).unwrap();
        let settings = builder.clone().given(Setting::ZstdLevel, "7").build().unwrap();
        assert_eq!(
            settings.archive.as_deref(),
            Some(dir.path().join("a").to_str().unwrap()),
            "relative to the project"
        );
        assert_eq!((settings.threads, settings.zstd_level, settings.phrase_index), (3, 7, false));
        assert_eq!(settings.storage, vec![("aws_region".to_string(), "x".to_string())]);
        assert_eq!(settings.chunk_size, DEFAULT_CHUNK_BYTES);
        let error = builder.given(Setting::MemoryLimit, "lots").build().unwrap_err();
        assert_eq!(error.setting(), Some(Setting::MemoryLimit));
        assert!(error.to_string().starts_with("memory_limit = \"lots\" (given): not a size"), "{error}");
    }

    #[test]
    fn config_files_name_their_mistakes() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("verbatim.toml");
        std::fs::write(&config, "threds = 3\n").unwrap();
        let error = SettingsBuilder::new().config_file(Some(&config)).unwrap_err().to_string();
        assert!(error.contains("unknown key \"threds\"") && error.contains("threads"), "{error}");
        std::fs::write(&config, "zstd_level = 30\n").unwrap();
        let error = SettingsBuilder::new().config_file(Some(&config)).unwrap().build().unwrap_err().to_string();
        assert!(error.contains("zstd_level = \"30\" (in ") && error.contains("1 to 22"), "{error}");
    }

    #[test]
    fn relative_paths_resolve_against_the_project_folder() {
        assert_eq!(project_folder(Path::new("/p/config/verbatim.toml")), PathBuf::from("/p"));
        assert_eq!(
            project_folder(Path::new("/home/u/.config/verbatim/config.toml")),
            PathBuf::from("/home/u/.config/verbatim")
        );
        assert_eq!(project_folder(Path::new("config/verbatim.toml")), PathBuf::from("."));
    }

    #[test]
    fn the_shipped_config_file_documents_every_setting_with_its_default() {
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/verbatim.toml")).unwrap();
        for setting in Setting::ALL {
            let line = shipped
                .lines()
                .find(|line| line.trim_start_matches(['#', ' ']).starts_with(&format!("{} =", setting.key())));
            let line = line.unwrap_or_else(|| panic!("config/verbatim.toml does not show {setting}"));
            assert!(line.contains(&format!("default: {}", setting.default_shown())), "{setting}: {line}");
        }
    }

    #[test]
    fn the_readme_lists_every_setting_with_its_variable() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
        for setting in Setting::ALL {
            let row = format!("| `{}` | `{}` |", setting.key(), setting.env());
            assert!(readme.contains(&row), "README.md's settings table lacks {row}");
        }
    }
}
