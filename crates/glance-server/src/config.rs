//! Configuration: the command line ([`Cli`]), the options the library starts from
//! ([`ServerOptions`]) and the optional TOML file of groups ([`Config`], [`GroupConfig`]),
//! with defaults and validation that names the offending field.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use glance_protocol::limits::{MAX_KEY_LEN, MAX_TEXT_LEN};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;

use crate::error::ServerError;

/// Default size of each agent's send queue for frame updates, in bytes.
pub const DEFAULT_AGENT_QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// The command line of the `glance-server` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "glance-server", version, about = "The Glance relay server")]
pub struct Cli {
    /// HTTPS address (agents, visitor discovery). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Directory for the server's state, created if missing: the development CA (ca.pem,
    /// ca.key.pem), kept credentials (secrets.json) and the session journal (sessions.json).
    #[arg(long)]
    pub state_dir: PathBuf,
    /// TOML file of groups (`[[group]]` tables). Without it one development group runs.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address of the visitors' direct TLS listener (default: the listen IP, port 0).
    #[arg(long)]
    pub direct_listen: Option<SocketAddr>,
    /// Host name used in URLs and in the certificate (default: the listen IP).
    #[arg(long)]
    pub public_host: Option<String>,
    /// The direct address visitors are told to connect to (HOST:PORT), when it differs from
    /// the listener's: port forwarding, a TCP load balancer, a test proxy.
    #[arg(long)]
    pub advertise_direct: Option<String>,
    /// The HOST:PORT visitors are told to open the tunnel (`wss://HOST:PORT/ws/visitor`) on,
    /// when it differs from the HTTPS listener's.
    #[arg(long)]
    pub advertise_tunnel: Option<String>,
    /// Bytes of frame updates queued for one agent before it is treated as slow.
    #[arg(long, default_value_t = DEFAULT_AGENT_QUEUE_BYTES)]
    pub agent_queue_bytes: usize,
    /// PEM certificate chain to use instead of one issued by the development CA.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key for --cert.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Without --config the /agent page hands every visitor of it the development agent
    /// token (valid for every group), so such a server listens only on loopback; this flag
    /// lets it listen anywhere all the same (a throwaway test network only).
    #[arg(long)]
    pub dev_insecure: bool,
    /// TOML file of per-client budgets (the fields of the config file's `[limits]` table,
    /// docs/DECISIONS.md); overrides that table, and works without --config too.
    #[arg(long)]
    pub limits: Option<PathBuf>,
    /// Join the instances sharing this engine (one service behind a load balancer): a Redis
    /// URL, `redis://HOST:PORT[/DB]` (or `rediss://` for TLS). Overrides the config file's
    /// `[cluster] url`. Without it the server stands alone.
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// This instance's name in the cluster (letters, digits, `-_.:`), unique among the
    /// instances sharing the engine. Default: derived from the listen address
    /// (`HOST-PORT`, the public host and HTTPS port).
    #[arg(long, value_name = "NAME")]
    pub instance_name: Option<String>,
}

impl Cli {
    /// Turns the command line into library options, reading the config file if given.
    pub fn into_options(self) -> Result<ServerOptions, ServerError> {
        let config = match &self.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| ServerError::io(path.clone(), e))?;
                Some(Config::from_toml(&text).map_err(|e| match e {
                    ServerError::Config(m) => {
                        ServerError::Config(format!("{}: {m}", path.display()))
                    }
                    other => other,
                })?)
            }
            None => None,
        };
        let limits = match &self.limits {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| ServerError::io(path.clone(), e))?;
                let l: crate::guard::LimitsConfig = toml::from_str(&text)
                    .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?;
                l.validate()
                    .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?;
                Some(l)
            }
            None => None,
        };
        Ok(ServerOptions {
            limits,
            listen: self.listen,
            state_dir: self.state_dir,
            config,
            direct_listen: self.direct_listen,
            public_host: self.public_host,
            advertise_direct: self.advertise_direct,
            advertise_tunnel: self.advertise_tunnel,
            agent_queue_bytes: self.agent_queue_bytes,
            cert: self.cert.zip(self.key),
            timing: Timing::default(),
            dev_insecure: self.dev_insecure,
            cluster: self.cluster,
            instance_name: self.instance_name,
        })
    }
}

