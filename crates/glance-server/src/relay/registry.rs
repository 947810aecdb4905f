//! The registry of live sessions, keyed by (group, key): starting sessions (group checks,
//! visitor token, random or given keys, replacement, the group's session limit), agents
//! joining by key with a token, and forgetting sessions once they end.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use glance_protocol::control::validate_key;
use glance_protocol::{AgentStatus, Control, EndReason, StartFailReason, StartSession};
use rand::Rng;

use super::agent_queue::SendQueue;
use super::session::{AgentIdentity, Ending, JoinError, Session, SessionParams, SessionStats};
use crate::config::{Config, GroupConfig};
use crate::guard::starts::StartBudget;
use crate::guard::{address_key, LimitsConfig};
use crate::state::SessionRecord;

/// Random keys tried before giving up (or scanning a small key space).
const RANDOM_KEY_TRIES: usize = 64;
/// Key spaces up to this size are scanned for a free key when random tries fail.
const SCANNABLE_KEY_SPACE: u64 = 1_000_000;

/// A refused `start_session`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRefused {
    pub reason: StartFailReason,
    pub message: String,
}

fn refused(reason: StartFailReason, message: impl Into<String>) -> StartRefused {
    StartRefused {
        reason,
        message: message.into(),
    }
}

/// A refused `join`: the agent status code and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRefused {
    pub status: AgentStatus,
    pub reason: String,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Registry {
    groups: BTreeMap<u32, Arc<GroupConfig>>,
    dev_group: Arc<GroupConfig>,
    dev_token: String,
    agent_queue_bytes: usize,
    sessions: Mutex<HashMap<u32, HashMap<String, Arc<Session>>>>,
    next_call_id: AtomicU64,
    next_agent_id: AtomicU64,
    /// How long a session whose visitor dropped waits for a `resume`.
    resume_window: std::time::Duration,
    /// Sessions that ended lately, by resume token: how (see [`Registry::ended_by_token`]).
    ended: Mutex<Endings>,
    limits: LimitsConfig,
    starts: StartBudget,
    /// What visitors are told about SDK versions (`[sdk]`).
    sdk: crate::config::SdkConfig,
    /// The engine shared with other instances (`--cluster`), if any (crate::cluster).
    cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
}

/// Whether `req` comes from the visitor that holds `old`: a lost (detached) session of a
/// group that requires visitor tokens, started with the group's token and the same visitor
/// id. Anonymous starts never take a live key: an anonymous visitor proves nothing.
fn same_visitor(
    group: &GroupConfig,
    old: &Session,
    req: &StartSession,
    token_verified: bool,
) -> bool {
    let p = old.params();
    group.require_visitor_token
        && token_verified
        && p.token_verified
        && p.visitor_id.is_some()
        && p.visitor_id == req.visitor_id
        && old.is_detached()
}

