//! Layered settings: flags > `VERBATIM_*` environment variables (handled by clap) > the config
//! file > defaults. The config file is `--config FILE` (or `VERBATIM_CONFIG`), else
//! `./config/verbatim.toml`, else `~/.config/verbatim/config.toml`. Relative paths in a config
//! file are relative to the folder that holds its `config/` folder (or the file itself).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The settings a config file may hold; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Archive location.
    pub archive: Option<String>,
    /// Memory budget, e.g. "2GiB".
    pub memory_limit: Option<String>,
    /// Default output format.
    pub format: Option<String>,
    /// Spill folder.
    pub spill_dir: Option<PathBuf>,
    /// Extra saved-query folder.
    pub queries: Option<PathBuf>,
    /// Threads for ingest and queries.
    pub threads: Option<usize>,
    /// Chunk file size.
    pub chunk_size: Option<String>,
    /// Row group size.
    pub row_group_size: Option<String>,
    /// zstd level.
    pub zstd_level: Option<i32>,
    /// How long superseded snapshots are kept, e.g. "7d".
    pub retention: Option<String>,
    /// How long a writer waits for a busy archive, e.g. "5m".
    pub wait: Option<String>,
    /// When ingest compacts: "auto", "always" or "never".
    pub compact: Option<String>,
    /// Overlapping sorted runs at which `compact = "auto"` compacts.
    pub compact_threshold: Option<usize>,
    /// Whether ingest and compaction write phrase indexes (default true).
    pub phrase_index: Option<bool>,
    /// The cluster `sql` and `run` send work to, e.g. "df://node1:50050".
    pub cluster: Option<String>,
    /// Folder keeping local copies of remote archives' phrase indexes.
    pub index_cache: Option<PathBuf>,
    /// The most bytes that folder may hold, e.g. "1GiB".
    pub index_cache_size: Option<String>,
    /// Object store settings for remote archives (`aws_region = "eu-west-1"`, …); `AWS_*`,
    /// `GOOGLE_*` and `AZURE_*` environment variables override them.
    #[serde(default)]
    pub storage: std::collections::BTreeMap<String, String>,
}

/// The settings of the config file in effect (if any), with relative paths resolved.
#[derive(Debug, Default)]
pub struct Config {
    /// The settings.
    pub file: FileConfig,
}

