//! The write lock: one object created with `PutMode::Create`, so only one run writes at a time.
//! A lock left by a killed run on this host is recognised (its process is gone) and taken over.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use serde::{Deserialize, Serialize};

use crate::ArchiveError;

#[derive(Debug, Serialize, Deserialize)]
struct LockInfo {
    run_id: String,
    pid: u32,
    host: String,
    since: String,
}

/// Takes the lock at `path` (shown to people as `shown_path`) for `run_id`, breaking it if its
/// holder on this host is dead.
pub(crate) async fn acquire(
    store: &dyn ObjectStore,
    path: &Path,
    run_id: &str,
    display: &str,
    shown_path: &str,
) -> Result<(), ArchiveError> {
    let info = LockInfo {
        run_id: run_id.to_string(),
        pid: std::process::id(),
        host: host_name(),
        since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let body = serde_json::to_vec_pretty(&info).expect("lock info serialises");
    for _ in 0..3 {
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match store.put_opts(path, body.clone().into(), options).await {
            Ok(_) => return Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let holder = read_holder(store, path, shown_path).await?;
                match holder {
                    Some(holder) if !is_stale(&holder) => {
                        return Err(ArchiveError::Locked {
                            location: display.to_string(),
                            holder: format!(
                                "run {} (pid {} on {}, since {})",
                                holder.run_id, holder.pid, holder.host, holder.since
                            ),
                            lock_path: shown_path.to_string(),
                        });
                    }
                    // Dead holder, or the lock vanished or was unreadable meanwhile: remove and retry.
                    _ => match store.delete(path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(ArchiveError::store(shown_path)(e)),
                    },
                }
            }
            Err(e) => return Err(ArchiveError::store(shown_path)(e)),
        }
    }
    Err(ArchiveError::Corrupt { path: path.to_string(), reason: "could not take the write lock".into() })
}

/// Releases the lock at `path` (shown to people as `shown_path`).
pub(crate) async fn release(store: &dyn ObjectStore, path: &Path, shown_path: &str) -> Result<(), ArchiveError> {
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

/// A lock is stale when it was taken on this host by a process that no longer exists.
fn is_stale(holder: &LockInfo) -> bool {
    holder.host == host_name() && !process_alive(holder.pid)
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
