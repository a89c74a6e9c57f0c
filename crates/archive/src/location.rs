//! Resolving an archive location (a local path or a URL) to an object store and a root path.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use url::Url;

use crate::ArchiveError;

/// Where an archive lives.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    /// The store holding it.
    pub store: Arc<dyn ObjectStore>,
    /// The archive root within the store.
    pub root: Path,
    /// The root as a URL ending in `/`, for query engines.
    pub url: Url,
    /// How to show the location to a person.
    pub display: String,
}

/// Resolves `location`: a file-system path (relative or absolute) or a `file://` URL.
pub(crate) fn resolve(location: &str) -> Result<Location, ArchiveError> {
    let error = |reason: String| ArchiveError::Location { location: location.to_string(), reason };
    let local = match Url::parse(location) {
        Ok(url) if url.scheme() == "file" => {
            url.to_file_path().map_err(|_| error("not a usable file:// URL".into()))?
        }
        Ok(url) if url.scheme().len() > 1 => {
            return Err(error(format!(
                "{}:// archives are not supported by this build (local paths and file:// are)",
                url.scheme()
            )));
        }
        // Not a URL, or a Windows drive letter: a path.
        _ => std::path::PathBuf::from(location),
    };
    let absolute = std::path::absolute(&local).map_err(|e| error(e.to_string()))?;
    let url = Url::from_directory_path(&absolute).map_err(|_| error("not an absolute path".into()))?;
    let root = Path::from_url_path(url.path()).map_err(|e| error(e.to_string()))?;
    Ok(Location { store: Arc::new(LocalFileSystem::new()), root, url, display: location.to_string() })
}
