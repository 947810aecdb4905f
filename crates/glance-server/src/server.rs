//! [`Server`]: binds both listeners, builds the ready information and runs the relay
//! in-process until shut down (used by the binary and by other crates' tests).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::auth::AuthService;
use crate::config::{host_port, Config, ServerOptions};
use crate::error::ServerError;
use crate::guard::conn::{raise_file_limit, ConnBudget};
use crate::http::{self, AppState};
use crate::presence::hub::PresenceHub;
use crate::ready::ReadyInfo;
use crate::relay::{Registry, SessionStats};
use crate::state::{Journal, Secrets};
use crate::{direct, tls};

/// A snapshot of the server's sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStats {
    pub sessions: Vec<SessionStats>,
}

impl ServerStats {
    /// The session `key` of `group_id`, if live.
    pub fn session(&self, group_id: u32, key: &str) -> Option<&SessionStats> {
        self.sessions
            .iter()
            .find(|s| s.group_id == group_id && s.key == key)
    }
}

/// A running server. Dropping it (or [`Server::shutdown`]) stops the listeners, ends every
/// session and closes every connection.
#[derive(Debug)]
pub struct Server {
    ready: ReadyInfo,
    registry: Arc<Registry>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    https_addr: SocketAddr,
    direct_addr: SocketAddr,
    /// The session journal (written in the background; flushed at shutdown).
    journal: Arc<Journal>,
    budget: Arc<ConnBudget>,
}

