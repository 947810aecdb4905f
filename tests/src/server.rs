//! [`TestServer`]: glance-server in-process on 127.0.0.1 (ephemeral ports), with a temporary
//! state directory and a runtime of its own, shut down on drop.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use glance_server::{Config, ReadyInfo, Server, ServerOptions, ServerStats, Timing};

use crate::{Result, TestError};

/// How to start a [`TestServer`].
#[derive(Debug, Clone, Default)]
pub struct TestServerOptions {
    /// TOML text of a config file (`[[group]]` tables); `None`: the development group.
    pub config_toml: Option<String>,
    /// `--agent-queue-bytes`; `None`: the default (8 MiB).
    pub agent_queue_bytes: Option<usize>,
    /// Heartbeat and timeouts; `None`: the protocol's.
    pub timing: Option<Timing>,
    /// `--advertise-direct`: the direct address visitors are told (e.g. a throttling proxy).
    pub advertise_direct: Option<String>,
    /// `--advertise-tunnel`: the HOST:PORT of the tunnel URL visitors are told (a proxy).
    pub advertise_tunnel: Option<String>,
    /// An operator certificate chain and key (PEM files) instead of the development CA.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// The HTTPS listen address; `None`: 127.0.0.1 on a free port. A restarted server passes
    /// its predecessor's, with its `state_dir`.
    pub listen: Option<std::net::SocketAddr>,
    /// The state directory (development CA); `None`: a fresh temporary one.
    pub state_dir: Option<PathBuf>,
    /// Per-client budgets (`--limits`); `None`: the config's or the defaults.
    pub limits: Option<glance_server::guard::LimitsConfig>,
}

/// See the module documentation.
pub struct TestServer {
    server: Arc<Server>,
    rt: Option<tokio::runtime::Runtime>,
    ready: ReadyInfo,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("ready", &self.ready)
            .finish()
    }
}

impl TestServer {
    /// A server with the development group and every default.
    pub async fn start() -> Result<TestServer> {
        TestServer::start_with(TestServerOptions::default()).await
    }

    /// A server with the given TOML config text.
    pub async fn with_config(toml: &str) -> Result<TestServer> {
        TestServer::start_with(TestServerOptions {
            config_toml: Some(toml.into()),
            ..Default::default()
        })
        .await
    }

    pub async fn start_with(o: TestServerOptions) -> Result<TestServer> {
        let dir = tempfile::Builder::new().prefix("glance-test-").tempdir()?;
        let mut opts = ServerOptions::new(
            o.listen.unwrap_or_else(|| ([127, 0, 0, 1], 0).into()),
            o.state_dir
                .clone()
                .unwrap_or_else(|| dir.path().to_path_buf()),
        );
        if let Some(t) = &o.config_toml {
            opts.config = Some(Config::from_toml(t)?);
        }
        if let Some(n) = o.agent_queue_bytes {
            opts.agent_queue_bytes = n;
        }
        if let Some(t) = o.timing {
            opts.timing = t;
        }
        opts.advertise_direct = o.advertise_direct.clone();
        opts.advertise_tunnel = o.advertise_tunnel.clone();
        opts.cert = o.cert.clone();
        opts.limits = o.limits.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("glance-test-server")
            .enable_all()
            .build()?;
        let server = rt
            .spawn(Server::start(opts))
            .await
            .map_err(|e| TestError::Protocol(format!("server start task: {e}")))??;
        let ready = server.ready().clone();
        Ok(TestServer {
            server: Arc::new(server),
            rt: Some(rt),
            ready,
            dir,
        })
    }

    /// The ready information (what the binary prints).
    pub fn ready(&self) -> &ReadyInfo {
        &self.ready
    }

    /// The running server (for `stats()` and friends).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Snapshots of every live session.
    pub fn stats(&self) -> ServerStats {
        self.server().stats()
    }

    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.shutdown();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
