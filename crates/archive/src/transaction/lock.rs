//! The write lock: one object created with `PutMode::Create`, so only one run writes at a time.
//!
//! The lock is a lease: its holder rewrites it every third of the lease with a new expiry, so a
//! lock whose holder died on any host expires (and one whose holder on this host is gone is taken
//! over at once). A writer that finds the lock held waits up to [`LockOptions::wait`], then gives
//! up with [`ArchiveError::Locked`] (what front ends report as "archive busy"). A holder that could not
//! renew in time, or finds the lock taken over, stops before its next commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::{Archive, ArchiveError};

/// The write lock, under the archive root.
pub(crate) const LOCK: &str = "_verbatim/lock";

/// Told who holds the lock when a writer starts waiting for it.
pub type OnWait = Arc<dyn Fn(&str) + Send + Sync>;

/// How a writer takes and keeps the write lock.
#[derive(Clone)]
pub struct LockOptions {
    /// How long to wait for a busy archive before giving up.
    pub wait: Duration,
    /// How long the lock stays valid without renewal (renewed every third of it).
    pub lease: Duration,
    /// Called once, with who holds the lock, when the writer starts waiting.
    pub on_wait: Option<OnWait>,
}

impl LockOptions {
    /// How long a writer waits for a busy archive unless told otherwise.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions { wait: LockOptions::DEFAULT_WAIT, lease: Duration::from_secs(60), on_wait: None }
    }
}

impl std::fmt::Debug for LockOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockOptions").field("wait", &self.wait).field("lease", &self.lease).finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct LockInfo {
    run_id: String,
    pid: u32,
    host: String,
    since: String,
    /// When the lease ends unless renewed (absent in locks of older builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

impl LockInfo {
    fn new(run_id: &str, lease: Duration, since: &str) -> LockInfo {
        LockInfo {
            run_id: run_id.to_string(),
            pid: std::process::id(),
            host: host_name(),
            since: since.to_string(),
            expires_at: Some(rfc3339(chrono::Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default())),
        }
    }

    fn body(&self) -> object_store::PutPayload {
        serde_json::to_vec_pretty(self).expect("lock info serialises").into()
    }

    fn describe(&self) -> String {
        let expiry = self.expires_at.as_deref().map_or(String::new(), |at| format!(", lease until {at}"));
        format!("run {} (pid {} on {}, since {}{expiry})", self.run_id, self.pid, self.host, self.since)
    }
}

fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The write lock as one run holds it: taken, kept alive by its lease, and released.
#[derive(Debug)]
pub(crate) struct HeldLock {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// The lock object as a person finds it.
    shown: String,
    /// The archive, as shown.
    location: String,
    run_id: String,
    /// Renews the lease until the lock is released (taken then) or dropped.
    lease: Option<Lease>,
}

impl HeldLock {
    /// Takes `archive`'s lock for `run_id` as its lock options say (see [`acquire`]) and starts
    /// renewing its lease.
    pub async fn acquire(archive: &Archive, run_id: &str) -> Result<HeldLock, ArchiveError> {
        let (store, path) = (archive.store(), archive.object(LOCK));
        let shown = archive.show(LOCK);
        let options = archive.lock_options();
        released_in_background(&shown).await;
        acquire(store.as_ref(), &path, run_id, archive.display(), &shown, options).await?;
        let lease = Lease::keep(store.clone(), path.clone(), run_id.to_string(), options.lease);
        Ok(HeldLock {
            store,
            path,
            shown,
            location: archive.display().to_string(),
            run_id: run_id.to_string(),
            lease: Some(lease),
        })
    }

    /// Fails with [`ArchiveError::LockLost`] unless this run still holds the lock with a lease
    /// fresh enough for a commit to rely on.
    pub async fn ensure_held(&self) -> Result<(), ArchiveError> {
        let held = self.lease.as_ref().is_some_and(|lease| !lease.lost())
            && holds(self.store.as_ref(), &self.path, &self.run_id).await.map_err(ArchiveError::store(&self.shown))?;
        if held {
            return Ok(());
        }
        Err(ArchiveError::LockLost { location: self.location.clone(), lock_path: self.shown.clone() })
    }

    /// Stops renewing the lease, after a renewal in flight.
    #[cfg(test)]
    pub async fn stop_renewing(&mut self) {
        if let Some(lease) = &mut self.lease {
            lease.stop().await;
        }
    }