/// Heartbeat and timeout settings (fixed by the protocol; tests may shorten them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A `ping` is sent to every peer this often.
    pub ping_interval: Duration,
    /// A connection from which nothing arrives for this long is closed.
    pub idle_timeout: Duration,
    /// TLS handshake plus `hello` (and the visitor's `start_session`) must finish within this.
    pub handshake_timeout: Duration,
    /// A visitor connection from which nothing arrives for this long is dead (visitors ping
    /// every 2 s).
    pub visitor_idle_timeout: Duration,
    /// How long a session whose visitor connection dropped waits for a `resume`.
    pub resume_window: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            ping_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            visitor_idle_timeout: Duration::from_secs(8),
            resume_window: Duration::from_secs(60),
        }
    }
}

/// Everything [`crate::Server::start`] needs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// HTTPS listen address; port 0 binds an ephemeral port.
    pub listen: SocketAddr,
    /// The state directory: the development CA, secrets.json, the session journal.
    pub state_dir: PathBuf,
    /// Groups; `None`: one development group (id 1, random api_key).
    pub config: Option<Config>,
    /// Direct (visitor) listen address; `None`: the listen IP, port 0.
    pub direct_listen: Option<SocketAddr>,
    /// Host name for URLs and the certificate; `None`: the listen IP.
    pub public_host: Option<String>,
    /// Direct address announced to visitors; `None`: the listener's, with the public host.
    pub advertise_direct: Option<String>,
    /// HOST:PORT of the tunnel URL announced to visitors; `None`: the HTTPS listener's.
    pub advertise_tunnel: Option<String>,
    /// Per-agent bound on queued frame-update bytes.
    pub agent_queue_bytes: usize,
    /// A certificate chain and key (PEM files) to use instead of the development CA's.
    pub cert: Option<(PathBuf, PathBuf)>,
    pub timing: Timing,
    /// Allow a server without a config file (the development token on its /agent page) to
    /// listen beyond loopback.
    pub dev_insecure: bool,
    /// Per-client budgets overriding the config's `[limits]` (`None`: the config's, or the
    /// defaults).
    pub limits: Option<crate::guard::LimitsConfig>,
    /// The engine URL of the cluster to join (`None`: the config's `[cluster] url`, or none).
    pub cluster: Option<String>,
    /// The instance's name (`None`: the config's, or `HOST-PORT`).
    pub instance_name: Option<String>,
}

impl ServerOptions {
    /// Options with every default: `listen` on the given address, state in `state_dir`.
    pub fn new(listen: SocketAddr, state_dir: impl Into<PathBuf>) -> ServerOptions {
        ServerOptions {
            listen,
            state_dir: state_dir.into(),
            config: None,
            direct_listen: None,
            public_host: None,
            advertise_direct: None,
            advertise_tunnel: None,
            agent_queue_bytes: DEFAULT_AGENT_QUEUE_BYTES,
            cert: None,
            timing: Timing::default(),
            dev_insecure: false,
            limits: None,
            cluster: None,
            instance_name: None,
        }
    }

    /// The host name used in URLs and the certificate.
    pub fn host(&self) -> String {
        match &self.public_host {
            Some(h) => h.clone(),
            None if self.listen.ip().is_unspecified() => "localhost".into(),
            None => self.listen.ip().to_string(),
        }
    }

    /// The direct listener's address.
    pub fn direct_addr(&self) -> SocketAddr {
        self.direct_listen
            .unwrap_or_else(|| SocketAddr::new(self.listen.ip(), 0))
    }

