//! Why a phrase index, or the chunk scanned in its place, could not be read.

use std::borrow::Cow;
use std::path::PathBuf;

/// A phrase index (or the chunk scanned in its place) could not be read: the store or the local
/// copy failed, or the bytes are not what an index of this version holds.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The store could not give the bytes.
    #[error(transparent)]
    Store(#[from] object_store::Error),
    /// The local copy of a remote index could not be read.
    #[error("reading the local copy: {0}")]
    LocalCopy(#[source] std::io::Error),
    /// The local index cache could not be written.
    #[error("index cache {}: {source}", dir.display())]
    Cache {
        /// The cache folder.
        dir: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A compressed part of the file does not decompress.
    #[error("{part} does not decompress: {source}")]
    Decompress {
        /// Which part: the directory, a row group or a word list.
        part: &'static str,
        /// The decompressor's error.
        source: std::io::Error,
    },
    /// The chunk scanned in place of an index does not read.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The chunk's rows do not hold what a `segments` chunk holds.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// The bytes are not what an index of this version holds (truncated, damaged or forged).
    #[error("{0}")]
    Malformed(Cow<'static, str>),
}

impl IndexError {
    /// The bytes are malformed, as `what` describes.
    pub(crate) fn malformed(what: impl Into<Cow<'static, str>>) -> IndexError {
        IndexError::Malformed(what.into())
    }
}

impl From<&'static str> for IndexError {
    fn from(what: &'static str) -> IndexError {
        IndexError::Malformed(Cow::Borrowed(what))
    }
}
