//! `verbatim executor`: a Ballista executor in this process. It asks the scheduler for tasks, runs
//! them with verbatim's functions and search plans within its memory budget, reads archives with
//! verbatim's store settings, and keeps shuffle files and spills in its work folder.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use verbatim_archive::phrase_index::IndexCache;

use crate::codec::{ArchiveOpener, LogicalCodec, PhysicalCodec};
use crate::stores::StoreRegistry;
use crate::{ClusterError, SCHEDULING};

/// How an executor is set up.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// How long to keep trying to reach the scheduler at start (it may still be starting).
    pub connect_timeout: Duration,
    /// The address the executor serves results and shuffle data on (an IP address and port).
    pub bind: SocketAddr,
    /// The host name the scheduler, other executors and clients reach this executor by.
    pub external_host: String,
    /// Tasks run at once.
    pub slots: usize,
    /// The executor's memory budget; its tasks share the budget's executor pool.
    pub budget: verbatim_model::MemoryBudget,
    /// The folder for shuffle files and spills (node-local disk).
    pub work_dir: PathBuf,
    /// Object store settings for archives on object storage (object_store's names).
    pub store_options: Vec<(String, String)>,
    /// Where copies of remote archives' phrase indexes are kept.
    pub index_cache: Option<IndexCache>,
}

/// Runs an executor until the process is told to stop (Ctrl-C or SIGTERM: it then finishes its
/// running tasks and tells the scheduler it is leaving).
pub async fn run_executor(options: ExecutorOptions) -> Result<(), ClusterError> {
    let scheduler = format!("{}:{}", options.scheduler_host, options.scheduler_port);
    wait_for_scheduler(&scheduler, options.connect_timeout).await?;
    std::fs::create_dir_all(&options.work_dir).map_err(|e| ClusterError::Process {
        process: format!("executor on {}: cannot create work folder {}", options.bind, options.work_dir.display()),
        source: e.into(),
    })?;
    let config = executor_config(&options);
    start_executor_process(Arc::new(config)).await.map_err(|e| ClusterError::Process {
        process: format!("executor on {} (scheduler {scheduler})", options.bind),
        source: e.into(),
    })
}

/// Tries to connect to the scheduler until it answers or `timeout` has passed.
async fn wait_for_scheduler(address: &str, timeout: Duration) -> Result<(), ClusterError> {
    let started = Instant::now();
    loop {
        match tokio::net::TcpStream::connect(address).await {
            Ok(_) => return Ok(()),
            Err(e) if started.elapsed() >= timeout => {
                return Err(ClusterError::Unreachable { address: address.to_string(), source: e.into() });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn executor_config(options: &ExecutorOptions) -> ExecutorProcessConfig {
    // Every function a local session has (DataFusion's defaults, nested ones included) and verbatim's.
    let mut functions = BallistaFunctionRegistry::from(&SessionStateBuilder::new().with_default_features().build());
    for udf in verbatim_functions::all() {
        functions.scalar_functions.insert(udf.name().to_string(), Arc::new(udf));
    }
    let registry = Arc::new(StoreRegistry::new(options.store_options.clone()));
    let work_dir = options.work_dir.clone();
    let runtime_producer = Arc::new(move |_: &SessionConfig| {
        RuntimeEnvBuilder::new()
            .with_object_store_registry(registry.clone())
            .with_temp_file_path(work_dir.clone())
            .build_arc()
    });
    let opener = Arc::new(ArchiveOpener::new(options.store_options.clone(), options.index_cache.clone()));
    ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        port: options.bind.port(),
        external_host: Some(options.external_host.clone()),
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        vcores: options.slots.max(1),
        task_scheduling_policy: SCHEDULING,
        work_dir: Some(options.work_dir.to_string_lossy().into_owned()),
        memory_pool_size: Some(options.budget.executor_pool()),
        override_function_registry: Some(Arc::new(functions)),
        override_runtime_producer: Some(runtime_producer),
        override_logical_codec: Some(Arc::new(LogicalCodec::new(opener.clone()))),
        override_physical_codec: Some(Arc::new(PhysicalCodec::new(opener))),
        ..ExecutorProcessConfig::default()
    }
}