    /// Stops renewing the lease (after a renewal in flight) and deletes the lock, if it is still
    /// this run's.
    pub async fn release(mut self) -> Result<(), ArchiveError> {
        if let Some(mut lease) = self.lease.take() {
            lease.stop().await;
        }
        if holds(self.store.as_ref(), &self.path, &self.run_id).await.map_err(ArchiveError::store(&self.shown))? {
            release(self.store.as_ref(), &self.path, &self.shown).await?;
        }
        Ok(())
    }
}

impl Drop for HeldLock {
    /// A run that stopped without releasing its lock (its future was dropped: Ctrl-C in Python, a
    /// cancelled task) releases it in the background, so the next writer of a process that lives
    /// on need not wait out the lease. Without a runtime to do it on, the lease expires.
    fn drop(&mut self) {
        let Some(mut lease) = self.lease.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (store, path, shown, run_id) =
            (self.store.clone(), self.path.clone(), self.shown.clone(), self.run_id.clone());
        let (done, released) = tokio::sync::oneshot::channel::<()>();
        pending_releases().entry(shown.clone()).or_default().push(released);
        runtime.spawn(async move {
            lease.stop().await;
            if holds(store.as_ref(), &path, &run_id).await.unwrap_or(false) {
                let _ = release(store.as_ref(), &path, &shown).await;
            }
            let _ = done.send(());
        });
    }
}

/// Background releases of dropped locks still under way, by lock (as shown).
type PendingReleases = HashMap<String, Vec<tokio::sync::oneshot::Receiver<()>>>;

/// This process's releases under way: the next writer of the same archive here waits for them
/// rather than find its lock busy.
fn pending_releases() -> std::sync::MutexGuard<'static, PendingReleases> {
    static PENDING: OnceLock<Mutex<PendingReleases>> = OnceLock::new();
    PENDING.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits (a few seconds at most) for this process's background releases of the lock `shown`.
async fn released_in_background(shown: &str) {
    let pending = pending_releases().remove(shown).unwrap_or_default();
    for released in pending {
        // Ended either way: released, or its runtime is gone (and the lease will run out).
        let _ = tokio::time::timeout(Duration::from_secs(10), released).await;
    }
}

/// Takes the lock at `path` (shown to people as `shown_path`) for `run_id`, breaking it if its
/// holder is dead or its lease ran out, waiting up to `options.wait` while it is held.
async fn acquire(
    store: &dyn ObjectStore,
    path: &Path,
    run_id: &str,
    display: &str,
    shown_path: &str,
    options: &LockOptions,
) -> Result<(), ArchiveError> {
    let started = Instant::now();
    let since = rfc3339(chrono::Utc::now());
    let mut told = false;
    let mut pause = Duration::from_millis(200);
    loop {
        let info = LockInfo::new(run_id, options.lease, &since);
        let create = PutOptions { mode: PutMode::Create, ..Default::default() };
        match store.put_opts(path, info.body(), create).await {
            Ok(_) => return Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(ArchiveError::store(shown_path)(e)),
        }
        match read_holder(store, path, shown_path).await? {
            Some(holder) if !is_stale(&holder) => {
                let waited = started.elapsed();
                if waited >= options.wait {
                    return Err(ArchiveError::Locked {
                        location: display.to_string(),
                        holder: holder.describe(),
                        lock_path: shown_path.to_string(),
                        waited: humantime::format_duration(Duration::from_secs(waited.as_secs())).to_string(),
                    });
                }
                if !told {
                    told = true;
                    if let Some(on_wait) = &options.on_wait {
                        on_wait(&holder.describe());
                    }
                }
                tokio::time::sleep(pause.min(options.wait - waited)).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            // Dead holder, expired lease, or the lock vanished or was unreadable meanwhile:
            // remove and retry.
            _ => match store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(ArchiveError::store(shown_path)(e)),
            },
        }
    }
}