/// Compares secrets without stopping at the first difference.
pub(crate) fn secret_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Registry {
    pub fn new(config: &Config, dev_token: String, agent_queue_bytes: usize) -> Registry {
        let mut groups: BTreeMap<u32, Arc<GroupConfig>> = config
            .groups
            .iter()
            .map(|g| (g.id, Arc::new(g.clone())))
            .collect();
        // A validated config has at least one group; an empty one gets the development group.
        let dev_group = match config.groups.first() {
            Some(g) => groups
                .get(&g.id)
                .cloned()
                .unwrap_or_else(|| Arc::new(g.clone())),
            None => {
                let g = Arc::new(GroupConfig::development(1));
                groups.insert(1, g.clone());
                g
            }
        };
        Registry {
            groups,
            dev_group,
            dev_token,
            agent_queue_bytes,
            sessions: Mutex::new(HashMap::new()),
            next_call_id: AtomicU64::new(rand::rng().random_range(1_000_000..1_000_000_000)),
            next_agent_id: AtomicU64::new(1),
            resume_window: std::time::Duration::from_secs(60),
            ended: Mutex::new(Endings::default()),
            limits: config.limits.clone(),
            starts: StartBudget::new(&config.limits),
            sdk: config.sdk.clone(),
            cluster: std::sync::OnceLock::new(),
        }
    }

    /// Joins the cluster: session keys are then claimed through it (crate::cluster).
    pub fn set_cluster(&self, c: Arc<crate::cluster::Cluster>) {
        let _ = self.cluster.set(c);
    }

    /// The cluster this instance belongs to, if any.
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.cluster.get()
    }

    /// (group, key) of every live session.
    pub fn live_keys(&self) -> Vec<(u32, String)> {
        self.lock()
            .iter()
            .flat_map(|(g, m)| m.keys().map(move |k| (*g, k.clone())))
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u32, HashMap<String, Arc<Session>>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn group(&self, id: u32) -> Option<&Arc<GroupConfig>> {
        self.groups.get(&id)
    }

    /// The development group (the first configured).
    pub fn dev_group(&self) -> &Arc<GroupConfig> {
        &self.dev_group
    }

    pub fn dev_token(&self) -> &str {
        &self.dev_token
    }

    pub fn agent_queue_bytes(&self) -> usize {
        self.agent_queue_bytes
    }

    /// A new id for an agent connection.
    pub fn next_agent_id(&self) -> u64 {
        self.next_agent_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Starts a session for a visitor (at `visitor_addr`) whose messages go to `visitor`.
    /// Starts are budgeted per address and per visitor token, and one address may hold only
    /// its share of the group's session limit. A key that is live in the group is refused
    /// (`key_in_use`): a session is taken over only by the visitor that holds it, through
    /// `resume`, or, for a session whose visitor link is lost, by a start that proves the
    /// same identity (the group's visitor token, required by the group, and the same
    /// visitor id), which then replaces it (the old one ends `killed`, agents see 36).
    pub fn start_session(
        self: &Arc<Self>,
        req: &StartSession,
        visitor: Arc<SendQueue>,
        visitor_client: &str,
        visitor_addr: IpAddr,
    ) -> Result<Arc<Session>, StartRefused> {
        if !self.starts.take_address(visitor_addr) {
            return Err(refused(
                StartFailReason::Throttled,
                "too many session starts from this address; try again later",
            ));
        }
        let group = self.groups.get(&req.group_id).ok_or_else(|| {
            refused(
                StartFailReason::UnknownGroup,
                format!("unknown group {}", req.group_id),
            )
        })?;
        if req.token.is_empty() && group.require_visitor_token {
            return Err(refused(
                StartFailReason::Unauthorized,
                format!("group {} requires a visitor token", group.id),
            ));
        }
        if !req.token.is_empty() && !secret_eq(&req.token, &group.api_key) {
            return Err(refused(
                StartFailReason::Unauthorized,
                format!("the token is not valid for group {}", group.id),
            ));
        }
        let token_verified = !req.token.is_empty();
        if token_verified && !self.starts.take_token(group.id, &req.token) {
            return Err(refused(
                StartFailReason::Throttled,
                format!(
                    "too many session starts with group {}'s visitor token; try again later",
                    group.id
                ),
            ));
        }
        if let Some(k) = &req.key {
            validate_key(k)
                .map_err(|m| refused(StartFailReason::InvalidKey, format!("the key {m}")))?;
        }
        let mut all = self.lock();
        let live = all.entry(group.id).or_default();
        let replaced = match req.key.as_ref().and_then(|k| live.get(k)) {
            None => None,
            Some(old) if same_visitor(group, old, req, token_verified) => Some(old.clone()),
            Some(_) => {
                return Err(refused(
                    StartFailReason::KeyInUse,
                    "the key is in use by another visitor's session",
                ))
            }
        };
        let others = live.len() - usize::from(replaced.is_some());
        if others >= group.max_sessions {
            return Err(refused(
                StartFailReason::GroupLimit,
                format!(
                    "group {} already runs its limit of {} simultaneous sessions",
                    group.id, group.max_sessions
                ),
            ));
        }
        let share = self.limits.address_sessions(group.max_sessions);
        let addr_key = address_key(visitor_addr);
        let held = live
            .values()
            .filter(|s| address_key(s.params().visitor_addr) == addr_key)
            .filter(|s| !replaced.as_ref().is_some_and(|r| Arc::ptr_eq(r, s)))
            .count();
        if held >= share {
            return Err(refused(
                StartFailReason::Throttled,
                format!(
                    "this address already holds {held} sessions of group {}, its share of the group's limit",
                    group.id
                ),
            ));
        }
        let key = match &req.key {
            Some(k) => k.clone(),
            None => random_key(group.random_key_length, live).ok_or_else(|| {
                refused(
                    StartFailReason::NoKeyAvailable,
                    format!(
                        "no free {}-digit key is left in group {}",
                        group.random_key_length, group.id
                    ),
                )
            })?,
        };
        let max_guests = match req.max_guests {
            0 => group.max_guests,
            n => n.min(group.max_guests),
        };
        let params = SessionParams {
            group: group.clone(),
            key: key.clone(),
            call_id: self.next_call_id.fetch_add(1, Ordering::Relaxed),
            ssnid: format!("{:016x}", rand::rng().random::<u64>()),
            persist: req.persist,
            max_guests,
            paused: req.paused,
            width: req.display.width,
            height: req.display.height,
            display_name: req.display.name.clone(),
            visitor_client: visitor_client.to_string(),
            resume_token: crate::config::random_token(),
            previous_call_id: req.previous_call_id,
            visitor_addr,
            visitor_id: req.visitor_id.clone(),
            token_verified,
        };
        // `session_started` is queued before the session becomes visible to agents, so the
        // visitor never sees a guest_count or refresh_request before it.
        visitor.push_control(Control::SessionStarted {
            call_id: params.call_id,
            key: key.clone(),
            ssnid: params.ssnid.clone(),
            resume_token: Some(params.resume_token.clone()),
        });
        let session = Arc::new(Session::new(params, visitor, self.agent_queue_bytes));
        if let Some(old) = replaced {
            old.end(&Ending::new(
                EndReason::Killed,
                AgentStatus::SessionEndedReplaced,
                "replaced by a new session of the same visitor",
                true,
            ));
        }
        live.insert(key.clone(), session.clone());
        drop(all);
        log::info!(
            "session {}/{} started (call {}, persist {}, max_guests {})",
            group.id,
            key,
            session.params().call_id,
            req.persist,
            max_guests
        );
        tokio::spawn(session.clone().run_no_agent_timer(Arc::downgrade(self)));
        Ok(session)
    }

    /// Sets how long a session whose visitor dropped waits for a `resume`.
    pub fn with_resume_window(mut self, d: std::time::Duration) -> Registry {
        self.resume_window = d;
        self
    }

    pub fn resume_window(&self) -> std::time::Duration {
        self.resume_window
    }

    /// The live session whose resume token is `token`.
    pub fn find_by_resume_token(&self, token: &str) -> Option<Arc<Session>> {
        self.lock()
            .values()
            .flat_map(|m| m.values())
            .find(|s| secret_eq(&s.params().resume_token, token))
            .cloned()
    }

    /// The live session `key` of `group`, if any.
    pub fn find(&self, group: u32, key: &str) -> Option<Arc<Session>> {
        self.lock().get(&group).and_then(|m| m.get(key)).cloned()
    }

    /// What visitors are told about SDK versions (`[sdk]`).
    pub fn sdk(&self) -> &crate::config::SdkConfig {
        &self.sdk
    }

    /// Every configured group.
    pub fn groups(&self) -> impl Iterator<Item = &Arc<GroupConfig>> {
        self.groups.values()
    }

    /// Adds an agent to a session found with [`Registry::find`].
    pub fn join(
        &self,
        session: &Arc<Session>,
        agent_id: u64,
        queue: Arc<SendQueue>,
        who: &AgentIdentity,
    ) -> Result<(), JoinRefused> {
        session
            .add_agent(agent_id, queue, who)
            .map_err(|e| match e {
                JoinError::NoSession => JoinRefused {
                    status: AgentStatus::FailNoSession,
                    reason: "the session has ended".into(),
                },
                JoinError::Full => JoinRefused {
                    status: AgentStatus::SessionFull,
                    reason: format!(
                        "the session has its maximum of {} agents",
                        session.params().max_guests
                    ),
                },
            })
    }

    /// Removes an agent; ends (and forgets) a non-persistent session it was the last of.
    pub fn leave(&self, session: &Arc<Session>, agent_id: u64) {
        if session.remove_agent(agent_id) {
            self.forget(session);
        }
    }

    /// Ends a session and forgets it.
    pub fn end_session(&self, session: &Arc<Session>, e: &Ending) {
        session.end(e);
        self.forget(session);
    }

    fn forget(&self, session: &Arc<Session>) {
        self.remember_ending(session);
        let mut all = self.lock();
        if let Some(m) = all.get_mut(&session.group_id()) {
            if m.get(session.key())
                .is_some_and(|s| Arc::ptr_eq(s, session))
            {
                m.remove(session.key());
            }
        }
    }

    /// Ends every session (server shutdown). Agents see status 27 (the connection is dead);
    /// visitors are not told: their connections simply close, as when the server vanishes,
    /// so that they report `conn_drop`.
    pub fn shutdown(&self) {
        let sessions: Vec<Arc<Session>> = self
            .lock()
            .drain()
            .flat_map(|(_, m)| m.into_values())
            .collect();
        for s in sessions {
            s.end(&Ending::new(
                EndReason::ConnDrop,
                AgentStatus::SessionEndedConnDead,
                "the server is shutting down",
                false,
            ));
        }
    }

    /// Snapshots of every live session (ended ones are left out even before they are
    /// forgotten).
    pub fn stats(&self) -> Vec<SessionStats> {
        let sessions: Vec<Arc<Session>> = self
            .lock()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect();
        let mut v: Vec<SessionStats> = sessions
            .iter()
            .filter(|s| !s.is_ended())
            .map(|s| s.stats())
            .collect();
        v.sort_by(|a, b| (a.group_id, &a.key).cmp(&(b.group_id, &b.key)));
        v
    }
}

/// The session journal (issue 18, docs/DECISIONS.md "Restart and crash"): snapshots of the
/// live sessions for it, and sessions restored from it at start.
impl Registry {
    /// One record per live session, ordered by group and key.
    pub fn journal_records(&self) -> Vec<SessionRecord> {
        let sessions: Vec<Arc<Session>> = self
            .lock()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect();
        let mut v: Vec<SessionRecord> = sessions
            .iter()
            .filter_map(|s| {
                let (paused, width, height) = s.journal_state()?;
                let p = s.params();
                Some(SessionRecord {
                    group_id: p.group.id,
                    key: p.key.clone(),
                    call_id: p.call_id,
                    ssnid: p.ssnid.clone(),
                    resume_token: p.resume_token.clone(),
                    persist: p.persist,
                    max_guests: p.max_guests,
                    paused,
                    width,
                    height,
                    display_name: p.display_name.clone(),
                    visitor_client: p.visitor_client.clone(),
                    previous_call_id: p.previous_call_id,
                    visitor_addr: Some(p.visitor_addr),
                    visitor_id: p.visitor_id.clone(),
                    token_verified: p.token_verified,
                })
            })
            .collect();
        v.sort_by(|a, b| (a.group_id, &a.key).cmp(&(b.group_id, &b.key)));
        v
    }

    /// Keeps how `session` ended for a resume window, so that its visitor, coming back with
    /// its resume token, is told (`session_ended`) rather than `resume_failed`, which the SDK
    /// reads as "the service lost the session" and answers by starting it again.
    fn remember_ending(&self, session: &Session) {
        let Some(e) = session.ending() else { return };
        let keep = self.resume_window.max(std::time::Duration::from_secs(1));
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended.prune(keep);
        ended.insert(session.params().resume_token.clone(), e);
    }

    /// How the session whose resume token is `token` ended, if it ended within the last
    /// resume window.
    pub fn ended_by_token(&self, token: &str) -> Option<Ending> {
        let keep = self.resume_window.max(std::time::Duration::from_secs(1));
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended.prune(keep);
        ended.by_token.get(token).cloned()
    }

    /// Restores journal records as sessions whose visitor is detached: the resume window
    /// runs from now; agents may join and wait. Records of groups that no longer exist, with
    /// invalid keys, or beyond the group's session limit are dropped (logged). Returns how
    /// many were restored.
    pub fn restore(self: &Arc<Self>, records: Vec<SessionRecord>) -> usize {
        let mut restored = Vec::new();
        {
            let mut all = self.lock();
            for r in records {
                let Some(group) = self.groups.get(&r.group_id).cloned() else {
                    log::warn!(
                        "journal: session {}/{} dropped: group {} no longer exists",
                        r.group_id,
                        r.key,
                        r.group_id
                    );
                    continue;
                };
                if let Err(m) = validate_key(&r.key) {
                    log::warn!("journal: session {}/? dropped: the key {m}", r.group_id);
                    continue;
                }
                let live = all.entry(group.id).or_default();
                if live.contains_key(&r.key) {
                    continue;
                }
                if live.len() >= group.max_sessions {
                    log::warn!(
                        "journal: session {}/{} dropped: the group's limit of {} sessions is reached",
                        group.id,
                        r.key,
                        group.max_sessions
                    );
                    continue;
                }
                let max_guests = r.max_guests.clamp(1, group.max_guests);
                self.next_call_id
                    .fetch_max(r.call_id.saturating_add(1), Ordering::Relaxed);
                let params = SessionParams {
                    group,
                    key: r.key.clone(),
                    call_id: r.call_id,
                    ssnid: r.ssnid,
                    persist: r.persist,
                    max_guests,
                    paused: r.paused,
                    width: r.width.max(1),
                    height: r.height.max(1),
                    display_name: r.display_name,
                    visitor_client: r.visitor_client,
                    resume_token: r.resume_token,
                    previous_call_id: r.previous_call_id,
                    visitor_addr: r
                        .visitor_addr
                        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
                    visitor_id: r.visitor_id,
                    token_verified: r.token_verified,
                };
                let session = Arc::new(Session::restored(params, self.agent_queue_bytes));
                live.insert(r.key, session.clone());
                restored.push(session);
            }
        }
        for s in &restored {
            log::info!(
                "session {}/{} restored from the journal (call {}); waiting {} ms for its visitor",
                s.group_id(),
                s.key(),
                s.params().call_id,
                self.resume_window.as_millis()
            );
            tokio::spawn(s.clone().run_no_agent_timer(Arc::downgrade(self)));
            super::visitor::hold_for_resume(self, s, s.link_epoch(), "the service restarted");
        }
        restored.len()
    }
}

/// Most ended sessions remembered at once (the oldest are forgotten first).
const MAX_ENDINGS: usize = 100_000;

/// Ended sessions by resume token, oldest first.
#[derive(Debug, Default)]
struct Endings {
    order: std::collections::VecDeque<(std::time::Instant, String)>,
    by_token: HashMap<String, Ending>,
}

impl Endings {
    fn prune(&mut self, keep: std::time::Duration) {
        while let Some((t, token)) = self.order.front() {
            if t.elapsed() < keep && self.order.len() <= MAX_ENDINGS {
                break;
            }
            self.by_token.remove(token);
            self.order.pop_front();
        }
    }

    fn insert(&mut self, token: String, e: Ending) {
        if self.by_token.insert(token.clone(), e).is_none() {
            self.order.push_back((std::time::Instant::now(), token));
        }
    }
}

/// A digits-only key of `len` digits that no live session of the group uses.
fn random_key(len: usize, live: &HashMap<String, Arc<Session>>) -> Option<String> {
    let space = 10u64.checked_pow(len as u32);
    if let Some(space) = space {
        let taken = live
            .keys()
            .filter(|k| k.len() == len && k.bytes().all(|b| b.is_ascii_digit()))
            .count() as u64;
        if taken >= space {
            return None;
        }
    }
    let mut rng = rand::rng();
    for _ in 0..RANDOM_KEY_TRIES {
        let k: String = (0..len)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect();
        if !live.contains_key(&k) {
            return Some(k);
        }
    }
    let space = space.filter(|s| *s <= SCANNABLE_KEY_SPACE)?;
    let start = rng.random_range(0..space);
    (0..space)
        .map(|i| format!("{:0len$}", (start + i) % space))
        .find(|k| !live.contains_key(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_keys_fill_a_small_space_then_stop() {
        let mut live = HashMap::new();
        let params = |k: &str| SessionParams {
            group: Arc::new(GroupConfig::development(1)),
            key: k.into(),
            call_id: 1,
            ssnid: String::new(),
            persist: true,
            max_guests: 1,
            paused: false,
            width: 1,
            height: 1,
            display_name: String::new(),
            visitor_client: String::new(),
            resume_token: format!("token-{k}"),
            previous_call_id: None,
            visitor_addr: IpAddr::from([127, 0, 0, 1]),
            visitor_id: None,
            token_verified: false,
        };
        for _ in 0..10 {
            let k = random_key(1, &live).unwrap();
            assert_eq!(k.len(), 1);
            let s = Session::new(params(&k), Arc::new(SendQueue::new(1, 1)), 1);
            assert!(live.insert(k, Arc::new(s)).is_none());
        }
        assert_eq!(random_key(1, &live), None);
        let k = random_key(6, &live).unwrap();
        assert!(k.len() == 6 && k.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn secrets_compare() {
        assert!(secret_eq("abc", "abc"));
        assert!(!secret_eq("abc", "abd"));
        assert!(!secret_eq("abc", "ab"));
    }
}