    pub(crate) fn validate(&self) -> Result<(), ServerError> {
        if self.config.is_none() && !self.dev_insecure && !self.listen.ip().is_loopback() {
            return Err(ServerError::Config(format!(
                "refusing to listen on {} without --config: a server without a config file \
                 runs the development group and hands its agent token (valid for every group) \
                 to anyone who opens /agent. Listen on 127.0.0.1, or give --config FILE with \
                 your groups, or pass --dev-insecure on a network you trust",
                self.listen
            )));
        }
        if self.agent_queue_bytes == 0 {
            return Err(ServerError::Config(
                "agent_queue_bytes must be at least 1".into(),
            ));
        }
        let host = self.host();
        if host.is_empty()
            || host.len() > 253
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'))
        {
            return Err(ServerError::Config(format!(
                "public_host {host:?} is not a host name or IP address"
            )));
        }
        Ok(())
    }
}

/// Formats `host:port`, bracketing IPv6 addresses.
pub fn host_port(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{host}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

/// The TOML configuration file: a list of `[[group]]` tables.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupConfig>,
    /// Agent authorization settings (`[auth]`).
    #[serde(default)]
    pub auth: AuthConfig,
    /// Per-client budgets (`[limits]`, docs/DECISIONS.md).
    #[serde(default)]
    pub limits: crate::guard::LimitsConfig,
    /// Presence socket caps (`[presence]`).
    #[serde(default)]
    pub presence: crate::presence::PresenceLimits,
    /// The SDK releases this service knows (`[sdk]`).
    #[serde(default)]
    pub sdk: SdkConfig,
    /// `[cluster]`: the engine shared with other instances (crate::cluster).
    #[serde(default)]
    pub cluster: ClusterConfig,
}

/// `[sdk]`: what the service tells visitor SDKs about their version (docs/PROTOCOL.md,
/// "Compatibility").
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SdkConfig {
    /// The newest SDK release: an SDK older than it fires EventUpgradeAvailable (once per
    /// init) and goes on. Absent: this server's own version.
    #[serde(default)]
    pub latest: Option<String>,
    /// The oldest SDK release that may start sessions: an older one is refused
    /// (EventUpgradeRequired). Absent: every SDK that speaks the protocol.
    #[serde(default)]
    pub minimum: Option<String>,
}

impl SdkConfig {
    /// The newest release to announce.
    pub fn latest(&self) -> String {
        self.latest
            .clone()
            .unwrap_or_else(|| glance_protocol::version::THIS.to_string())
    }

    /// Why an SDK of `version` may not start sessions, if it may not. An SDK that does not
    /// say its version (older than this check) is let through.
    pub fn refuses(&self, version: &str) -> Option<String> {
        let min = self.minimum.as_deref()?;
        (glance_protocol::version::compare(version, min) == Some(std::cmp::Ordering::Less))
            .then(|| {
                format!(
                    "this service needs Glance SDK {min} or newer; this SDK is {version}: upgrade it"
                )
            })
    }