/// Keeps a held lock's lease alive from a background task until dropped.
#[derive(Debug)]
struct Lease {
    lost: Arc<AtomicBool>,
    /// When the lease was last written; a commit needs it fresher than half the lease.
    last_renewal: Arc<std::sync::Mutex<Instant>>,
    lease: Duration,
    stop: Arc<tokio::sync::Notify>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Lease {
    /// Starts renewing the lock at `path` that `run_id` holds.
    pub fn keep(store: Arc<dyn ObjectStore>, path: Path, run_id: String, lease: Duration) -> Lease {
        let lost = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(tokio::sync::Notify::new());
        let (flag, stopped) = (lost.clone(), stop.clone());
        let last_renewal = Arc::new(std::sync::Mutex::new(Instant::now()));
        let flag_renewed = last_renewal.clone();
        let since = rfc3339(chrono::Utc::now());
        let task = tokio::spawn(async move {
            let mut renewed = Instant::now();
            *flag_renewed.lock().unwrap_or_else(|p| p.into_inner()) = renewed;
            loop {
                // Stopping waits for a renewal in flight, so none lands after the lock is released.
                tokio::select! {
                    _ = tokio::time::sleep(lease / 3) => {}
                    _ = stopped.notified() => return,
                }
                match renew(store.as_ref(), &path, &run_id, lease, &since).await {
                    Ok(true) => {
                        renewed = Instant::now();
                        *flag_renewed.lock().unwrap_or_else(|p| p.into_inner()) = renewed;
                    }
                    Ok(false) => break,
                    // A passing store error: try again, unless the lease has run out meanwhile.
                    Err(_) if renewed.elapsed() < lease => continue,
                    Err(_) => break,
                }
            }
            flag.store(true, Ordering::SeqCst);
        });
        Lease { lost, stop, task: Some(task), last_renewal, lease }
    }

    /// Stops renewing, after a renewal in flight has finished.
    pub async fn stop(&mut self) {
        self.stop.notify_one();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Whether the lock was lost (taken over, or not renewed within its lease), or was last
    /// renewed more than half a lease ago, too close to expiring for a commit to rely on it.
    pub fn lost(&self) -> bool {
        let renewed = *self.last_renewal.lock().unwrap_or_else(|p| p.into_inner());
        self.lost.load(Ordering::SeqCst) || renewed.elapsed() > self.lease / 2
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Renews `run_id`'s lease on the lock at `path`; false when the lock is no longer its own. The
/// rewrite is conditional on the lock being the one just read where the store supports it
/// (S3, GCS, Azure: `PutMode::Update`), so a takeover between the read and the write is not
/// overwritten; elsewhere (local files) it is a plain write after the check.
async fn renew(
    store: &dyn ObjectStore,
    path: &Path,
    run_id: &str,
    lease: Duration,
    since: &str,
) -> Result<bool, object_store::Error> {
    let current = match store.get(path).await {
        Ok(result) => result,
        Err(object_store::Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let version = UpdateVersion { e_tag: current.meta.e_tag.clone(), version: current.meta.version.clone() };
    let bytes = current.bytes().await?;
    if !serde_json::from_slice::<LockInfo>(&bytes).is_ok_and(|info| info.run_id == run_id) {
        return Ok(false);
    }
    let body = LockInfo::new(run_id, lease, since).body();
    let update = PutOptions { mode: PutMode::Update(version), ..Default::default() };
    match store.put_opts(path, body.clone(), update).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::Precondition { .. }) => Ok(false),
        Err(object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. }) => {
            store.put(path, body).await?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// Whether the lock at `path` is held by `run_id`.
async fn holds(store: &dyn ObjectStore, path: &Path, run_id: &str) -> Result<bool, object_store::Error> {
    match store.get(path).await {
        Ok(result) => {
            let bytes = result.bytes().await?;
            Ok(serde_json::from_slice::<LockInfo>(&bytes).is_ok_and(|info| info.run_id == run_id))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases the lock at `path` (shown to people as `shown_path`).
async fn release(store: &dyn ObjectStore, path: &Path, shown_path: &str) -> Result<(), ArchiveError> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(ArchiveError::store(shown_path)(e)),
    }
}

async fn read_holder(store: &dyn ObjectStore, path: &Path, shown_path: &str) -> Result<Option<LockInfo>, ArchiveError> {
    match store.get(path).await {
        Ok(result) => {
            let bytes = result.bytes().await.map_err(ArchiveError::store(shown_path))?;
            Ok(serde_json::from_slice(&bytes).ok())
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(ArchiveError::store(shown_path)(e)),
    }
}

/// A lock is stale when its lease ran out, or when it was taken on this host by a process that no
/// longer exists. A lock of an older build (no expiry) is stale a minute after it was taken.
fn is_stale(holder: &LockInfo) -> bool {
    if holder.host == host_name() && !process_alive(holder.pid) {
        return true;
    }
    let parse = |time: &str| chrono::DateTime::parse_from_rfc3339(time).ok().map(|t| t.with_timezone(&chrono::Utc));
    let expiry = match &holder.expires_at {
        Some(at) => parse(at),
        None => parse(&holder.since).map(|since| since + chrono::Duration::seconds(60)),
    };
    expiry.is_some_and(|expiry| expiry < chrono::Utc::now())
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return "unknown".to_string();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}
