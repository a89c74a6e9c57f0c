//! Object stores named by URL (`s3://bucket/prefix`, `gs://…`, `az://…`, `abfs://…`), for sources
//! and archives alike. Settings come from the caller (the config file's `[storage]` table, as
//! object_store's builders name them: `aws_region`, `aws_endpoint`, …) and then from the
//! environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`, `OBJECT_STORE_*`), which wins.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path;
use url::Url;

/// Environment variables handed to object_store's builders.
const STORE_ENV_PREFIXES: [&str; 4] = ["AWS_", "GOOGLE_", "AZURE_", "OBJECT_STORE_"];

/// Whether `source` is an object store URL (a scheme other than `file`, longer than a drive letter).
pub fn is_store_url(source: &str) -> bool {
    Url::parse(source).is_ok_and(|url| url.scheme().len() > 1 && url.scheme() != "file")
}

/// The store `url` names and the path of the URL within it (no leading or trailing `/`).
pub fn open(url: &Url, options: &[(String, String)]) -> Result<(Arc<dyn ObjectStore>, String), object_store::Error> {
    let prefix = url.path().trim_matches('/').to_string();
    let mut bucket = url.clone();
    bucket.set_path("/");
    let from_env = std::env::vars().filter(|(key, _)| STORE_ENV_PREFIXES.iter().any(|p| key.starts_with(p)));
    let options = options.iter().cloned().chain(from_env);
    let (store, _) = object_store::parse_url_opts(&bucket, options)?;
    Ok((Arc::from(store), prefix))
}

/// How a person finds `object` of the store at `url`: `scheme://bucket/key`.
pub fn show(url: &Url, object: &Path) -> String {
    format!("{}://{}/{object}", url.scheme(), url.host_str().unwrap_or_default())
}
