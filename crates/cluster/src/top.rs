//! `verbatim top`: the work of a cluster as the scheduler's REST API reports it: executors (task
//! slots, memory, last heartbeat), jobs (state, stages done, progress, time) and, for running
//! jobs, each stage's tasks (running, done, failed) and rows. The API does not say which executor
//! runs which task, so tasks are shown per stage.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::{Cause, ClusterAddress, ClusterError};

/// One executor, as `/api/executors` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Executor {
    /// Its id.
    pub id: String,
    /// The host it is reached at.
    pub host: String,
    /// Its results and shuffle port.
    pub port: u16,
    /// Milliseconds since the epoch of its last heartbeat.
    #[serde(default)]
    pub last_seen: Option<u64>,
    /// Task slots.
    #[serde(default)]
    pub specification: Specification,
    /// Memory figures, as `{type, value}` pairs.
    #[serde(default)]
    pub metrics: Vec<Metric>,
}

/// An executor's size.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Specification {
    /// Task slots.
    #[serde(default)]
    pub vcores: u32,
}

/// One figure an executor reports.
#[derive(Debug, Clone, Deserialize)]
pub struct Metric {
    /// What it is, e.g. `proc_physical_memory`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its value.
    pub value: u64,
}

/// One job, as `/api/jobs` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    /// Its id.
    pub job_id: String,
    /// Its name.
    #[serde(default)]
    pub job_name: String,
    /// Queued, Running, Completed, Failed.
    pub status: String,
    /// Longer status (the error of a failed job).
    #[serde(default)]
    pub job_status: String,
    /// Stages in all.
    #[serde(default)]
    pub num_stages: usize,
    /// Stages done.
    #[serde(default)]
    pub completed_stages: usize,
    /// Progress in percent.
    #[serde(default)]
    pub percent_complete: u8,
    /// Start, milliseconds since the epoch.
    #[serde(default)]
    pub start_time: u64,
    /// End, milliseconds since the epoch (0 while it runs).
    #[serde(default)]
    pub end_time: u64,
}

/// The stages of one job.
#[derive(Debug, Clone, Deserialize)]
struct Stages {
    stages: Vec<Stage>,
}

/// One stage of a job.
#[derive(Debug, Clone, Deserialize)]
pub struct Stage {
    /// Its id.
    pub stage_id: String,
    /// Its state.
    pub stage_status: String,
    /// Rows read.
    #[serde(default)]
    pub input_rows: usize,
    /// Rows written.
    #[serde(default)]
    pub output_rows: usize,
    /// Its tasks (`null` for tasks not scheduled yet).
    #[serde(default)]
    pub tasks: Vec<Option<Task>>,
}

/// One task of a stage.
#[derive(Debug, Clone, Deserialize)]
pub struct Task {
    /// `"Running"`, `"Successful"` or `{"Failed": {...}}`.
    pub status: serde_json::Value,
}

/// What a cluster is doing at one moment.
#[derive(Debug, Clone)]
pub struct ClusterState {
    /// The executors.
    pub executors: Vec<Executor>,
    /// The jobs, newest first.
    pub jobs: Vec<Job>,
    /// The stages of running jobs, by job id.
    pub stages: Vec<(String, Vec<Stage>)>,
}

/// Reads the cluster's state from its scheduler's REST API.
pub struct Top {
    address: ClusterAddress,
    client: reqwest::Client,
}

impl Top {
    /// A reader of the scheduler at `address`.
    pub fn new(address: ClusterAddress) -> Top {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Top { address, client }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClusterError> {
        let url = format!("http://{}:{}{path}", self.address.host, self.address.port);
        let api = |source: Cause| ClusterError::Api { url: url.clone(), source };
        let response = self.client.get(&url).send().await.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                ClusterError::Unreachable { address: self.address.to_string(), source: e.into() }
            } else {
                api(e.into())
            }
        })?;
        let status = response.status();
        let body = response.text().await.map_err(|e| api(e.into()))?;
        if !status.is_success() {
            return Err(api(format!("{status}: {body}").into()));
        }
        serde_json::from_str(&body).map_err(|e| api(Box::new(UnexpectedAnswer(e))))
    }

    /// The executors the scheduler knows now.
    pub async fn executors(&self) -> Result<Vec<Executor>, ClusterError> {
        self.get("/api/executors").await
    }

    /// The jobs the scheduler knows now.
    pub async fn jobs(&self) -> Result<Vec<Job>, ClusterError> {
        self.get("/api/jobs").await
    }

    /// The stages of job `job_id`.
    pub async fn stages(&self, job_id: &str) -> Result<Vec<Stage>, ClusterError> {
        let Stages { stages } = self.get(&format!("/api/job/{job_id}/stages")).await?;
        Ok(stages)
    }

    /// Asks the scheduler to cancel job `job_id`; a job that already ended is left as it is.
    pub async fn cancel(&self, job_id: &str) -> Result<(), ClusterError> {
        let url = format!("http://{}:{}/api/job/{job_id}", self.address.host, self.address.port);
        let api = |source: Cause| ClusterError::Api { url: url.clone(), source };
        let response = self.client.patch(&url).send().await.map_err(|e| api(e.into()))?;
        let status = response.status();
        // 409: the job has finished already.
        if status.is_success() || status == reqwest::StatusCode::CONFLICT {
            return Ok(());
        }
        Err(api(format!("{status}: {}", response.text().await.unwrap_or_default()).into()))
    }

    /// The cluster's state now.
    pub async fn state(&self) -> Result<ClusterState, ClusterError> {
        let executors: Vec<Executor> = self.get("/api/executors").await?;
        let mut jobs: Vec<Job> = self.get("/api/jobs").await?;
        jobs.sort_by(|a, b| b.start_time.cmp(&a.start_time).then_with(|| a.job_id.cmp(&b.job_id)));
        let mut stages = Vec::new();
        for job in jobs.iter().filter(|job| job.status == "Running") {
            let Stages { stages: of_job } = self.get(&format!("/api/job/{}/stages", job.job_id)).await?;
            stages.push((job.job_id.clone(), of_job));
        }
        Ok(ClusterState { executors, jobs, stages })
    }
}

