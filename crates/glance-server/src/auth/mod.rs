//! Agent authorization (docs/AUTH.md): login keys exchanged for group-specific tokens,
//! tokens and join tickets checked on every agent request, roles, the origin whitelist, and
//! the throttles on guessing. Every refusal looks the same from outside ("unauthorized").

pub mod throttle;

use std::sync::Arc;

use glance_auth::{unix_now, verify_login_key, Claims, JwtKey, AUD_AGENT, AUD_JOIN, ISSUER};
use glance_protocol::AgentInfo;
use rand::RngCore;

use crate::config::{Config, GroupConfig};
use crate::relay::registry::secret_eq;
use crate::relay::session::AgentIdentity;
use crate::relay::Registry;
use throttle::Throttle;

/// Longest authorization token a group issues, in minutes (seed 003: up to two hours).
pub const MAX_TOKEN_MINUTES: u64 = 120;
/// How long the join ticket in a lookup's `agentjoinurl` stays good.
pub const TICKET_SECS: u64 = 300;
/// Longest partner user id accepted.
pub const MAX_PARTNER_USER_ID: usize = 128;

/// A refusal. Outside, every kind reads "unauthorized"; the kind is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("too many attempts")]
    Throttled,
}

fn unauthorized(why: impl Into<String>) -> Refused {
    Refused::Unauthorized(why.into())
}

/// A token request (`POST /api/auth/token`), already parsed.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub partner_id: u32,
    pub partner_user_id: String,
    pub login_key: String,
    /// Minutes, 1 to [`MAX_TOKEN_MINUTES`].
    pub duration_minutes: u64,
}

/// An issued token and what it says.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub claims: Claims,
}

/// What a join is allowed: the group, who the agent is, and for tickets the one key.
#[derive(Debug, Clone)]
pub struct Grant {
    pub group: u32,
    pub identity: AgentIdentity,
    /// The throttle key of this agent.
    pub subject: String,
}

/// See the module documentation.
#[derive(Debug)]
pub struct AuthService {
    jwt: JwtKey,
    /// The groups and the development token.
    registry: Arc<Registry>,
    lookup_by_agent: Throttle,
    lookup_by_ip: Throttle,
    token_by_ip: Throttle,
    /// In a cluster: where this instance's spending goes, to be spent on every other
    /// instance too (crate::cluster), so that N instances do not allow N times the guesses.
    shared: std::sync::OnceLock<tokio::sync::mpsc::Sender<Spent>>,
}

/// One try spent on a throttle, as shared between the instances of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Spent {
    /// A lookup or join of a key that does not exist.
    Lookup { subject: String, ip: String },
    /// A token request.
    Token { ip: String },
}

/// The Glance-address-like user name of an agent.
pub fn username(claims: &Claims) -> String {
    format!("{}.{}.glance", claims.sub, claims.pid)
}

/// The agent as `joined` describes it.
pub fn agent_info(claims: &Claims) -> AgentInfo {
    AgentInfo {
        username: username(claims),
        partnerid: claims.pid,
        partneruserid: claims.sub.clone(),
        name: claims.name.clone(),
        title: String::new(),
    }
}

