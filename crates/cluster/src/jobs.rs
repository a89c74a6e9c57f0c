//! The jobs of a client's queries: cancelled when the query stops early (its reader went away,
//! Ctrl-C, a time limit), and watched while they run, so that a job the cluster cannot finish
//! fails instead of leaving its client waiting forever. Ballista reruns the tasks of a lost
//! executor, but a job can still be left with no task to run; when nothing has moved for
//! [`STALL_LIMIT`] and an executor that was there when the job began is gone, the job is
//! cancelled and the query fails naming that executor.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::top::{Executor, Stage, Top};
use crate::{ClusterAddress, ClusterError, EXECUTOR_TIMEOUT_SECONDS};

/// How long a job may go without a task changing state, once an executor it began with is lost,
/// before it counts as stalled: long enough for the scheduler to notice the loss and run the lost
/// tasks again.
pub const STALL_LIMIT: Duration = Duration::from_secs(4 * EXECUTOR_TIMEOUT_SECONDS);

/// How often a running job is looked at.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The setting that names a query's job; the scheduler lists jobs with their names, so a client
/// finds its own jobs by the name it gave them (Ballista 55's client learns a job's id only from
/// status updates that may come late or never).
pub const JOB_NAME_SETTING: &str = ballista_core::config::BALLISTA_JOB_NAME;

/// A name for one query's jobs, unique to this process and moment.
pub fn unique_job_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("verbatim-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The ids of the jobs named `job_name` that are queued or running.
async fn running_jobs(top: &Top, job_name: &str) -> Result<Vec<String>, ClusterError> {
    let jobs = top.jobs().await?;
    Ok(jobs
        .into_iter()
        .filter(|job| job.job_name == job_name && matches!(job.status.as_str(), "Queued" | "Running"))
        .map(|job| job.job_id)
        .collect())
}

/// Cancels the queued and running jobs named `job_name` on the cluster at `address`.
pub async fn cancel_jobs(address: &ClusterAddress, job_name: &str) -> Result<(), ClusterError> {
    let top = Top::new(address.clone());
    for job in running_jobs(&top, job_name).await? {
        top.cancel(&job).await?;
    }
    Ok(())
}

/// Watches the jobs named `job_name` on the cluster at `address` until one stalls: then cancels
/// it and returns the error that says why. Never returns while the jobs make progress (drop it
/// when the query ends). Answers the API cannot give are treated as no news.
pub async fn watch(address: &ClusterAddress, job_name: &str) -> ClusterError {
    let top = Top::new(address.clone());
    let mut watched: BTreeMap<String, JobWatch> = BTreeMap::new();
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let (Ok(executors), Ok(jobs)) = (top.executors().await, running_jobs(&top, job_name).await) else { continue };
        for job in jobs {
            let Ok(stages) = top.stages(&job).await else { continue };
            let now = Instant::now();
            let watch = watched.entry(job.clone()).or_insert_with(|| JobWatch::new(&executors, now));
            watch.observe(&stages, &executors, now);
            if let Some(lost) = watch.stalled(now) {
                let _ = top.cancel(&job).await;
                return ClusterError::Stalled {
                    job,
                    executor: format!("{} at {}:{}", lost.id, lost.host, lost.port),
                    seconds: STALL_LIMIT.as_secs(),
                };
            }
        }
    }
}

/// What is known of one job: the executors it began with, and when its tasks last moved.
#[derive(Debug, Clone)]
pub struct JobWatch {
    began_with: Vec<Executor>,
    lost: Vec<Executor>,
    tasks: Vec<String>,
    moved_at: Instant,
}

impl JobWatch {
    /// A job first seen at `now` while `executors` were registered.
    pub fn new(executors: &[Executor], now: Instant) -> JobWatch {
        JobWatch { began_with: executors.to_vec(), lost: Vec::new(), tasks: Vec::new(), moved_at: now }
    }

    /// Takes in the job's `stages` and the `executors` registered at `now`.
    pub fn observe(&mut self, stages: &[Stage], executors: &[Executor], now: Instant) {
        let tasks = task_states(stages);
        if tasks != self.tasks {
            self.tasks = tasks;
            self.moved_at = now;
        }
        for executor in &self.began_with {
            let gone = !executors.iter().any(|e| e.id == executor.id);
            if gone && !self.lost.iter().any(|e| e.id == executor.id) {
                self.lost.push(executor.clone());
            }
        }
    }

    /// The lost executor to blame when the job has not moved for [`STALL_LIMIT`] since then.
    pub fn stalled(&self, now: Instant) -> Option<&Executor> {
        let lost = self.lost.first()?;
        (now.duration_since(self.moved_at) >= STALL_LIMIT).then_some(lost)
    }
}

/// Each stage's status and its tasks' states, as text to compare.
fn task_states(stages: &[Stage]) -> Vec<String> {
    stages
        .iter()
        .map(|stage| {
            let tasks: Vec<String> = stage
                .tasks
                .iter()
                .map(|task| task.as_ref().map_or("waiting".to_string(), |task| task.status.to_string()))
                .collect();
            format!("{} {} {}", stage.stage_id, stage.stage_status, tasks.join(","))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::{Specification, Task};

    fn executor(id: &str) -> Executor {
        Executor {
            id: id.to_string(),
            host: "127.0.0.1".to_string(),
            port: 50051,
            last_seen: None,
            specification: Specification::default(),
            metrics: Vec::new(),
        }
    }

    fn stage(tasks: &[&str]) -> Stage {
        Stage {
            stage_id: "1".to_string(),
            stage_status: "Running".to_string(),
            input_rows: 0,
            output_rows: 0,
            tasks: tasks.iter().map(|t| Some(Task { status: serde_json::json!(t) })).collect(),
        }
    }

    #[test]
    fn a_job_stalls_only_when_nothing_moves_after_an_executor_is_lost() {
        let start = Instant::now();
        let (a, b) = (executor("a"), executor("b"));
        let mut watch = JobWatch::new(&[a.clone(), b.clone()], start);
        watch.observe(&[stage(&["Running", "Running"])], &[a.clone(), b.clone()], start);
        let later = start + STALL_LIMIT * 2;
        assert!(watch.stalled(later).is_none(), "no executor lost: a slow job is not stalled");

        watch.observe(&[stage(&["Successful", "Running"])], std::slice::from_ref(&a), start + Duration::from_secs(5));
        assert!(watch.stalled(start + Duration::from_secs(5) + STALL_LIMIT / 2).is_none(), "it moved recently");
        let stuck = start + Duration::from_secs(5) + STALL_LIMIT;
        watch.observe(&[stage(&["Successful", "Running"])], std::slice::from_ref(&a), stuck);
        assert_eq!(watch.stalled(stuck).map(|e| e.id.as_str()), Some("b"));

        watch.observe(&[stage(&["Successful", "Successful"])], &[a], stuck);
        assert!(watch.stalled(stuck).is_none(), "a task finished: the job moves again");
    }
}
