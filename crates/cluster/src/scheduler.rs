//! `verbatim scheduler`: a Ballista scheduler in this process. It plans the statements clients
//! send (so it knows verbatim's functions and search plans and reads archives to list their files)
//! and hands tasks to executors; its REST API on the same port reports jobs, stages and executors.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;

use crate::codec::{ArchiveOpener, LogicalCodec, PhysicalCodec};
use crate::stores::StoreRegistry;
use crate::{ADAPTIVE_PLANNING, Cause, ClusterError, EXECUTOR_TIMEOUT_SECONDS, SCHEDULING};

/// How a scheduler is set up.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// The host name executors and clients reach this scheduler by.
    pub external_host: String,
    /// Object store settings for archives on object storage (object_store's names).
    pub store_options: Vec<(String, String)>,
}

/// Runs a scheduler until the process is told to stop (Ctrl-C or SIGTERM).
pub async fn run_scheduler(options: SchedulerOptions) -> Result<(), ClusterError> {
    let process = format!("scheduler on {}", options.bind);
    let failed = |source: Cause| ClusterError::Process { process: process.clone(), source };
    let config = scheduler_config(&options).map_err(|e| failed(e.into()))?;
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(|e| failed(e.into()))?;
    // Bind first, so a port in use is reported before anything runs.
    let listener = std::net::TcpListener::bind(options.bind).map_err(|e| failed(e.into()))?;
    drop(listener);
    let server = tokio::spawn(start_server(cluster, options.bind, Arc::new(config)));
    tokio::select! {
        finished = server => match finished {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(failed(e.into())),
            Err(e) => Err(failed(e.into())),
        },
        _ = stop_signal() => Ok(()),
    }
}

/// The scheduler's settings: verbatim's functions, stores and codecs; pull scheduling; lost
/// executors noticed within [`EXECUTOR_TIMEOUT_SECONDS`] and their tasks run again.
fn scheduler_config(options: &SchedulerOptions) -> datafusion::common::Result<SchedulerConfig> {
    let registry = Arc::new(StoreRegistry::new(options.store_options.clone()));
    let runtime = RuntimeEnvBuilder::new().with_object_store_registry(registry).build_arc()?;
    let opener = Arc::new(ArchiveOpener::new(options.store_options.clone(), None));
    let session_builder = Arc::new(move |config: SessionConfig| {
        let mut state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(runtime.clone())
            .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
            .build();
        for udf in verbatim_functions::all() {
            state.register_udf(Arc::new(udf))?;
        }
        Ok(state)
    });
    let config = SchedulerConfig {
        external_host: options.external_host.clone(),
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        scheduling_policy: SCHEDULING,
        executor_timeout_seconds: EXECUTOR_TIMEOUT_SECONDS,
        expire_dead_executor_interval_seconds: 2,
        no_executors_grace_period_seconds: 60,
        executor_termination_grace_period: 5,
        task_max_failures: 4,
        stage_max_failures: 4,
        override_logical_codec: Some(Arc::new(LogicalCodec::new(opener.clone()))),
        override_physical_codec: Some(Arc::new(PhysicalCodec::new(opener))),
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(session_builder)
    .with_override_config_producer(Arc::new(|| {
        SessionConfig::new_with_ballista().with_ballista_adaptive_query_planner(ADAPTIVE_PLANNING)
    }));
    Ok(config)
}

/// Resolves when the process gets Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