impl Config {
    /// Loads the explicit file, or the first default location that exists.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let path = match explicit {
            Some(path) => Some(path.to_path_buf()),
            None => default_locations().into_iter().find(|p| p.is_file()),
        };
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading config {}", path.display()))?;
        let mut file: FileConfig =
            toml::from_str(&text).with_context(|| format!("config {} is not valid", path.display()))?;
        let base = base_dir(&path);
        if let Some(archive) = &file.archive
            && !archive.contains("://")
            && Path::new(archive).is_relative()
        {
            file.archive = Some(base.join(archive).to_string_lossy().into_owned());
        }
        for dir in [&mut file.spill_dir, &mut file.queries].into_iter().flatten() {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        Ok(Config { file })
    }

    /// The archive location from the flag/env value or the config, or an error saying how to give one.
    pub fn archive(&self, given: &Option<String>) -> Result<String> {
        match given.clone().or_else(|| self.file.archive.clone()) {
            Some(archive) => Ok(archive),
            None => bail!(
                "no archive given: pass --archive DIR, set VERBATIM_ARCHIVE, or set archive in config/verbatim.toml"
            ),
        }
    }

    /// The archive named by the flag/env value or the config, with the config's store settings.
    pub fn open_archive(&self, given: &Option<String>) -> Result<verbatim_archive::Archive> {
        Ok(verbatim_archive::Archive::at_with(&self.archive(given)?, &self.store_options())?)
    }

    /// The config file's object store settings (`[storage]`).
    pub fn store_options(&self) -> Vec<(String, String)> {
        self.file.storage.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The archive for a command that writes: as [`Config::open_archive`], waiting for a busy
    /// archive as long as the flag or config says (telling the user on stderr unless `quiet`).
    pub fn open_archive_to_write(
        &self,
        given: &Option<String>,
        wait: &crate::args::WaitArg,
        quiet: bool,
    ) -> Result<verbatim_archive::Archive> {
        let archive = self.open_archive(given)?;
        let mut options = verbatim_archive::LockOptions::default();
        if let Some(text) = wait.wait.as_ref().or(self.file.wait.as_ref()) {
            options.wait = parse_duration(text).context("--wait")?;
        }
        if !quiet {
            let (shown, wait) = (archive.display().to_string(), humantime::format_duration(options.wait).to_string());
            options.on_wait = Some(std::sync::Arc::new(move |holder: &str| {
                eprintln!("verbatim: {shown} is locked by {holder}; waiting up to {wait}");
            }));
        }
        Ok(archive.with_lock_options(options))
    }

    /// The retention of superseded snapshots, from the flag or config (default 7 days).
    pub fn retention(&self, given: &Option<String>) -> Result<std::time::Duration> {
        match given.as_ref().or(self.file.retention.as_ref()) {
            Some(text) => parse_duration(text).context("--retention"),
            None => Ok(verbatim_archive::DEFAULT_RETENTION),
        }
    }

    /// The chunk size from the flag or config (128 MiB by default).
    pub fn chunk_size(&self, given: &Option<String>) -> Result<u64> {
        match given.as_ref().or(self.file.chunk_size.as_ref()) {
            Some(size) => parse_size(size).context("--chunk-size"),
            None => Ok(128 << 20),
        }
    }

    /// The memory budget in bytes.
    pub fn memory_limit(&self, given: &Option<String>) -> Result<u64> {
        match given.as_ref().or(self.file.memory_limit.as_ref()) {
            Some(text) => parse_size(text).context("--memory-limit"),
            None => Ok(default_memory_limit()),
        }
    }

    /// Where searches keep copies of remote archives' phrase indexes, and how much: the config's
    /// `index_cache` (default `$XDG_CACHE_HOME/verbatim/phrase-index`, else under `~/.cache`) and
    /// `index_cache_size` (default 1GiB).
    pub fn index_cache(&self) -> Result<verbatim_archive::IndexCache> {
        let dir = self.file.index_cache.clone().unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
                .unwrap_or_else(std::env::temp_dir);
            cache.join("verbatim").join("phrase-index")
        });
        let limit_bytes = match &self.file.index_cache_size {
            Some(size) => parse_size(size).context("index_cache_size")?,
            None => 1 << 30,
        };
        Ok(verbatim_archive::IndexCache { dir, limit_bytes })
    }

    /// The settings of a query session within `memory_limit`: spill folder and parallelism from
    /// the flags given, else the config file, reading the snapshot `as_of` (the newest if `None`).
    pub fn session_options(
        &self,
        memory_limit: u64,
        spill_dir: &Option<PathBuf>,
        threads: Option<usize>,
        as_of: Option<u64>,
    ) -> Result<verbatim_query::SessionOptions> {
        Ok(verbatim_query::SessionOptions {
            memory_limit,
            spill_dir: spill_dir.clone().or_else(|| self.file.spill_dir.clone()),
            target_partitions: self.threads(threads),
            batch_size: 8192,
            as_of,
            index_cache: Some(self.index_cache()?),
        })
    }

    /// Threads to use.
    pub fn threads(&self, given: Option<usize>) -> usize {
        given
            .or(self.file.threads)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1)
    }
}

fn default_locations() -> Vec<PathBuf> {
    let mut locations = vec![PathBuf::from("config/verbatim.toml")];
    if let Some(home) = std::env::var_os("HOME") {
        locations.push(PathBuf::from(home).join(".config/verbatim/config.toml"));
    }
    locations
}

/// The folder relative paths in `config` are resolved against.
fn base_dir(config: &Path) -> PathBuf {
    let parent = config.parent().unwrap_or(Path::new(""));
    let base =
        if parent.file_name().is_some_and(|n| n == "config") { parent.parent().unwrap_or(parent) } else { parent };
    if base.as_os_str().is_empty() { PathBuf::from(".") } else { base.to_path_buf() }
}

/// Parses a size such as `512MiB`, `2GB`, `1.5 GiB` or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<u64> {
    let size: bytesize::ByteSize =
        text.trim().parse().map_err(|e| anyhow::anyhow!("{text:?} is not a size like 512MiB or 2GB: {e}"))?;
    if size.as_u64() == 0 {
        bail!("{text:?}: the size must be more than zero");
    }
    Ok(size.as_u64())
}

/// Parses a duration such as `30s`, `10m`, `36h`, `7d` or `0s`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration> {
    humantime::parse_duration(text.trim())
        .map_err(|e| anyhow::anyhow!("{text:?} is not a duration like 30s, 10m, 36h or 7d: {e}"))
}

/// Shows a byte count for people (binary units).
pub fn show_size(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_binary_and_decimal_units() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("7d").unwrap(), std::time::Duration::from_secs(7 * 86400));
        assert_eq!(parse_duration("0s").unwrap(), std::time::Duration::ZERO);
        assert_eq!(parse_duration(" 90m ").unwrap(), std::time::Duration::from_secs(5400));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn relative_paths_resolve_against_the_project_folder() {
        assert_eq!(base_dir(Path::new("/p/config/verbatim.toml")), PathBuf::from("/p"));
        assert_eq!(
            base_dir(Path::new("/home/u/.config/verbatim/config.toml")),
            PathBuf::from("/home/u/.config/verbatim")
        );
        assert_eq!(base_dir(Path::new("config/verbatim.toml")), PathBuf::from("."));
    }
}
