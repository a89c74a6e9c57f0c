//! A query session whose statements run on a cluster: the same tables, functions and searches as a
//! local session, planned by the scheduler and run by its executors.
//!
//! The scheduler lists each table's files itself, and a file it cannot find would read as an
//! empty table; so before the session is used, every file of the snapshot is checked to exist
//! with its recorded size (one metadata request each), and a missing or changed one fails the
//! session naming it.

use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use verbatim_archive::{Archive, CheckDepth};
use verbatim_query::{ArchiveSession, SessionOptions};

use crate::codec::{ArchiveOpener, LogicalCodec, PhysicalCodec};
use crate::{ADAPTIVE_PLANNING, Cause, ClusterError, DEFAULT_SCHEDULER_PORT};

/// How long to wait for the scheduler to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A scheduler's address, from `df://HOST[:PORT]` (or `HOST[:PORT]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAddress {
    /// The scheduler's host.
    pub host: String,
    /// The scheduler's port.
    pub port: u16,
}

impl ClusterAddress {
    /// Parses `df://HOST[:PORT]`; the port defaults to 50050.
    pub fn parse(given: &str) -> Result<ClusterAddress, ClusterError> {
        let invalid = |reason: &str| ClusterError::Address { given: given.to_string(), reason: reason.to_string() };
        let rest = match given.split_once("://") {
            Some(("df", rest)) => rest,
            Some((scheme, _)) => return Err(invalid(&format!("unknown scheme {scheme:?}"))),
            None => given,
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| invalid("the port is not a number"))?),
            None => (rest, DEFAULT_SCHEDULER_PORT),
        };
        if host.is_empty() || host.contains('/') {
            return Err(invalid("no host"));
        }
        Ok(ClusterAddress { host: host.to_string(), port })
    }

    /// `df://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("df://{}:{}", self.host, self.port)
    }
}

impl std::fmt::Display for ClusterAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A session over `archive` whose statements run on the cluster at `address`.
pub async fn open_cluster_session(
    address: &ClusterAddress,
    archive: &Archive,
    options: &SessionOptions,
) -> Result<ArchiveSession, ClusterError> {
    check_reachable(address).await?;
    let opener = Arc::new(ArchiveOpener::new(Vec::new(), None));
    let config = SessionConfig::new_with_ballista()
        .with_ballista_adaptive_query_planner(ADAPTIVE_PLANNING)
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::new(opener.clone())))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::new(opener)));
    let config = verbatim_query::configure(config, options);
    let runtime = RuntimeEnvBuilder::new()
        .build_arc()
        .map_err(|e| ClusterError::Process { process: format!("cluster client of {address}"), source: e.into() })?;
    let state =
        SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build();
    let ctx = SessionContext::remote_with_state(&address.url(), state)
        .await
        .map_err(|e| ClusterError::Unreachable { address: address.to_string(), source: e.into() })?;
    // Ballista's session replaces the function list; verbatim's are registered after it.
    let session = ArchiveSession::open_for_cluster_in(ctx, archive, options).await?;
    archive.ensure_sound(session.snapshot(), CheckDepth::Presence).await?;
    Ok(session)
}

/// Fails naming the address unless the scheduler accepts a connection.
async fn check_reachable(address: &ClusterAddress) -> Result<(), ClusterError> {
    let unreachable = |source: Cause| ClusterError::Unreachable { address: address.to_string(), source };
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((address.host.as_str(), address.port)))
        .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.into())),
        Err(_) => Err(unreachable(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()).into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_and_without_scheme_and_port() {
        let parsed = ClusterAddress::parse("df://node1:50060").unwrap();
        assert_eq!((parsed.host.as_str(), parsed.port), ("node1", 50060));
        assert_eq!(ClusterAddress::parse("node1").unwrap().port, 50050);
        assert_eq!(ClusterAddress::parse("127.0.0.1:7000").unwrap().url(), "df://127.0.0.1:7000");
        assert!(ClusterAddress::parse("http://node1:1").is_err());
        assert!(ClusterAddress::parse("df://node1:port").is_err());
        assert!(ClusterAddress::parse("df://").is_err());
    }
}
