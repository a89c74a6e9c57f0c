//! The object stores a scheduler and its executors read archives through: `file://` paths (an
//! archive on a shared file system) and object store URLs opened with verbatim's settings (the
//! config file's `[storage]` table, then `AWS_*`, `GOOGLE_*`, `AZURE_*` variables), one client per
//! bucket, made when first asked for, as in local mode.
//!
//! Every store handed out reports a file that is not there as an error naming it. DataFusion takes
//! "not found" for a table file as a sign that the path is a folder, lists it, finds nothing and
//! reads an empty table: on a scheduler that cannot see a file (a folder not mounted on its node, a
//! chunk deleted by `vacuum` after the client checked) the query would succeed with rows missing.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use url::Url;
use verbatim_archive::checked_store::{GuardedStore, ReadCheck};

/// Opens the store of any URL a plan names, with the process's store settings.
#[derive(Debug)]
pub struct StoreRegistry {
    options: Vec<(String, String)>,
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl StoreRegistry {
    /// A registry opening stores with `options` (object_store's setting names).
    pub fn new(options: Vec<(String, String)>) -> StoreRegistry {
        StoreRegistry { options, stores: RwLock::new(HashMap::new()) }
    }

    /// The key of the store holding `url`: scheme and bucket (or host).
    fn key(url: &Url) -> String {
        format!("{}://{}", url.scheme(), url.authority())
    }
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.stores.write().unwrap_or_else(|e| e.into_inner()).insert(StoreRegistry::key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let removed = self.stores.write().unwrap_or_else(|e| e.into_inner()).remove(&StoreRegistry::key(url));
        removed.ok_or_else(|| DataFusionError::Execution(format!("no object store registered for {url}")))
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = StoreRegistry::key(url);
        if let Some(store) = self.stores.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(store.clone());
        }
        let inner: Arc<dyn ObjectStore> = if url.scheme() == "file" {
            Arc::new(LocalFileSystem::new())
        } else {
            verbatim_sources::stores::open(url, &self.options)
                .map_err(|reason| DataFusionError::Execution(format!("cannot open the store of {url}: {reason}")))?
                .0
        };
        let store: Arc<dyn ObjectStore> = Arc::new(GuardedStore::new(inner, MissingIsAnError { root: key.clone() }));
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        Ok(stores.entry(key).or_insert(store).clone())
    }
}

/// Reads of a file that is not there fail naming it, instead of answering "not found" (which
/// DataFusion would take for an empty folder).
#[derive(Debug)]
struct MissingIsAnError {
    /// `scheme://bucket`, for messages.
    root: String,
}

/// The error a missing file becomes.
#[derive(Debug, thiserror::Error)]
#[error("{0} is missing (a table file the plan names is not there; a folder needs a trailing /)")]
struct MissingFile(String);

impl ReadCheck for MissingIsAnError {
    fn name(&self) -> &'static str {
        "MissingIsAnError"
    }

    fn read_error(&self, location: &Path, error: object_store::Error) -> object_store::Error {
        match error {
            object_store::Error::NotFound { .. } => object_store::Error::Generic {
                store: "verbatim cluster",
                source: Box::new(MissingFile(format!("{}/{location}", self.root))),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    #[test]
    fn one_store_per_bucket() {
        let registry = StoreRegistry::new(vec![
            ("aws_region".into(), "us-east-1".into()),
            ("aws_access_key_id".into(), "test".into()),
            ("aws_secret_access_key".into(), "test".into()),
        ]);
        let a = registry.get_store(&Url::parse("s3://bucket/a/x.parquet").unwrap()).unwrap();
        let b = registry.get_store(&Url::parse("s3://bucket/b/y.parquet").unwrap()).unwrap();
        let other = registry.get_store(&Url::parse("s3://other/y.parquet").unwrap()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &other));
        assert!(registry.get_store(&Url::parse("file:///tmp/x").unwrap()).is_ok());
    }

    #[tokio::test]
    async fn a_missing_file_is_an_error_naming_it_not_an_empty_folder() {
        let dir = tempfile::tempdir().unwrap();
        let registry = StoreRegistry::new(Vec::new());
        let url = Url::from_file_path(dir.path().join("gone.parquet")).unwrap();
        let store = registry.get_store(&url).unwrap();
        let error = store.head(&Path::from_url_path(url.path()).unwrap()).await.unwrap_err();
        assert!(!matches!(error, object_store::Error::NotFound { .. }), "{error:?}");
        assert!(error.to_string().contains("gone.parquet is missing"), "{error}");
        std::fs::write(dir.path().join("here.parquet"), b"x").unwrap();
        let here = Path::from_url_path(Url::from_file_path(dir.path().join("here.parquet")).unwrap().path()).unwrap();
        assert_eq!(store.head(&here).await.unwrap().size, 1);
    }
}
