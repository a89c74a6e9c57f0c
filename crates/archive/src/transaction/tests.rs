//! The commit protocol tested as a library, on an in-memory object store: what readers see and
//! what the next writer finds, whatever a run did before it stopped.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::AsArray;
use futures::StreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;
use verbatim_model::{NormaliseStats, Segment, TranscriptMeta};

use crate::integrity::read_footer;
use crate::rows::{DocumentRow, SegmentRows, documents_batch};
use crate::transaction::{ArchiveWriter, LockOptions, Operation, runs};
use crate::{Archive, ArchiveError, Changes, ChunkSettings, DocRange, FileEntry, Table};

/// An archive on a fresh in-memory store, and the store.
fn in_memory() -> (Archive, Arc<dyn ObjectStore>) {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let url = Url::parse("memory:///archive/").expect("url");
    (Archive::over(store.clone(), url).expect("archive"), store)
}

/// The same archive, with writers that wait `wait` for the lock and hold it on a lease of `lease`.
fn with_lease(archive: &Archive, wait: Duration, lease: Duration) -> Archive {
    archive.clone().with_lock_options(LockOptions { wait, lease, on_wait: None })
}

/// Writes a chunk of `writer`'s run named `suffix` holding one caption for each of `ids` (sorted):
/// its `segments` and `documents` files.
async fn write_chunk(writer: &mut ArchiveWriter, suffix: &str, ids: &[&str]) -> Vec<(Table, FileEntry)> {
    let factory = writer.chunk_factory(ChunkSettings::default(), tokio::runtime::Handle::current());
    let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    let suffix = suffix.to_string();
    tokio::task::spawn_blocking(move || -> Result<Vec<(Table, FileEntry)>, ArchiveError> {
        let range = DocRange { first: ids[0].clone(), last: ids[ids.len() - 1].clone() };
        let mut segments = SegmentRows::default();
        let mut documents = Vec::new();
        for id in &ids {
            let text = format!("words of {id}");
            let segment = Segment {
                seq: 0,
                start_ms: 0,
                end_ms: 1000,
                duration_ms: Some(1000),
                text: &text,
                speaker: None,
                raw_words: &[],
            };
            segments.push(id, &segment);
            documents.push(DocumentRow {
                doc_id: id.clone(),
                video_id: None,
                source: format!("/sources/{id}.json"),
                format: "youtube-json".to_string(),
                language: None,
                n_segments: 1,
                n_words: 3,
                duration_ms: 1000,
                content_hash: format!("hash-{id}"),
                ingested_at_ms: 0,
                meta: TranscriptMeta::default(),
                encoding: "utf-8".to_string(),
                n_timed_words: 0,
                repairs: NormaliseStats::default(),
            });
        }
        let mut files = Vec::new();
        for (table, batch) in
            [(Table::Segments, segments.take_batch()?), (Table::Documents, documents_batch(&documents)?)]
        {
            let mut chunk = factory.create(table, &suffix)?;
            chunk.write(&batch)?;
            let mut entry = chunk.finish()?;
            entry.doc_range = Some(range.clone());
            files.push((table, entry));
        }
        Ok(files)
    })
    .await
    .expect("the chunk task ends")
    .expect("the chunk is written")
}

/// The document ids the current snapshot's `documents` files hold, read from the files.
async fn archived_ids(archive: &Archive) -> BTreeSet<String> {
    let snapshot = archive.snapshot().await.expect("snapshot");
    let store = archive.store();
    let mut ids = BTreeSet::new();
    for entry in snapshot.files(Table::Documents) {
        let (builder, _) = read_footer(&store, &archive.object(&entry.path), Table::Documents, entry.bytes)
            .await
            .expect("the footer reads");
        let mut batches = builder.build().expect("a reader");
        while let Some(batch) = batches.next().await {
            let batch = batch.expect("a batch");
            ids.extend(batch.column(0).as_string::<i32>().iter().flatten().map(str::to_string));
        }
    }
    ids
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|id| id.to_string()).collect()
}

