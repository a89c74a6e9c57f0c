//! Sources on object stores: a URL names an object, a prefix (listed recursively, like a folder)
//! or a glob over keys (`s3://bucket/talks/*/en.json`; `*` stays within one key segment, `**`
//! crosses them). Document ids are keys relative to the prefix (for a glob, the part before its
//! first wildcard segment), as for folders.

use std::collections::HashSet;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use url::Url;

use crate::{Expansion, SourceError, SourceFile, doc_id_for, is_glob, stores};

/// Where a source file on an object store is.
#[derive(Clone)]
pub struct RemoteSource {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The object.
    pub object: Path,
}

impl std::fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSource").field("object", &self.object).finish_non_exhaustive()
    }
}

impl PartialEq for RemoteSource {
    fn eq(&self, other: &Self) -> bool {
        self.object == other.object
    }
}

impl Eq for RemoteSource {}

/// Why an object store source could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum StoreProblem {
    /// The source is not a valid URL.
    #[error("not a valid URL: {0}")]
    Url(#[from] url::ParseError),
    /// The key holds a malformed glob pattern.
    #[error("invalid glob pattern: {}", .0.msg)]
    Pattern(#[from] glob::PatternError),
    /// The store could not be opened or listed.
    #[error(transparent)]
    Store(#[from] object_store::Error),
}

/// Expands object store URLs into files, listing each prefix once. `options` configure the stores
/// (see [`stores::open`]); `wanted` filters listed keys as it filters walked files.
pub async fn expand_remote(
    sources: &[String],
    options: &[(String, String)],
    wanted: impl Fn(&FsPath) -> bool,
) -> Expansion {
    let mut expansion = Expansion::default();
    let mut seen = HashSet::new();
    for source in sources {
        if let Err(problem) = expand_one(source, options, &wanted, &mut expansion, &mut seen).await {
            expansion.problems.push(SourceError::Store { url: source.clone(), source: problem });
        }
    }
    expansion
}

async fn expand_one(
    source: &str,
    options: &[(String, String)],
    wanted: &impl Fn(&FsPath) -> bool,
    expansion: &mut Expansion,
    seen: &mut HashSet<String>,
) -> Result<(), StoreProblem> {
    let url = Url::parse(source)?;
    let (store, key) = stores::open(&url, options)?;
    expand_in(store, &url, &key, source, wanted, expansion, seen).await
}

/// Expands `key` (an object, a prefix or a glob) of `store`, found at `url` (the source as given).
async fn expand_in(
    store: Arc<dyn ObjectStore>,
    url: &Url,
    key: &str,
    source: &str,
    wanted: &impl Fn(&FsPath) -> bool,
    expansion: &mut Expansion,
    seen: &mut HashSet<String>,
) -> Result<(), StoreProblem> {
    let key = key.to_string();
    let before = expansion.files.len();
    let mut add = |meta: &ObjectMeta, base: &str| {
        let shown = stores::show(url, &meta.location);
        if seen.insert(shown.clone()) {
            let doc_id = doc_id_for(FsPath::new(meta.location.as_ref()), FsPath::new(base));
            let remote = RemoteSource { store: store.clone(), object: meta.location.clone() };
            expansion.files.push(SourceFile {
                path: PathBuf::from(shown),
                doc_id,
                size: meta.size,
                remote: Some(remote),
            });
        }
    };
    if is_glob(&key) {
        let pattern = glob::Pattern::new(&key)?;
        let base = glob_base(&key);
        let prefix = (!base.is_empty()).then(|| Path::from(base.as_str()));
        let listed: Vec<ObjectMeta> = store.list(prefix.as_ref()).try_collect().await?;
        for meta in sorted(listed) {
            if pattern.matches_with(meta.location.as_ref(), crate::LISTING) {
                add(&meta, &base);
            }
        }
        if expansion.files.len() == before {
            expansion.problems.push(SourceError::NoMatch { pattern: source.to_string() });
        }
        return Ok(());
    }
    let object = Path::from(key.as_str());
    if !key.is_empty() {
        match store.head(&object).await {
            Ok(meta) => {
                let parent = key.rsplit_once('/').map_or("", |(parent, _)| parent);
                add(&meta, parent);
                return Ok(());
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let prefix = (!key.is_empty()).then_some(object);
    let listed: Vec<ObjectMeta> = store.list(prefix.as_ref()).try_collect().await?;
    for meta in sorted(listed) {
        if wanted(FsPath::new(meta.location.as_ref())) {
            add(&meta, &key);
        }
    }
    if expansion.files.len() == before {
        expansion.problems.push(SourceError::NotFound { path: source.to_string() });
    }
    Ok(())
}

fn sorted(mut listed: Vec<ObjectMeta>) -> Vec<ObjectMeta> {
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    listed
}

/// The key segments of `pattern` before its first wildcard segment, joined with `/`.
fn glob_base(pattern: &str) -> String {
    pattern.split('/').take_while(|segment| !is_glob(segment)).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use object_store::PutPayload;
    use object_store::memory::InMemory;

    use super::*;

    #[test]
    fn glob_bases_stop_at_the_first_wildcard_segment() {
        assert_eq!(glob_base("talks/2024/*/en.json"), "talks/2024");
        assert_eq!(glob_base("*.json"), "");
        assert_eq!(glob_base("a/b[0-9]/c"), "a");
    }

    #[tokio::test]
    async fn objects_prefixes_and_globs_expand_with_ids_relative_to_their_base() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for key in ["talks/a/one.json", "talks/a/two.vtt", "talks/b/three.json", "talks/notes.txt", "other/x.json"] {
            store.put(&Path::from(key), PutPayload::from_static(b"[]")).await.expect("put");
        }
        let url = Url::parse("s3://bucket/").expect("url");
        let wanted = |p: &FsPath| p.extension().is_some_and(|e| e == "json" || e == "vtt");
        let expand = |key: &'static str| {
            let store = store.clone();
            let url = url.clone();
            async move {
                let (mut expansion, mut seen) = (Expansion::default(), HashSet::new());
                expand_in(store, &url, key, key, &wanted, &mut expansion, &mut seen).await.expect("lists");
                let ids: Vec<String> = expansion.files.iter().map(|f| f.doc_id.clone()).collect();
                (ids, expansion)
            }
        };
        let (ids, folder) = expand("talks").await;
        assert_eq!(ids, ["a/one", "a/two", "b/three"]);
        assert_eq!(folder.files[0].path, PathBuf::from("s3://bucket/talks/a/one.json"));
        assert_eq!(folder.files[0].size, 2);
        assert!(folder.files[0].remote.is_some());
        assert_eq!(expand("talks/*/*.json").await.0, ["a/one", "b/three"]);
        assert_eq!(expand("talks/**/*.vtt").await.0, ["a/two"]);
        assert_eq!(expand("talks/a/one.json").await.0, ["one"]);
        let (ids, missing) = expand("nothing/here").await;
        assert!(ids.is_empty() && matches!(missing.problems[..], [SourceError::NotFound { .. }]));
        let (_, unmatched) = expand("talks/*.srt").await;
        assert!(matches!(unmatched.problems[..], [SourceError::NoMatch { .. }]));
    }
}