    fn validate(&self) -> Result<(), String> {
        for (name, v) in [("latest", &self.latest), ("minimum", &self.minimum)] {
            if let Some(v) = v {
                if glance_protocol::version::parse(v).is_none() {
                    return Err(format!(
                        "[sdk] {name} = {v:?} is not a version (dotted numbers, e.g. \"1.4.2\")"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `[cluster]`: `url = "redis://HOST:PORT"` and optionally `instance_name`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub instance_name: Option<String>,
}

/// `[auth]`: the token secret and the throttles on session-key guessing (docs/AUTH.md).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 secret for authorization tokens, at least 32 characters. Absent: a random one
    /// per start (tokens then end with the process). Servers behind one load balancer share it.
    #[serde(default)]
    pub jwt_secret: Option<String>,
    /// Failed lookups or joins (unknown key) one agent may make at once ...
    #[serde(default = "default_lookup_burst")]
    pub lookup_burst: u32,
    /// ... and then per minute.
    #[serde(default = "default_lookup_per_minute")]
    pub lookup_per_minute: u32,
    /// The same for one source address (agents behind one NAT share it).
    #[serde(default = "default_ip_lookup_burst")]
    pub ip_lookup_burst: u32,
    #[serde(default = "default_ip_lookup_per_minute")]
    pub ip_lookup_per_minute: u32,
    /// Token requests (`POST /api/auth/token`) one source address may make at once, then per
    /// minute.
    #[serde(default = "default_token_burst")]
    pub token_burst: u32,
    #[serde(default = "default_token_per_minute")]
    pub token_per_minute: u32,
}

fn default_lookup_burst() -> u32 {
    60
}
fn default_lookup_per_minute() -> u32 {
    30
}
fn default_ip_lookup_burst() -> u32 {
    300
}
fn default_ip_lookup_per_minute() -> u32 {
    120
}
fn default_token_burst() -> u32 {
    30
}
fn default_token_per_minute() -> u32 {
    30
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret: None,
            lookup_burst: default_lookup_burst(),
            lookup_per_minute: default_lookup_per_minute(),
            ip_lookup_burst: default_ip_lookup_burst(),
            ip_lookup_per_minute: default_ip_lookup_per_minute(),
            token_burst: default_token_burst(),
            token_per_minute: default_token_per_minute(),
        }
    }
}

/// Built-in role every group has unless it defines its own `agent` role.
pub const DEFAULT_ROLE: &str = "agent";

/// `[group.roles.NAME]`: what agents with this role may do (seed 003 role settings).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// May look up and view sessions.
    #[serde(default = "default_true")]
    pub view: bool,
    /// May take remote control when the visitor allows it.
    #[serde(default = "default_true", rename = "remoteAssist")]
    pub remote_assist: bool,
}

fn default_key_length() -> usize {
    6
}
fn default_max_sessions() -> usize {
    1000
}
fn default_no_agent_timeout() -> u64 {
    600
}
fn default_max_guests() -> u32 {
    10
}
fn default_true() -> bool {
    true
}

/// One group's settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub id: u32,
    /// The group's visitor token. A `start_session` with a non-empty token must carry this
    /// one; an empty token is accepted unless `require_visitor_token`. Empty in the file: a
    /// random one.
    #[serde(default)]
    pub api_key: String,
    /// Refuse `start_session` without a token (default false: visitors of the seed SDK may
    /// start sessions with only their group id).
    #[serde(default)]
    pub require_visitor_token: bool,
    /// Digits of a random session key.
    #[serde(default = "default_key_length")]
    pub random_key_length: usize,
    /// Simultaneous sessions allowed in the group.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// Seconds a session may run without any agent before it ends with `timed_out`.
    #[serde(default = "default_no_agent_timeout")]
    pub no_agent_timeout_secs: u64,
    /// Agents allowed in one session (a visitor's `max_guests` may lower it).
    #[serde(default = "default_max_guests")]
    pub max_guests: u32,
    #[serde(default = "default_true")]
    pub rc_allowed: bool,
    #[serde(default = "default_true")]
    pub presence_enabled: bool,
    /// Agent tokens valid for this group (the development token is valid for every group).
    #[serde(default)]
    pub agent_tokens: Vec<String>,
    /// The group's terms and conditions page: visitors with the default UI confirm it before
    /// StartSession (empty: no confirmation).
    #[serde(default)]
    pub terms_url: String,
    /// Origins (`scheme://host[:port]`) whose pages may call the agent API (CORS).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Roles by name; `agent` is built in (view, and remoteAssist when `rc_allowed`).
    #[serde(default)]
    pub roles: std::collections::BTreeMap<String, RoleConfig>,
    /// The role of partner users not listed in `users`.
    #[serde(default = "default_role_name")]
    pub default_role: String,
    /// Partner user id -> role name.
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, String>,
}

fn default_role_name() -> String {
    DEFAULT_ROLE.to_string()
}

impl GroupConfig {
    /// A group with every default and a random api_key.
    pub fn development(id: u32) -> GroupConfig {
        GroupConfig {
            id,
            api_key: random_token(),
            require_visitor_token: false,
            random_key_length: default_key_length(),
            max_sessions: default_max_sessions(),
            no_agent_timeout_secs: default_no_agent_timeout(),
            max_guests: default_max_guests(),
            rc_allowed: true,
            presence_enabled: true,
            agent_tokens: Vec::new(),
            terms_url: String::new(),
            allowed_origins: Vec::new(),
            roles: Default::default(),
            default_role: default_role_name(),
            users: Default::default(),
        }
    }

