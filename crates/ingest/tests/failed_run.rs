//! A run that fails commits nothing: the archive shows the snapshot from before it, and the next
//! run finishes the work (adopting what the failed one wrote). The store here fails every write of
//! a phrase index after the first few, as S3 does when its connections are reset mid-run.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};
use url::Url;
use verbatim_archive::{Archive, Table};
use verbatim_ingest::{IngestOptions, NoProgress, ingest};
use verbatim_model::MemoryBudget;
use verbatim_sources::SourceFile;

/// An in-memory store whose writes of `.phrases` objects fail once `allowed` of them succeeded,
/// while `failing` is set.
#[derive(Debug)]
struct FaultyStore {
    inner: InMemory,
    failing: AtomicBool,
    allowed: usize,
    phrase_writes: AtomicUsize,
}

impl FaultyStore {
    fn check(&self, location: &Path) -> object_store::Result<()> {
        if !location.as_ref().ends_with(".phrases") || !self.failing.load(Ordering::SeqCst) {
            return Ok(());
        }
        if self.phrase_writes.fetch_add(1, Ordering::SeqCst) < self.allowed {
            return Ok(());
        }
        Err(object_store::Error::Generic {
            store: "faulty",
            source: format!("Error performing PUT {location}: connection reset by peer").into(),
        })
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore")
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// `count` small youtube-transcript-api files in `dir`, as sources.
fn sources(dir: &std::path::Path, count: usize) -> Vec<SourceFile> {
    (0..count)
        .map(|i| {
            let path = dir.join(format!("talk-{i:04}.json"));
            let captions: Vec<String> = (0..40)
                .map(|n| {
                    format!(
                        r#"{{"text": "caption {n} of talk {i} about chunked arrays", "start": {n}.0, "duration": 1.0}}"#
                    )
                })
                .collect();
            std::fs::write(&path, format!("[{}]", captions.join(","))).expect("write source");
            let size = std::fs::metadata(&path).expect("metadata").len();
            SourceFile { doc_id: format!("talk-{i:04}"), path, size, remote: None }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_phrase_index_writes_fail_commits_nothing() {
    let store = Arc::new(FaultyStore {
        inner: InMemory::new(),
        failing: AtomicBool::new(false),
        allowed: 3,
        phrase_writes: AtomicUsize::new(0),
    });
    let archive = Archive::over(store.clone(), Url::parse("memory:///captions/").expect("url")).expect("archive");
    let dir = tempfile::tempdir().expect("temp dir");
    let files = sources(dir.path(), 200);
    // Small chunks, so that the run writes many phrase indexes and fails part-way.
    let options = IngestOptions::new(2, MemoryBudget::new(256 << 20), 8 << 10);

    // A first run on a healthy store: version 1 holds the first 50 documents.
    ingest(&archive, files[..50].to_vec(), &options, Arc::new(NoProgress)).await.expect("healthy run");
    let before = archive.snapshot().await.expect("snapshot");
    assert_eq!(before.manifest.version, 1);
    assert_eq!(before.manifest.rows(Table::Documents), 50);

    store.failing.store(true, Ordering::SeqCst);
    let failed = ingest(&archive, files.clone(), &options, Arc::new(NoProgress)).await;
    let error = failed.expect_err("the run fails when its phrase indexes cannot be written");
    assert!(error.to_string().contains("connection reset"), "{error}");
    assert!(store.phrase_writes.load(Ordering::SeqCst) > 3, "the run wrote chunks before it failed");
    let after = archive.snapshot().await.expect("snapshot after the failed run");
    assert_eq!(after.manifest.version, 1, "a failed run committed a version");
    assert_eq!(after.manifest.rows(Table::Documents), 50, "a failed run changed the documents");

    // The store recovers: the next run commits everything, once.
    store.failing.store(false, Ordering::SeqCst);
    let report = ingest(&archive, files, &options, Arc::new(NoProgress)).await.expect("run after recovery");
    let last = archive.snapshot().await.expect("snapshot");
    assert_eq!(last.manifest.version, 2, "{report:?}");
    assert_eq!(last.manifest.rows(Table::Documents), 200);
    assert_eq!(last.manifest.rows(Table::Segments), 200 * 40);
}