#[tokio::test]
async fn a_writer_leaves_no_record_and_data_of_unknown_origin_stops_readers() {
    let (archive, store) = in_memory();
    archive.begin_writing(Operation::Ingest).await.expect("writer").finish().await.expect("finish");
    assert_eq!(archive.snapshot().await.expect("snapshot").manifest.version, 0);
    assert!(runs::recorded(&archive).await.expect("records").is_empty());
    // A table file appears with no manifest: data nothing explains.
    let object = archive.object("segments/part-0.parquet");
    store.put(&object, b"data".to_vec().into()).await.expect("put");
    let error = archive.snapshot().await.expect_err("lost manifests").to_string();
    assert!(error.contains("has lost manifests") && error.contains("segments/part-0.parquet"), "{error}");
    let error = archive.begin_writing(Operation::Ingest).await.expect_err("no writer on top").to_string();
    assert!(error.contains("has lost manifests"), "{error}");
    assert!(store.head(&object).await.is_ok(), "nothing was deleted");
    assert!(runs::recorded(&archive).await.expect("records").is_empty(), "the refused writer left no record");
}

#[tokio::test]
async fn two_writers_racing_for_a_version_leave_one_winner_and_the_loser_staged() {
    let (archive, _) = in_memory();
    let mut first = archive.begin_writing(Operation::Ingest).await.expect("first writer");
    let staged = write_chunk(&mut first, "000000-0000", &["a", "b"]).await;
    first.stage(&staged, false).await.expect("stage");
    // Another process publishes version 1 while the first holds the lock (a writer of an older
    // build that took no lock, or one that broke an expired one at the same instant).
    let rival = crate::Manifest::empty().next("rival", Operation::Ingest.name(), &Changes::default());
    archive.publish(&rival).await.expect("the rival publishes v1");
    let lost = first.commit(Changes { added: staged, ..Changes::default() }).await.expect_err("v1 is taken");
    assert!(matches!(lost, ArchiveError::Conflict { version: 1, .. }), "{lost}");
    first.abandon().await.expect("abandon");
    let snapshot = archive.snapshot().await.expect("snapshot");
    assert_eq!((snapshot.manifest.version, snapshot.manifest.run_id.as_str()), (1, "rival"));
    assert!(archived_ids(&archive).await.is_empty(), "nothing of the loser is visible");
    // The loser's work stays staged in its record, for the next writer to clean up.
    let records = runs::recorded(&archive).await.expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].staged.len(), 2, "{records:?}");
}

#[tokio::test]
async fn a_writer_whose_lease_ran_out_is_taken_over_and_commits_nothing() {
    let (archive, _) = in_memory();
    let stalled = with_lease(&archive, Duration::from_secs(5), Duration::from_millis(300));
    let mut slow = stalled.begin_writing(Operation::Ingest).await.expect("slow writer");
    let staged = write_chunk(&mut slow, "000000-0000", &["a"]).await;
    slow.stage(&staged, false).await.expect("stage");
    // Its lease is not renewed for longer than it lasts (a process stopped in a debugger, a VM
    // paused): another writer takes the lock over.
    let mut lock = slow;
    lock.stop_renewing_lease().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut next = with_lease(&archive, Duration::from_secs(5), Duration::from_secs(60))
        .begin_writing(Operation::Ingest)
        .await
        .expect("the expired lock is taken over");
    let fresh = write_chunk(&mut next, "000000-0000", &["b"]).await;
    next.stage(&fresh, false).await.expect("stage");
    let error = lock.commit(Changes { added: staged, ..Changes::default() }).await.expect_err("the lock is lost");
    assert!(matches!(error, ArchiveError::LockLost { .. }), "{error}");
    let committed = next.commit(Changes { added: fresh, ..Changes::default() }).await.expect("commit");
    assert_eq!(committed.version, Some(1));
    next.finish().await.expect("finish");
    lock.abandon().await.expect("the loser releases nothing of the winner's");
    assert_eq!(archived_ids(&archive).await, ids(&["b"]));
}