    /// The role of `partner_user_id`: its name and settings.
    pub fn role_of(&self, partner_user_id: &str) -> (String, RoleConfig) {
        let name = self
            .users
            .get(partner_user_id)
            .unwrap_or(&self.default_role)
            .clone();
        let role = self.roles.get(&name).copied().unwrap_or(RoleConfig {
            // Validation allows an unknown name only for the built-in role.
            view: name == DEFAULT_ROLE,
            remote_assist: name == DEFAULT_ROLE && self.rc_allowed,
        });
        let role = RoleConfig {
            remote_assist: role.remote_assist && self.rc_allowed,
            ..role
        };
        (name, role)
    }

    /// Whether pages of `origin` may call the agent API for this group.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }

    pub fn no_agent_timeout(&self) -> Duration {
        Duration::from_secs(self.no_agent_timeout_secs)
    }
}

impl Config {
    /// Parses and validates TOML text. Missing api_keys are filled with random ones.
    pub fn from_toml(text: &str) -> Result<Config, ServerError> {
        let mut c: Config = toml::from_str(text).map_err(|e| ServerError::Config(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// The single development group of a server started without a config file.
    pub fn development() -> Config {
        Config {
            groups: vec![GroupConfig::development(1)],
            auth: AuthConfig::default(),
            limits: Default::default(),
            presence: Default::default(),
            sdk: Default::default(),
            cluster: Default::default(),
        }
    }

    /// Checks every field; fills empty api_keys. The error names the bad field.
    pub fn validate(&mut self) -> Result<(), ServerError> {
        self.sdk.validate().map_err(ServerError::Config)?;
        if self.groups.is_empty() {
            return Err(ServerError::Config(
                "no [[group]] is defined; define at least one".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, g) in self.groups.iter_mut().enumerate() {
            let at = |field: &str, msg: String| {
                ServerError::Config(format!("group[{i}].{field}: {msg}"))
            };
            if g.id == 0 {
                return Err(at("id", "must be at least 1".into()));
            }
            if !seen.insert(g.id) {
                return Err(at("id", format!("group id {} is defined twice", g.id)));
            }
            if g.api_key.is_empty() {
                g.api_key = random_token();
            }
            check_token(&g.api_key).map_err(|m| at("api_key", m))?;
            if g.random_key_length == 0 || g.random_key_length > MAX_KEY_LEN {
                return Err(at(
                    "random_key_length",
                    format!(
                        "must be between 1 and {MAX_KEY_LEN}, got {}",
                        g.random_key_length
                    ),
                ));
            }
            if g.max_sessions == 0 {
                return Err(at("max_sessions", "must be at least 1".into()));
            }
            if g.no_agent_timeout_secs == 0 || g.no_agent_timeout_secs > 7 * 24 * 3600 {
                return Err(at(
                    "no_agent_timeout_secs",
                    format!(
                        "must be between 1 and 604800, got {}",
                        g.no_agent_timeout_secs
                    ),
                ));
            }
            if g.max_guests == 0 || g.max_guests > 1000 {
                return Err(at(
                    "max_guests",
                    format!("must be between 1 and 1000, got {}", g.max_guests),
                ));
            }
            for (j, t) in g.agent_tokens.iter().enumerate() {
                check_token(t).map_err(|m| at(&format!("agent_tokens[{j}]"), m))?;
            }
            if !g.terms_url.is_empty()
                && (!(g.terms_url.starts_with("https://") || g.terms_url.starts_with("http://"))
                    || g.terms_url.len() > 2000
                    || g.terms_url.chars().any(char::is_control))
            {
                return Err(at(
                    "terms_url",
                    "must be an http(s) URL of at most 2000 characters".into(),
                ));
            }
            for (j, o) in g.allowed_origins.iter().enumerate() {
                check_origin(o).map_err(|m| at(&format!("allowed_origins[{j}]"), m))?;
            }
            let known = |r: &str| r == DEFAULT_ROLE || g.roles.contains_key(r);
            if !known(&g.default_role) {
                return Err(at(
                    "default_role",
                    format!("role {:?} is not defined in [group.roles]", g.default_role),
                ));
            }
            for (user, role) in &g.users {
                if !known(role) {
                    return Err(at(
                        &format!("users.{user}"),
                        format!("role {role:?} is not defined in [group.roles]"),
                    ));
                }
            }
        }
        if let Some(s) = &self.auth.jwt_secret {
            if s.len() < 32 {
                return Err(ServerError::Config(
                    "auth.jwt_secret: must be at least 32 characters".into(),
                ));
            }
        }
        self.limits.validate()?;
        let a = &self.auth;
        for (field, v) in [
            ("lookup_burst", a.lookup_burst),
            ("lookup_per_minute", a.lookup_per_minute),
            ("ip_lookup_burst", a.ip_lookup_burst),
            ("ip_lookup_per_minute", a.ip_lookup_per_minute),
            ("token_burst", a.token_burst),
            ("token_per_minute", a.token_per_minute),
        ] {
            if v == 0 {
                return Err(ServerError::Config(format!(
                    "auth.{field}: must be at least 1"
                )));
            }
        }
        Ok(())
    }
}

fn check_token(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Err("must not be empty".into());
    }
    if t.len() > MAX_TEXT_LEN {
        return Err(format!("is longer than {MAX_TEXT_LEN} bytes"));
    }
    if !t.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".into());
    }
    Ok(())
}

/// An origin as browsers send it: `http` or `https`, a host, an optional port, nothing else.
fn check_origin(o: &str) -> Result<(), String> {
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
        .ok_or_else(|| format!("{o:?} must start with https:// or http://"))?;
    if rest.is_empty()
        || !rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']'))
    {
        return Err(format!(
            "{o:?} is not an origin (scheme://host[:port], no path or trailing slash)"
        ));
    }
    Ok(())
}

/// A random 32-character alphanumeric token.
pub fn random_token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in() {
        let c = Config::from_toml("[[group]]\nid = 7\n").unwrap();
        let g = &c.groups[0];
        assert_eq!(g.id, 7);
        assert_eq!(g.random_key_length, 6);
        assert_eq!(g.max_sessions, 1000);
        assert_eq!(g.no_agent_timeout_secs, 600);
        assert_eq!(g.max_guests, 10);
        assert!(g.rc_allowed && g.presence_enabled);
        assert_eq!(g.api_key.len(), 32);
    }