/// The state as text: executors, then at most `max_jobs` jobs with the stages of running ones.
pub fn render(address: &ClusterAddress, state: &ClusterState, max_jobs: usize) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut out = String::new();
    let running = state.jobs.iter().filter(|j| j.status == "Running").count();
    let slots: u32 = state.executors.iter().map(|e| e.specification.vcores).sum();
    let _ = writeln!(
        out,
        "cluster {address}: {} executors, {slots} task slots, {running} jobs running, {} jobs in all",
        state.executors.len(),
        state.jobs.len()
    );
    let _ = writeln!(out, "\n{:<38} {:<24} {:>5} {:>10} {:>9}", "EXECUTOR", "ADDRESS", "SLOTS", "MEMORY", "SEEN");
    for executor in &state.executors {
        let memory = executor.metrics.iter().find(|m| m.kind == "proc_physical_memory").map(|m| m.value);
        let seen =
            executor.last_seen.map_or("-".to_string(), |at| format!("{:.1}s ago", now.saturating_sub(at) as f64 / 1e3));
        let _ = writeln!(
            out,
            "{:<38} {:<24} {:>5} {:>10} {:>9}",
            executor.id,
            format!("{}:{}", executor.host, executor.port),
            executor.specification.vcores,
            memory.map_or("-".to_string(), show_bytes),
            seen
        );
    }
    let _ = writeln!(out, "\n{:<14} {:<10} {:>7} {:>5} {:>9}  NAME / ERROR", "JOB", "STATE", "STAGES", "DONE", "TIME");
    for job in state.jobs.iter().take(max_jobs) {
        let end = if job.end_time > 0 { job.end_time } else { now };
        let elapsed = end.saturating_sub(job.start_time) as f64 / 1e3;
        let detail = if job.status == "Failed" { job.job_status.as_str() } else { job.job_name.as_str() };
        let _ = writeln!(
            out,
            "{:<14} {:<10} {:>7} {:>4}% {:>8.1}s  {}",
            job.job_id,
            job.status,
            format!("{}/{}", job.completed_stages, job.num_stages),
            job.percent_complete,
            elapsed,
            detail.lines().next().unwrap_or_default()
        );
        if let Some((_, stages)) = state.stages.iter().find(|(id, _)| *id == job.job_id) {
            for stage in stages {
                let (mut running, mut done, mut failed, mut waiting) = (0, 0, 0, 0);
                for task in &stage.tasks {
                    match task.as_ref().map(|t| &t.status) {
                        None => waiting += 1,
                        Some(serde_json::Value::String(s)) if s == "Running" => running += 1,
                        Some(serde_json::Value::String(s)) if s == "Successful" => done += 1,
                        Some(_) => failed += 1,
                    }
                }
                let _ = writeln!(
                    out,
                    "  stage {:<4} {:<10} tasks: {running} running, {done} done, {failed} failed, {waiting} waiting; rows {} in, {} out",
                    stage.stage_id, stage.stage_status, stage.input_rows, stage.output_rows
                );
            }
        }
    }
    out
}

fn show_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// The scheduler answered with JSON that is not what its API documents.
#[derive(Debug, thiserror::Error)]
#[error("unexpected answer: {0}")]
struct UnexpectedAnswer(#[source] serde_json::Error);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduler_answers_render_as_a_table() {
        let executors: Vec<Executor> = serde_json::from_str(
            r#"[{"id":"e1","host":"node1","port":50051,"last_seen":1000,"specification":{"vcores":4},
                "metrics":[{"type":"proc_physical_memory","value":3145728}],"os_info":{}}]"#,
        )
        .unwrap();
        let jobs: Vec<Job> = serde_json::from_str(
            r#"[{"job_id":"abc","job_name":"q","job_status":"Running","status":"Running","num_stages":3,
                 "completed_stages":1,"percent_complete":40,"start_time":0,"end_time":0}]"#,
        )
        .unwrap();
        let Stages { stages } = serde_json::from_str(
            r#"{"stages":[{"stage_id":"2","stage_status":"Running","input_rows":10,"output_rows":5,
                "tasks":[{"id":0,"status":"Running"},{"id":1,"status":"Successful"},
                         {"id":2,"status":{"Failed":{"reason":"x","error":"y"}}},null]}]}"#,
        )
        .unwrap();
        let state = ClusterState { executors, jobs, stages: vec![("abc".into(), stages)] };
        let text = render(&ClusterAddress::parse("df://node1:50050").unwrap(), &state, 10);
        assert!(text.contains("1 executors, 4 task slots, 1 jobs running"), "{text}");
        assert!(text.contains("node1:50051") && text.contains("3.0 MiB"), "{text}");
        assert!(text.contains("abc") && text.contains("1/3") && text.contains("40%"), "{text}");
        assert!(text.contains("1 running, 1 done, 1 failed, 1 waiting; rows 10 in, 5 out"), "{text}");
    }
}