impl Server {
    /// Binds both listeners and starts serving on the current tokio runtime.
    pub async fn start(opts: ServerOptions) -> Result<Server, ServerError> {
        opts.validate()?;
        let config = match opts.config.clone() {
            Some(mut c) => {
                c.validate()?;
                c
            }
            None => Config::development(),
        };
        let config = match &opts.limits {
            Some(l) => {
                l.validate()?;
                Config {
                    limits: l.clone(),
                    ..config
                }
            }
            None => config,
        };
        let host = opts.host();
        let tls = tls::setup(&opts.state_dir, &host, opts.cert.as_ref())?;
        // Credentials that must outlive a restart (the development token and api_key, the
        // JWT secret when none is configured).
        let secrets = Secrets::load_or_create(&opts.state_dir)?;
        let config = secrets.apply(config, opts.config.is_none());
        let https_l = TcpListener::bind(opts.listen)
            .await
            .map_err(|source| ServerError::Bind {
                what: "HTTPS",
                addr: opts.listen,
                source,
            })?;
        let direct_want = opts.direct_addr();
        let direct_l =
            TcpListener::bind(direct_want)
                .await
                .map_err(|source| ServerError::Bind {
                    what: "direct visitor connections",
                    addr: direct_want,
                    source,
                })?;
        let local = |l: &TcpListener, addr: SocketAddr| {
            l.local_addr().map_err(|source| ServerError::Bind {
                what: "a listener's address",
                addr,
                source,
            })
        };
        let https_addr = local(&https_l, opts.listen)?;
        let direct_addr = local(&direct_l, direct_want)?;

        let budget = Arc::new(ConnBudget::new(&config.limits, raise_file_limit()));
        log::info!(
            "connections: at most {} open, {} per address",
            budget.max(),
            budget.per_address()
        );
        let dev_token = secrets.dev_token.clone();
        let registry = Arc::new(
            Registry::new(&config, dev_token.clone(), opts.agent_queue_bytes)
                .with_resume_window(opts.timing.resume_window),
        );
        // The cluster (issue 16): this instance's name, and the engine if one is given.
        let cluster_url = opts.cluster.clone().or_else(|| config.cluster.url.clone());
        let instance = opts
            .instance_name
            .clone()
            .or_else(|| config.cluster.instance_name.clone())
            .unwrap_or_else(|| format!("{host}-{}", https_addr.port()).replace(['[', ']'], ""));
        crate::cluster::check_name(&instance).map_err(ServerError::Config)?;
        let cluster = match &cluster_url {
            Some(url) => {
                crate::cluster::check_url(url).map_err(ServerError::Config)?;
                let info = crate::cluster::InstanceInfo {
                    name: instance.clone(),
                    session_url: format!("https://{}", host_port(&host, https_addr.port())),
                    host: host.clone(),
                    https_port: https_addr.port(),
                    direct_port: direct_addr.port(),
                };
                let c = crate::cluster::Cluster::connect(url, info)
                    .await
                    .map_err(|e| ServerError::Cluster(format!("{url}: {e}")))?;
                registry.set_cluster(c.clone());
                log::info!("cluster: instance {instance} joined the engine at {url}");
                Some(c)
            }
            None => None,
        };
        // Sessions of the previous run come back with their visitors detached.
        let journal = Arc::new(match &cluster {
            Some(_) => Journal::named(&opts.state_dir, &format!("sessions.{instance}.json")),
            None => Journal::new(&opts.state_dir),
        });
        let restored = registry.restore(journal.load());
        if restored > 0 {
            log::info!("restored {restored} session(s) from the journal");
        }
        let session_url = format!("https://{}", host_port(&host, https_addr.port()));
        let dev_group = registry.dev_group().clone();
        let ready = ReadyInfo {
            agent_url: format!("{session_url}/agent"),
            agent_js: format!("{session_url}/agent/agent.js"),
            presence_url: format!("wss://{}/ws/presence", host_port(&host, https_addr.port())),
            session_url,
            ca_cert: tls
                .ca_cert
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            agent_token: dev_token,
            group_id: dev_group.id,
            api_key: dev_group.api_key.clone(),
            direct_addr: direct_addr.to_string(),
            https_addr: https_addr.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            instance,
            cluster: cluster_url.unwrap_or_default(),
        };

        let auth = Arc::new(AuthService::new(&config, registry.clone()));
        let auth_shared = auth.clone();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let presence = Arc::new(PresenceHub::with_limits(&config.presence));
        let state = Arc::new(AppState {
            registry: registry.clone(),
            host,
            https_port: https_addr.port(),
            direct_port: direct_addr.port(),
            advertise_direct: opts.advertise_direct.clone(),
            advertise_tunnel: opts.advertise_tunnel.clone(),
            timing: opts.timing,
            shutdown: shutdown_rx.clone(),
            agent_slots: Arc::new(Semaphore::new(http::MAX_AGENT_CONNECTIONS)),
            auth,
            own_origin: ready.session_url.clone(),
            dev_mode: opts.config.is_none(),
            presence: presence.clone(),
            request_timeout: config.limits.request_timeout(),
            cluster: cluster.clone(),
        });
        let sweeper = {
            let hub = presence.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    hub.sweep();
                }
            })
        };
        let mut tasks = vec![
            sweeper,
            journal.spawn_writer(registry.clone()),
            tokio::spawn(http::run_listener(
                https_l,
                TlsAcceptor::from(tls.https.clone()),
                http::router(state),
                opts.timing,
                budget.clone(),
                shutdown_rx.clone(),
            )),
            tokio::spawn(direct::run_listener(
                direct_l,
                TlsAcceptor::from(tls.direct.clone()),
                registry.clone(),
                opts.timing,
                budget.clone(),
                shutdown_rx,
            )),
        ];
        if let Some(c) = &cluster {
            tasks.extend(c.spawn(&registry, &presence, &auth_shared));
        }
        log::info!("HTTPS on {https_addr}, direct visitor connections on {direct_addr}");
        Ok(Server {
            ready,
            registry,
            shutdown,
            tasks,
            https_addr,
            direct_addr,
            journal,
            budget,
        })
    }

    /// Connections open now (both listeners) and the cap on them.
    pub fn connections(&self) -> (usize, usize) {
        (self.budget.open(), self.budget.max())
    }

    /// What the ready line reports.
    pub fn ready(&self) -> &ReadyInfo {
        &self.ready
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    pub fn direct_addr(&self) -> SocketAddr {
        self.direct_addr
    }

    /// The per-agent bound on queued update bytes.
    pub fn agent_queue_bytes(&self) -> usize {
        self.registry.agent_queue_bytes()
    }

    /// Snapshots of every live session, its agents and their queues.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            sessions: self.registry.stats(),
        }
    }

    /// Stops accepting, ends every session (agents and visitors are told) and closes every
    /// connection.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        // The sessions as they are now, so a restart restores them; nothing after this.
        self.journal.flush(&self.registry);
        self.registry.shutdown();
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}