    #[test]
    fn cluster_table() {
        let c = Config::from_toml(
            "[cluster]\nurl = \"redis://127.0.0.1:6379\"\ninstance_name = \"a\"\n[[group]]\nid = 7\n",
        )
        .unwrap();
        assert_eq!(c.cluster.url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(c.cluster.instance_name.as_deref(), Some("a"));
        assert!(Config::from_toml("[cluster]\nurll = \"x\"\n[[group]]\nid = 7\n").is_err());
        assert_eq!(
            Config::from_toml("[[group]]\nid = 7\n")
                .unwrap()
                .cluster
                .url,
            None
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = Config::from_toml("[[group]]\nid = 1\nrandom_key_length = 0\n").unwrap_err();
        assert!(e.to_string().contains("random_key_length"), "{e}");
        let e = Config::from_toml("[[group]]\nid = 1\nmax_sesions = 3\n").unwrap_err();
        assert!(e.to_string().contains("max_sesions"), "{e}");
        let e = Config::from_toml("[[group]]\nid = 1\n[[group]]\nid = 1\n").unwrap_err();
        assert!(e.to_string().contains("group[1].id"), "{e}");
        let e = Config::from_toml("[[group]]\nid = 1\nagent_tokens = [\"a b\"]\n").unwrap_err();
        assert!(e.to_string().contains("agent_tokens[0]"), "{e}");
        assert!(Config::from_toml("").is_err());
    }

    #[test]
    fn host_port_brackets_ipv6() {
        assert_eq!(host_port("::1", 8), "[::1]:8");
        assert_eq!(host_port("127.0.0.1", 8), "127.0.0.1:8");
        assert_eq!(host_port("example.com", 8), "example.com:8");
    }
}