#[tokio::test]
async fn a_killed_runs_finished_chunks_are_adopted_by_the_next_ingest_and_the_rest_removed() {
    let (archive, store) = in_memory();
    let short = with_lease(&archive, Duration::from_secs(5), Duration::from_millis(300));
    let mut killed = short.begin_writing(Operation::Ingest).await.expect("writer");
    let finished = write_chunk(&mut killed, "000000-0000", &["a", "b"]).await;
    killed.stage(&finished, false).await.expect("stage");
    // A chunk written but never staged (the run died while finishing it), and a file that no
    // run explains.
    let unstaged = write_chunk(&mut killed, "000001-0000", &["c"]).await;
    let stranger = archive.object("segments/not-a-run.parquet");
    store.put(&stranger, b"unknown".to_vec().into()).await.expect("put");
    // Killed: its lease stops being renewed (dropped in-process, it releases the lock in the
    // background); its record stays.
    drop(killed);
    tokio::time::sleep(Duration::from_millis(400)).await;

    let error = short.begin_writing(Operation::Ingest).await.expect_err("data of unknown origin").to_string();
    assert!(error.contains("not-a-run.parquet"), "{error}");
    store.delete(&stranger).await.expect("the user removes it");

    let mut next = short.begin_writing(Operation::Ingest).await.expect("next writer");
    let adopted: Vec<String> = next.adopted().iter().map(|(_, entry)| entry.path.clone()).collect();
    let finished_paths: Vec<String> = finished.iter().map(|(_, entry)| entry.path.clone()).collect();
    assert_eq!(adopted, finished_paths, "the finished chunk is adopted");
    for (_, entry) in &unstaged {
        assert!(store.head(&archive.object(&entry.path)).await.is_err(), "{} is removed", entry.path);
    }
    let adopted = next.adopted().to_vec();
    next.commit(Changes { added: adopted, ..Changes::default() }).await.expect("commit");
    next.finish().await.expect("finish");
    assert_eq!(archived_ids(&archive).await, ids(&["a", "b"]));
    assert!(runs::recorded(&archive).await.expect("records").is_empty());
}

#[tokio::test]
async fn documents_removed_at_two_commits_of_a_run_follow_the_chain_of_rewrites() {
    let (archive, _) = in_memory();
    let mut first = archive.begin_writing(Operation::Ingest).await.expect("writer");
    let chunk = write_chunk(&mut first, "000000-0000", &["a", "b", "c"]).await;
    let documents_file = chunk.iter().find(|(t, _)| *t == Table::Documents).map(|(_, f)| f.path.clone());
    first.commit(Changes { added: chunk, ..Changes::default() }).await.expect("v1");
    first.finish().await.expect("finish");

    let mut writer = archive.begin_writing(Operation::Ingest).await.expect("writer");
    let documents_file = documents_file.expect("a documents file");
    writer.remove_document(documents_file.clone(), "a".to_string());
    let removed = writer.commit(Changes::default()).await.expect("v2");
    assert_eq!((removed.version, removed.documents_removed, removed.rows_removed), (Some(2), 1, 2));
    assert_eq!(archived_ids(&archive).await, ids(&["b", "c"]));
    // The second removal names the file as the run first knew it; it was rewritten since.
    writer.remove_document(documents_file, "c".to_string());
    let removed = writer.commit(Changes::default()).await.expect("v3");
    assert_eq!((removed.version, removed.documents_removed), (Some(3), 1));
    writer.finish().await.expect("finish");
    assert_eq!(archived_ids(&archive).await, ids(&["b"]));
    let log = archive.log().await.expect("log");
    assert_eq!(log.iter().map(|entry| entry.documents_removed).collect::<Vec<_>>(), vec![0, 1, 1]);
}

#[tokio::test]
async fn vacuum_keeps_what_retained_snapshots_list_and_deletes_the_rest() {
    let (archive, store) = in_memory();
    let mut writer = archive.begin_writing(Operation::Ingest).await.expect("writer");
    let old = write_chunk(&mut writer, "000000-0000", &["a"]).await;
    writer.commit(Changes { added: old.clone(), ..Changes::default() }).await.expect("v1");
    let new = write_chunk(&mut writer, "000001-0000", &["a"]).await;
    let removed: Vec<String> = old.iter().map(|(_, entry)| entry.path.clone()).collect();
    writer.commit(Changes { added: new, removed, removed_documents: 1 }).await.expect("v2 replaces v1's files");
    let kept = writer.vacuum(Duration::from_secs(3600)).await.expect("vacuum within the retention");
    assert_eq!((kept.files_deleted, kept.manifests_deleted, kept.oldest_retained), (0, 0, 1));
    for (_, entry) in &old {
        for (path, _) in entry.objects() {
            assert!(store.head(&archive.object(path)).await.is_ok(), "{path} is kept for readers of v1");
        }
    }
    let swept = writer.vacuum(Duration::ZERO).await.expect("vacuum past the retention");
    writer.finish().await.expect("finish");
    let old_objects: usize = old.iter().map(|(_, entry)| entry.objects().count()).sum();
    assert_eq!((swept.files_deleted, swept.manifests_deleted, swept.oldest_retained), (old_objects as u64, 1, 2));
    for (_, entry) in &old {
        for (path, _) in entry.objects() {
            assert!(store.head(&archive.object(path)).await.is_err(), "{path} is deleted");
        }
    }
    assert_eq!(archived_ids(&archive).await, ids(&["a"]));
    assert!(archive.snapshot_at(1).await.is_err(), "v1 is no longer kept");
}
