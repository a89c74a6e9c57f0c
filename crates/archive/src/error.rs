//! Errors of archive operations, each naming the object or path concerned.

/// An archive operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The location could not be understood.
    #[error("archive location {location:?}: {reason}")]
    Location {
        /// The location as given.
        location: String,
        /// Why it is not usable.
        reason: String,
    },
    /// There is no archive at the location.
    #[error("no verbatim archive at {location} (create one with `verbatim ingest SOURCE... --archive {location}`)")]
    NotAnArchive {
        /// The archive location.
        location: String,
    },
    /// Another run held the write lock for as long as this one would wait: the archive is busy.
    #[error(
        "archive {location} is busy: locked by {holder} (waited {waited}; --wait sets how long). The lock expires when its lease ends; if that run is gone for sure, delete {lock_path}"
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
    #[error("archive {location} has no snapshot v{version} (kept: {kept}; `verbatim log` lists them)")]
    NoSuchSnapshot {
        /// The archive location.
        location: String,
        /// The version asked for.
        version: u64,
        /// The versions kept.
        kept: String,
    },
    /// Files of the current snapshot are missing or damaged.
    #[error(
        "archive {location} has lost data (run `verbatim verify --archive {location}` for a full check):{}",
        damaged_lines(files)
    )]
    Damaged {
        /// The archive location.
        location: String,
        /// The damaged files.
        files: Vec<crate::DamagedFile>,
    },
    /// Manifests were lost: table files but no manifest, or a run that published a newer
    /// snapshot than the newest manifest. Nothing is read or changed.
    #[error(
        "archive {location} has lost manifests: {reason}. Nothing was changed; `verbatim verify --archive {location}` lists what is affected"
    )]
    ManifestsLost {
        /// The archive location.
        location: String,
        /// What shows the loss, and what to do.
        reason: String,
    },
    /// A manifest or marker could not be decoded.
    #[error("{path}: corrupt archive metadata: {reason}")]
    Corrupt {
        /// The object concerned.
        path: String,
        /// What is wrong.
        reason: String,
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
    /// Building an Arrow batch failed.
    #[error("building {table} rows: {source}")]
    Arrow {
        /// The table concerned.
        table: &'static str,
        /// The Arrow error (boxed: it is large).
        source: Box<arrow::error::ArrowError>,
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
