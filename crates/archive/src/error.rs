//! Errors of archive operations, each naming the object or path concerned.

/// An archive operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The location could not be understood.
    #[error("archive location {location:?}: {source}")]
    Location {
        /// The location as given.
        location: String,
        /// Why it is not usable.
        source: LocationProblem,
    },
    /// There is no archive at the location.
    #[error("no verbatim archive at {location}")]
    NotAnArchive {
        /// The archive location.
        location: String,
    },
    /// Another run held the write lock for as long as this one would wait: the archive is busy.
    #[error(
        "archive {location} is busy: locked by {holder} (waited {waited}). The lock expires when its lease ends; if that run is gone for sure, delete {lock_path}"
    )]
    Locked {
        /// The archive location.
        location: String,
        /// Who holds the lock: run id, process id, host, since when and until when.
        holder: String,
        /// The lock object to delete by hand if the run is gone.
        lock_path: String,
        /// How long this run waited.
        waited: String,
    },
    /// This run lost the write lock (its lease ran out, or another writer took it over), so it
    /// stopped before committing; nothing it wrote is visible.
    #[error(
        "archive {location}: this run lost the write lock {lock_path} (its lease was not renewed in time); nothing was committed, re-run to continue"
    )]
    LockLost {
        /// The archive location.
        location: String,
        /// The lock object.
        lock_path: String,
    },
    /// Someone else published the manifest version this run meant to publish.
    #[error("manifest version {version} of {location} was published by another writer; re-run to continue")]
    Conflict {
        /// The archive location.
        location: String,
        /// The contested version.
        version: u64,
    },
    /// The snapshot asked for is not kept (never existed, or vacuumed after its retention).
    #[error("archive {location} has no snapshot v{version} (kept: {kept})")]
    NoSuchSnapshot {
        /// The archive location.
        location: String,
        /// The version asked for.
        version: u64,
        /// The versions kept.
        kept: String,
    },
    /// Files of the current snapshot are missing or damaged.
    #[error("archive {location} has lost data:{}", damaged_lines(files))]
    Damaged {
        /// The archive location.
        location: String,
        /// The damaged files.
        files: Vec<crate::DamagedFile>,
    },
    /// Manifests were lost: table files but no manifest, or a run that published a newer
    /// snapshot than the newest manifest. Nothing is read or changed.
    #[error("archive {location} has lost manifests: {loss}. Nothing was changed")]
    ManifestsLost {
        /// The archive location.
        location: String,
        /// What shows the loss.
        loss: ManifestLoss,
    },
    /// A manifest or marker could not be decoded.
    #[error("{path}: corrupt archive metadata: {reason}")]
    Corrupt {
        /// The object concerned.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A manifest or run record is not the JSON this build writes.
    #[error("{path}: corrupt archive metadata: {source}")]
    Metadata {
        /// The object concerned.
        path: String,
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// A file the snapshot lists is missing or damaged.
    #[error("{path}: {source}")]
    FileDamaged {
        /// The file, as shown.
        path: String,
        /// What is wrong with it.
        source: crate::FileDamage,
    },
    /// A phrase index, or the chunk scanned in its place, could not be read.
    #[error("{path}: {source}")]
    Index {
        /// The file, as shown.
        path: String,
        /// Why (boxed: it is large).
        source: Box<crate::phrase_index::IndexError>,
    },
    /// The object store failed.
    #[error("{path}: {source}")]
    Store {
        /// The object concerned.
        path: String,
        /// The store's error (boxed: it is large).
        source: Box<object_store::Error>,
    },
    /// Writing or reading Parquet failed.
    #[error("{path}: {source}")]
    Parquet {
        /// The object concerned.
        path: String,
        /// The Parquet error (boxed: it is large).
        source: Box<parquet::errors::ParquetError>,
    },
    /// A file of the local file system could not be read or written.
    #[error("{path}: {action}: {source}")]
    Io {
        /// The file or folder concerned.
        path: String,
        /// What was being done.
        action: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// A task the archive started on another thread failed (it panicked or was cancelled).
    #[error("{what} failed: {source}")]
    Task {
        /// What the task was doing.
        what: &'static str,
        /// Why it ended.
        source: tokio::task::JoinError,
    },
    /// Building an Arrow batch failed.
    #[error("building {table} rows: {source}")]
    Arrow {
        /// The table concerned.
        table: &'static str,
        /// The Arrow error (boxed: it is large).
        source: Box<arrow::error::ArrowError>,
    },
}

/// Why an archive location is not usable.
#[derive(Debug, thiserror::Error)]
pub enum LocationProblem {
    /// The location is not of a usable form.
    #[error("{0}")]
    Unusable(&'static str),
    /// The path does not make an object store path.
    #[error(transparent)]
    Path(#[from] object_store::path::Error),
    /// The working folder could not be found to make the path absolute.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The object store named by the URL could not be set up.
    #[error(transparent)]
    Store(#[from] object_store::Error),
}

/// What shows that manifests were lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestLoss {
    /// Table files that no run record explains, but no manifest: recovery rebuilds one.
    #[error("it has {files} table files (e.g. {example}) but no manifest")]
    NoManifest {
        /// How many files.
        files: usize,
        /// One of them, as shown.
        example: String,
    },
    /// A run recorded a version newer than the newest manifest.
    #[error(
        "run {run} published snapshot v{version} but {}; restore _verbatim/manifests from a copy, or delete {record} to accept the older snapshot",
        newest.map_or("there is none".to_string(), |v| format!("the newest is v{v}"))
    )]
    RunAhead {
        /// The run.
        run: String,
        /// The version it recorded.
        version: u64,
        /// The newest manifest's version.
        newest: Option<u64>,
        /// Its run record, as shown.
        record: String,
    },
}

impl ArchiveError {
    pub(crate) fn store(path: impl ToString) -> impl FnOnce(object_store::Error) -> ArchiveError {
        move |source| ArchiveError::Store { path: path.to_string(), source: Box::new(source) }
    }

    pub(crate) fn parquet(path: impl ToString) -> impl FnOnce(parquet::errors::ParquetError) -> ArchiveError {
        move |source| ArchiveError::Parquet { path: path.to_string(), source: Box::new(source) }
    }
}

fn damaged_lines(files: &[crate::DamagedFile]) -> String {
    files.iter().map(|file| format!("\n  {file}")).collect()
}
