//! Resolving an archive location (a local path or a URL) to an object store and a root path.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use url::Url;

use crate::{ArchiveError, LocationProblem};

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

/// Resolves `location`: a file-system path (relative or absolute), a `file://` URL, or an object
/// store URL (`s3://bucket/prefix`, `gs://…`, `az://…`, `abfs://…`) whose credentials and endpoint
/// come from the environment as object_store's builders name them (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
pub(crate) fn resolve(location: &str, options: &[(String, String)]) -> Result<Location, ArchiveError> {
    let error = |source: LocationProblem| ArchiveError::Location { location: location.to_string(), source };
    let local = match Url::parse(location) {
        Ok(url) if url.scheme() == "file" => {
            url.to_file_path().map_err(|_| error(LocationProblem::Unusable("not a usable file:// URL")))?
        }
        Ok(url) if url.scheme().len() > 1 => return remote(url, location, options),
        // Not a URL, or a Windows drive letter: a path.
        _ => std::path::PathBuf::from(location),
    };
    let absolute = lexically_normal(&std::path::absolute(&local).map_err(|e| error(e.into()))?);
    let url =
        Url::from_directory_path(&absolute).map_err(|_| error(LocationProblem::Unusable("not an absolute path")))?;
    let root = Path::from_url_path(url.path()).map_err(|e| error(e.into()))?;
    Ok(Location { store: Arc::new(LocalFileSystem::new()), root, url, display: location.to_string() })
}

/// An archive on an object store, configured by `options` (builder keys such as `aws_region`) and
/// then by the environment, which wins (see [`verbatim_sources::stores::open`]).
fn remote(mut url: Url, location: &str, options: &[(String, String)]) -> Result<Location, ArchiveError> {
    let error = |source: LocationProblem| ArchiveError::Location { location: location.to_string(), source };
    let (store, prefix) = verbatim_sources::stores::open(&url, options).map_err(|e| error(e.into()))?;
    let root = Path::from_url_path(&prefix).map_err(|e| error(e.into()))?;
    url.set_path(&if prefix.is_empty() { "/".to_string() } else { format!("/{prefix}/") });
    Ok(Location { store, root, url, display: location.to_string() })
}

impl Location {
    /// How to show an object of this store to a person: a local file as its absolute path.
    pub fn show(&self, object: &Path) -> String {
        if self.url.scheme() != "file" {
            return format!("{}://{}/{object}", self.url.scheme(), self.url.host_str().unwrap_or_default());
        }
        match LocalFileSystem::new().path_to_filesystem(object) {
            Ok(path) => path.display().to_string(),
            Err(_) => format!("/{object}"),
        }
    }
}

/// `path` with `.` components removed and `..` applied to the component before it, as a shell's
/// `cd` does: object stores accept neither.
fn lexically_normal(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut normal = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_with_dot_dot_resolve_to_a_clean_root() {
        let location = resolve("../some/./archive/../other", &[]).expect("resolves");
        let cwd = std::env::current_dir().expect("cwd");
        let expected = cwd.parent().expect("cwd has a parent").join("some/other");
        assert_eq!(location.url.to_file_path().expect("local"), expected);
        assert!(!location.root.as_ref().contains(".."), "{}", location.root);
        assert_eq!(location.show(&location.root), expected.display().to_string());
    }
}
