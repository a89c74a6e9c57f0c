//! `verbatim scheduler` and `verbatim executor`: the processes of a cluster.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use verbatim_cluster::executor::{ExecutorOptions, run_executor};
use verbatim_cluster::scheduler::{SchedulerOptions, run_scheduler};
use verbatim_cluster::{ClusterAddress, DEFAULT_SCHEDULER_PORT};

use crate::args::{ExecutorArgs, SchedulerArgs, ServeArgs, TopArgs};
use crate::settings::{resolve, show_size};

/// `text` read as a duration, or an error naming `flag`.
fn duration(flag: &str, text: &str) -> Result<std::time::Duration> {
    crate::settings::parse_duration(text).map_err(|reason| anyhow::anyhow!("{flag} {text:?}: {reason}"))
}

pub async fn scheduler(args: SchedulerArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    let settings = resolve(config, |settings| settings)?;
    let bind = socket_address(&args.bind, DEFAULT_SCHEDULER_PORT).context("--bind")?;
    let external_host = args.external_host.unwrap_or_else(|| reachable_host(&bind));
    if !quiet {
        note!(
            "verbatim scheduler on {bind}: clients use --cluster df://{external_host}:{}, executors --scheduler {external_host}:{}; REST API at http://{external_host}:{}/api/jobs",
            bind.port(),
            bind.port(),
            bind.port()
        );
    }
    run_scheduler(SchedulerOptions { bind, external_host, store_options: settings.storage }).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn executor(args: ExecutorArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    let settings = resolve(config, |settings| args.given(settings))?;
    let scheduler = ClusterAddress::parse(&args.scheduler)?;
    let mut bind = socket_address(&args.bind, 50051).context("--bind")?;
    if bind.port() == 0 {
        bind.set_port(free_port(bind)?);
    }
    let external_host = args.external_host.unwrap_or_else(|| reachable_host(&bind));
    let slots = settings.threads;
    let work_dir =
        args.work_dir.unwrap_or_else(|| std::env::temp_dir().join(format!("verbatim-executor-{}", bind.port())));
    if !quiet {
        note!(
            "verbatim executor on {bind} ({external_host}): {slots} slots, {} memory, work folder {}; scheduler {scheduler}",
            show_size(settings.memory_limit),
            work_dir.display()
        );
    }
    let options = ExecutorOptions {
        scheduler_host: scheduler.host,
        scheduler_port: scheduler.port,
        connect_timeout: duration("--connect-timeout", &args.connect_timeout)?,
        bind,
        external_host,
        slots,
        budget: settings.budget(),
        work_dir,
        store_options: settings.storage.clone(),
        index_cache: Some(settings.index_cache.clone()),
    };
    run_executor(options).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn top(args: TopArgs, config: Option<&Path>) -> Result<ExitCode> {
    use std::io::{IsTerminal, Write};
    use verbatim_cluster::top::{Top, render};
    let settings =
        resolve(config, |settings| settings.given_if(verbatim_engine::Setting::Cluster, args.cluster.clone()))?;
    let Some(given) = settings.cluster.as_ref() else {
        bail!("top needs the cluster: --cluster df://HOST:PORT, VERBATIM_CLUSTER or `cluster` in the config file");
    };
    let address = ClusterAddress::parse(given)?;
    let interval = duration("--interval", &args.interval)?;
    let top = Top::new(address.clone());
    let state = top.state().await?;
    let once = args.once || !std::io::stdout().is_terminal();
    if once {
        print!("{}", render(&address, &state, args.jobs));
        return Ok(ExitCode::SUCCESS);
    }
    let mut last = render(&address, &state, args.jobs);
    let mut shown = last.clone();
    loop {
        // Home, clear the screen, draw.
        print!("\x1b[H\x1b[2J{shown}\n(refreshed every {}; Ctrl-C to leave)", humantime::format_duration(interval));
        std::io::stdout().flush()?;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => {
                println!();
                return Ok(ExitCode::SUCCESS);
            }
        }
        shown = match top.state().await {
            Ok(state) => {
                last = render(&address, &state, args.jobs);
                last.clone()
            }
            Err(e) => format!("{e}\n\n(last answer:)\n{last}"),
        };
    }
}

pub async fn serve(args: ServeArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    use verbatim_flight::{ServeOptions, serve};
    let settings = resolve(config, |settings| args.given(settings))?;
    let bind = socket_address(&args.bind, 50060).context("--bind")?;
    let memory_limit = settings.memory_limit;
    let engine = verbatim_engine::Engine::open(settings)?;
    if !engine.archive().exists().await? {
        bail!("no archive at {}", engine.archive().display());
    }
    if !quiet {
        note!(
            "verbatim serving {} over Arrow Flight SQL at grpc://{bind} ({} memory{}); Ctrl-C to stop",
            engine.archive().display(),
            show_size(memory_limit),
            if args.token.is_some() { ", bearer token required" } else { "" }
        );
    }
    serve(engine, ServeOptions { bind, token: args.token }).await?;
    Ok(ExitCode::SUCCESS)
}

/// `HOST:PORT` (or `HOST`, with `default_port`) resolved to one socket address.
fn socket_address(given: &str, default_port: u16) -> Result<SocketAddr> {
    let with_port = if given.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok()) {
        given.to_string()
    } else {
        format!("{given}:{default_port}")
    };
    match with_port.to_socket_addrs() {
        Ok(mut addresses) => match addresses.next() {
            Some(address) => Ok(address),
            None => bail!("{given:?} names no address"),
        },
        Err(e) => bail!("{given:?}: {e}"),
    }
}

/// A port free on `bind`'s interface now.
fn free_port(bind: SocketAddr) -> Result<u16> {
    let listener = std::net::TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
    Ok(listener.local_addr()?.port())
}

/// How others reach a process bound to `bind`: the machine's host name when it listens on every
/// interface, else the address itself.
fn reachable_host(bind: &SocketAddr) -> String {
    if bind.ip().is_unspecified() {
        host_name().unwrap_or_else(|| "localhost".to_string())
    } else {
        bind.ip().to_string()
    }
}

/// This machine's host name.
fn host_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status != 0 {
        return None;
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8(buffer[..end].to_vec()).ok().filter(|name| !name.is_empty())
}