impl AuthService {
    pub fn new(config: &Config, registry: Arc<Registry>) -> AuthService {
        let a = &config.auth;
        let secret = match &a.jwt_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                let mut b = vec![0u8; 32];
                rand::rng().fill_bytes(&mut b);
                b
            }
        };
        AuthService {
            jwt: JwtKey::new(&secret),
            registry,
            lookup_by_agent: Throttle::new(a.lookup_burst, a.lookup_per_minute),
            lookup_by_ip: Throttle::new(a.ip_lookup_burst, a.ip_lookup_per_minute),
            token_by_ip: Throttle::new(a.token_burst, a.token_per_minute),
            shared: std::sync::OnceLock::new(),
        }
    }

    /// Sends every try spent here to `tx` from now on (the cluster shares them).
    pub fn share_spending(&self, tx: tokio::sync::mpsc::Sender<Spent>) {
        let _ = self.shared.set(tx);
    }

    /// Spends here a try another instance spent.
    pub fn spend_remote(&self, s: &Spent) {
        match s {
            Spent::Lookup { subject, ip } => {
                self.lookup_by_agent.spend(subject);
                self.lookup_by_ip.spend(ip);
            }
            Spent::Token { ip } => self.token_by_ip.spend(ip),
        }
    }

    fn tell(&self, s: Spent) {
        if let Some(tx) = self.shared.get() {
            if tx.try_send(s).is_err() {
                log::debug!("cluster: throttle spending not shared (queue full or closed)");
            }
        }
    }

    pub fn group(&self, id: u32) -> Option<&Arc<GroupConfig>> {
        self.registry.group(id)
    }

    /// Whether any group lets pages of `origin` call the agent API.
    pub fn any_group_allows(&self, origin: &str) -> bool {
        self.registry.groups().any(|g| g.allows_origin(origin))
    }

    /// Exchanges a login key for an authorization token.
    pub fn issue(&self, req: &TokenRequest, ip: &str) -> Result<Issued, Refused> {
        if !self.token_by_ip.take(ip) {
            return Err(Refused::Throttled);
        }
        self.tell(Spent::Token { ip: ip.to_string() });
        let group = self
            .registry
            .group(req.partner_id)
            .ok_or_else(|| unauthorized(format!("unknown partner id {}", req.partner_id)))?;
        if req.partner_user_id.is_empty() || req.partner_user_id.len() > MAX_PARTNER_USER_ID {
            return Err(unauthorized("partner user id empty or too long"));
        }
        let now = unix_now();
        verify_login_key(
            &group.api_key,
            req.partner_id,
            &req.partner_user_id,
            &req.login_key,
            now,
        )
        .map_err(|e| unauthorized(format!("login key: {e}")))?;
        let (role, settings) = group.role_of(&req.partner_user_id);
        let minutes = req.duration_minutes.clamp(1, MAX_TOKEN_MINUTES);
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUD_AGENT.into(),
            sub: req.partner_user_id.clone(),
            grp: group.id,
            pid: req.partner_id,
            role,
            ra: settings.remote_assist,
            name: String::new(),
            iat: now,
            exp: now + minutes * 60,
            key: None,
        };
        Ok(Issued {
            token: self.jwt.sign(&claims),
            claims,
        })
    }

    /// Checks an agent token (`Authorization: Bearer ...`) for its group.
    pub fn verify_agent(&self, token: &str) -> Result<Claims, Refused> {
        let claims = self
            .jwt
            .verify(token, AUD_AGENT, unix_now())
            .map_err(|e| unauthorized(format!("token: {e}")))?;
        self.registry
            .group(claims.grp)
            .ok_or_else(|| unauthorized("token for an unknown group"))?;
        Ok(claims)
    }

    /// Whether the token's agent may view sessions (its role now, not when it was issued).
    pub fn may_view(&self, claims: &Claims) -> bool {
        self.registry
            .group(claims.grp)
            .is_some_and(|g| g.role_of(&claims.sub).1.view)
    }

    /// A ticket that lets the holder of `claims` join session `key` for [`TICKET_SECS`].
    pub fn ticket(&self, claims: &Claims, key: &str) -> String {
        let now = unix_now();
        self.jwt.sign(&Claims {
            aud: AUD_JOIN.into(),
            iat: now,
            exp: (now + TICKET_SECS).min(claims.exp.max(now + 1)),
            key: Some(key.to_string()),
            ..claims.clone()
        })
    }

    /// Decides whether `token` may join session `key` of `group_id` (the token's group when
    /// absent). Accepts an agent token, a join ticket for that key, a static agent token of
    /// the group, or the development token.
    pub fn authorize_join(
        &self,
        token: &str,
        group_id: Option<u32>,
        key: &str,
        default_group: u32,
    ) -> Result<Grant, Refused> {
        if token.is_empty() {
            return Err(unauthorized("no token"));
        }
        if secret_eq(token, self.registry.dev_token()) {
            return Ok(Grant {
                group: group_id.unwrap_or(default_group),
                identity: AgentIdentity {
                    info: None,
                    remote_assist: true,
                },
                subject: "dev".into(),
            });
        }
        if token.matches('.').count() == 2 {
            let now = unix_now();
            let claims = match self.jwt.verify(token, AUD_AGENT, now) {
                Ok(c) => c,
                Err(_) => {
                    let c = self
                        .jwt
                        .verify(token, AUD_JOIN, now)
                        .map_err(|e| unauthorized(format!("token: {e}")))?;
                    if c.key.as_deref() != Some(key) {
                        return Err(unauthorized("the ticket is for another session"));
                    }
                    c
                }
            };
            if group_id.is_some_and(|g| g != claims.grp) {
                return Err(unauthorized("the token is for another group"));
            }
            let group = self
                .registry
                .group(claims.grp)
                .ok_or_else(|| unauthorized("token for an unknown group"))?;
            let (_, role) = group.role_of(&claims.sub);
            if !role.view {
                return Err(unauthorized("the agent's role may not view sessions"));
            }
            return Ok(Grant {
                group: claims.grp,
                identity: AgentIdentity {
                    info: Some(agent_info(&claims)),
                    remote_assist: role.remote_assist,
                },
                subject: format!("{}/{}", claims.grp, claims.sub),
            });
        }
        // A static agent token of a group.
        let found = match group_id {
            Some(g) => self.registry.group(g).filter(|g| has_token(g, token)),
            None => self.registry.groups().find(|g| has_token(g, token)),
        };
        let group = found.ok_or_else(|| unauthorized("the token is not valid"))?;
        Ok(Grant {
            group: group.id,
            identity: AgentIdentity {
                info: None,
                remote_assist: group.rc_allowed,
            },
            subject: format!("{}/static", group.id),
        })
    }

    /// Whether the agent `subject` from `ip` may try another lookup or join.
    pub fn may_look_up(&self, subject: &str, ip: &str) -> bool {
        self.lookup_by_agent.allows(subject) && self.lookup_by_ip.allows(ip)
    }

    /// Records a lookup or join of a key that does not exist.
    pub fn missed(&self, subject: &str, ip: &str) {
        self.lookup_by_agent.spend(subject);
        self.lookup_by_ip.spend(ip);
        self.tell(Spent::Lookup {
            subject: subject.to_string(),
            ip: ip.to_string(),
        });
    }
}

fn has_token(g: &GroupConfig, token: &str) -> bool {
    g.agent_tokens.iter().any(|t| secret_eq(t, token))
}
