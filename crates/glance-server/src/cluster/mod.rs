//! Instances sharing one engine (issue 16, docs/DECISIONS.md "Past one machine"): this
//! module owns everything about the engine (Redis). [`Cluster`] keeps this instance's record,
//! claims session keys cluster-wide (unique random keys, the group's session limit), publishes
//! the presence directory (visitor -> instance), carries signals, confirmations and session
//! takeovers to the instance that holds the visitor or session, and resynchronises its claims
//! every [`SYNC_EVERY`] (which is also how it recovers after losing the engine).

pub mod scripts;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use glance_protocol::{AgentStatus, EndReason, StartFailReason};
use rand::Rng;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::auth::{AuthService, Spent};
use crate::presence::hub::{Delivery, PresenceHub, SignalError, VisitorKey};
use crate::relay::session::Ending;
use crate::relay::Registry;

/// How often an instance refreshes its record, its claims and its presence entries.
pub const SYNC_EVERY: Duration = Duration::from_secs(2);
/// Lifetime of an instance record: an instance silent this long is gone, and its keys free.
pub const INSTANCE_TTL: Duration = Duration::from_secs(6);
/// Lifetime of a session claim and a presence entry without refresh.
pub const CLAIM_TTL: Duration = Duration::from_secs(10);
/// How long a request to another instance (signal, takeover) waits for its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one engine command may take before the engine counts as unreachable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// Throttle spending waiting to be shared with the other instances (beyond: dropped).
const SPENT_QUEUE: usize = 4096;
/// Random keys tried against the directory before giving up.
const RANDOM_KEY_TRIES: usize = 32;

/// Why the cluster could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The engine did not answer (down, unreachable, or too slow).
    #[error("the cluster engine is unreachable: {0}")]
    Engine(String),
    /// Another instance did not answer in time.
    #[error("instance {0} did not answer")]
    NoAnswer(String),
    /// Nobody listens on another instance's inbox: it is gone.
    #[error("instance {0} is not listening")]
    NotListening(String),
}

impl From<redis::RedisError> for ClusterError {
    fn from(e: redis::RedisError) -> Self {
        ClusterError::Engine(e.to_string())
    }
}

/// An instance's record in the engine: where agents and visitors reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    pub name: String,
    /// `https://HOST:PORT`.
    pub session_url: String,
    pub host: String,
    pub https_port: u16,
    pub direct_port: u16,
}

/// A presence directory entry: the instance that holds the visitor and what `/lookupvisitor`
/// answers about it (refreshed every [`SYNC_EVERY`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitorEntry {
    pub instance: String,
    pub since: u64,
    #[serde(default)]
    pub presence: Option<Value>,
    #[serde(default)]
    pub confirmed: Option<bool>,
}

/// The owner of a session key, as the directory says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Nobody holds it.
    Free,
    /// This instance.
    Me,
    /// Another live instance.
    Other(InstanceInfo),
}

/// A refused claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRefused {
    pub reason: StartFailReason,
    pub message: String,
}

/// What a `/signalvisitor` forwarded to another instance came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarded {
    Delivered,
    Queued,
    /// A confirmation was started; its code.
    Confirm(String),
    Unconfirmed,
    NotConnected,
}

/// See the module documentation.
pub struct Cluster {
    name: String,
    url: String,
    conn: ConnectionManager,
    client: redis::Client,
    info: InstanceInfo,
    up: AtomicBool,
    next_request: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    registry: OnceLock<Weak<Registry>>,
    presence: OnceLock<Weak<PresenceHub>>,
    auth: OnceLock<Weak<AuthService>>,
    /// Keys this instance claimed and has not released, by group.
    claimed: Mutex<HashMap<u32, HashSet<String>>>,
    /// Presence entries this instance published.
    published: Mutex<HashSet<VisitorKey>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

async fn timed<T>(
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, ClusterError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ClusterError::Engine(format!(
            "no answer within {} ms",
            COMMAND_TIMEOUT.as_millis()
        ))),
    }
}

/// Checks a `--cluster` URL: `redis://HOST:PORT[/DB]` (or `rediss://`, `redis+unix://`).
pub fn check_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("redis+unix://"))
    {
        return Err(format!(
            "cluster URL {url:?} must start with redis:// (the engine is Redis)"
        ));
    }
    redis::Client::open(url)
        .map(|_| ())
        .map_err(|e| format!("cluster URL {url:?}: {e}"))
}

/// Checks an instance name: 1-64 of letters, digits, `-`, `_`, `.`, `:`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(format!(
            "instance name {name:?} must be 1-64 letters, digits, '-', '_', '.' or ':'"
        ));
    }
    Ok(())
}

impl Cluster {
    /// Connects to the engine at `url` (failing if it does not answer within 5 s) and
    /// registers this instance. Nothing runs until [`Cluster::spawn`].
    pub async fn connect(url: &str, info: InstanceInfo) -> Result<Arc<Cluster>, ClusterError> {
        let client = redis::Client::open(url)?;
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = match tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(cfg),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => return Err(ClusterError::Engine("no answer within 5 s".into())),
        };
        let c = Arc::new(Cluster {
            name: info.name.clone(),
            url: url.to_string(),
            conn,
            client,
            info,
            up: AtomicBool::new(true),
            next_request: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            registry: OnceLock::new(),
            presence: OnceLock::new(),
            auth: OnceLock::new(),
            claimed: Mutex::new(HashMap::new()),
            published: Mutex::new(HashSet::new()),
        });
        c.put_instance().await?;
        Ok(c)
    }

    /// This instance's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the engine answered the last command.
    pub fn engine_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    fn note<T>(&self, r: Result<T, ClusterError>) -> Result<T, ClusterError> {
        match &r {
            Ok(_) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    log::info!("cluster: the engine answers again");
                }
            }
            Err(e) => {
                if self.up.swap(false, Ordering::Relaxed) {
                    log::warn!("cluster: {e}; live sessions go on, the directory is unavailable");
                }
            }
        }
        r
    }

    async fn put_instance(&self) -> Result<(), ClusterError> {
        let v = serde_json::to_string(&self.info).unwrap_or_default();
        let mut c = self.conn();
        let r = timed(c.pset_ex::<_, _, ()>(
            scripts::instance_key(&self.name),
            v,
            INSTANCE_TTL.as_millis() as u64,
        ))
        .await;
        self.note(r)
    }

    /// Starts the sync loop and the inbox listener for `registry` and `presence`.
    pub fn spawn(
        self: &Arc<Self>,
        registry: &Arc<Registry>,
        presence: &Arc<PresenceHub>,
        auth: &Arc<AuthService>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let _ = self.registry.set(Arc::downgrade(registry));
        let _ = self.presence.set(Arc::downgrade(presence));
        let _ = self.auth.set(Arc::downgrade(auth));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Spent>(SPENT_QUEUE);
        auth.share_spending(tx);
        let share = {
            let me = self.clone();
            tokio::spawn(async move {
                while let Some(s) = rx.recv().await {
                    let msg = json!({"from": me.name, "spent": s}).to_string();
                    let mut c = me.conn();
                    let r = timed(c.publish::<_, _, i64>(scripts::spent_channel(), msg)).await;
                    let _ = me.note(r);
                }
            })
        };
        let sync = {
            let me = self.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SYNC_EVERY);
                loop {
                    tick.tick().await;
                    me.sync().await;
                }
            })
        };
        let inbox = {
            let me = self.clone();
            tokio::spawn(async move { me.listen().await })
        };
        vec![sync, inbox, share]
    }

    fn registry(&self) -> Option<Arc<Registry>> {
        self.registry.get().and_then(Weak::upgrade)
    }

    fn hub(&self) -> Option<Arc<PresenceHub>> {
        self.presence.get().and_then(Weak::upgrade)
    }

    /// One round of resynchronisation: the instance record, every live session key (released
    /// ones let go) and every presence entry.
    pub async fn sync(&self) {
        if self.put_instance().await.is_err() {
            return;
        }
        if let Some(reg) = self.registry() {
            let mut live: HashMap<u32, HashSet<String>> = HashMap::new();
            for (g, k) in reg.live_keys() {
                live.entry(g).or_default().insert(k);
            }
            let gone: Vec<(u32, String)> = {
                let claimed = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
                claimed
                    .iter()
                    .flat_map(|(g, ks)| {
                        ks.iter()
                            .filter(|k| !live.get(g).is_some_and(|l| l.contains(*k)))
                            .map(move |k| (*g, k.clone()))
                    })
                    .collect()
            };
            for (g, k) in gone {
                self.release(g, &k).await;
            }
            for (g, keys) in &live {
                let script = redis::Script::new(scripts::REFRESH);
                let mut inv = script.prepare_invoke();
                inv.key(scripts::sessions_key(*g))
                    .key(scripts::owners_key(*g))
                    .arg(&self.name)
                    .arg(CLAIM_TTL.as_millis() as u64);
                for k in keys {
                    inv.arg(k);
                }
                let mut c = self.conn();
                let r = timed(inv.invoke_async::<Vec<String>>(&mut c)).await;
                match self.note(r) {
                    Ok(lost) => {
                        for k in lost {
                            log::warn!(
                                "cluster: session {g}/{k} is live here and claimed by another instance (the engine was away while both started it)"
                            );
                        }
                    }
                    Err(_) => return,
                }
                self.claimed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(*g)
                    .or_default()
                    .extend(keys.iter().cloned());
            }
        }
        if let Some(hub) = self.hub() {
            let entries = hub.entries();
            let now: HashSet<VisitorKey> = entries.iter().map(|e| e.0.clone()).collect();
            let mut pipe = redis::pipe();
            for (key, since, presence, confirmed) in entries {
                let v = VisitorEntry {
                    instance: self.name.clone(),
                    since,
                    presence,
                    confirmed,
                };
                pipe.pset_ex(
                    scripts::visitor_key(key.0, &key.1),
                    serde_json::to_string(&v).unwrap_or_default(),
                    CLAIM_TTL.as_millis() as u64,
                )
                .ignore();
            }
            let mut c = self.conn();
            if !now.is_empty()
                && self
                    .note(timed(pipe.query_async::<()>(&mut c)).await)
                    .is_err()
            {
                return;
            }
            let gone: Vec<VisitorKey> = {
                let mut p = self.published.lock().unwrap_or_else(|p| p.into_inner());
                let gone = p.difference(&now).cloned().collect();
                *p = now;
                gone
            };
            for key in gone {
                let r = timed(
                    redis::Script::new(scripts::DELETE_IF_OURS)
                        .key(scripts::visitor_key(key.0, &key.1))
                        .arg(&self.name)
                        .invoke_async::<i64>(&mut c),
                )
                .await;
                if self.note(r).is_err() {
                    return;
                }
            }
        }
    }

    async fn claim_once(
        &self,
        group: u32,
        key: &str,
        limit: usize,
        force: bool,
        fresh: bool,
    ) -> Result<(String, String), ClusterError> {
        let mut c = self.conn();
        let r = timed(
            redis::Script::new(scripts::CLAIM)
                .key(scripts::sessions_key(group))
                .key(scripts::owners_key(group))
                .arg(key)
                .arg(&self.name)
                .arg(CLAIM_TTL.as_millis() as u64)
                .arg(limit)
                .arg(scripts::instance_prefix())
                .arg(if force { "1" } else { "0" })
                .arg(if fresh { "1" } else { "0" })
                .invoke_async::<(String, String)>(&mut c),
        )
        .await;
        let r = self.note(r)?;
        if r.0 == "ok" {
            self.claimed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(group)
                .or_default()
                .insert(key.to_string());
        }
        Ok(r)
    }

    /// Claims a key for a session about to start here: the visitor's own key (`key`), or a
    /// random one of `key_len` digits that no instance holds. `previous_call_id` marks a
    /// visitor starting its session again after losing its instance: a key held by a live
    /// instance is then asked back from it (it gives up the session if its visitor link is
    /// lost and the call id matches).
    pub async fn claim_for_start(
        &self,
        group: u32,
        key: Option<&str>,
        key_len: usize,
        limit: usize,
        previous_call_id: Option<u64>,
    ) -> Result<String, ClaimRefused> {
        let unreachable = |e: ClusterError| ClaimRefused {
            reason: StartFailReason::Throttled,
            message: format!("the session directory is unavailable ({e}); try again later"),
        };
        let limit_refusal = || {
            ClaimRefused {
            reason: StartFailReason::GroupLimit,
            message: format!(
                "group {group} already runs its limit of {limit} simultaneous sessions across the cluster"
            ),
        }
        };
        match key {
            Some(k) => {
                let (status, owner) = self
                    .claim_once(group, k, limit, false, false)
                    .await
                    .map_err(unreachable)?;
                match status.as_str() {
                    "ok" => Ok(k.to_string()),
                    "limit" => Err(limit_refusal()),
                    _ => {
                        if let Some(prev) = previous_call_id {
                            let force = match self.take_over(&owner, group, k, prev).await {
                                Ok(true) => Some(false),
                                Ok(false) => None,
                                // Nobody listens on the owner's inbox: it is gone (killed),
                                // only its record has not expired yet.
                                Err(ClusterError::NotListening(_)) => {
                                    log::info!(
                                        "cluster: instance {owner} does not answer; session {group}/{k} is taken over from it"
                                    );
                                    Some(true)
                                }
                                Err(e) => {
                                    log::info!("cluster: takeover of {group}/{k}: {e}");
                                    None
                                }
                            };
                            if let Some(force) = force {
                                let (status, _) = self
                                    .claim_once(group, k, limit, force, false)
                                    .await
                                    .map_err(unreachable)?;
                                if status == "ok" {
                                    return Ok(k.to_string());
                                }
                            }
                        }
                        Err(ClaimRefused {
                            reason: StartFailReason::KeyInUse,
                            message: format!(
                                "the key is in use by another visitor's session (on instance {owner})"
                            ),
                        })
                    }
                }
            }
            None => {
                for _ in 0..RANDOM_KEY_TRIES {
                    let k = random_digits(key_len);
                    let (status, _) = self
                        .claim_once(group, &k, limit, false, true)
                        .await
                        .map_err(unreachable)?;
                    match status.as_str() {
                        "ok" => return Ok(k),
                        "limit" => return Err(limit_refusal()),
                        _ => continue,
                    }
                }
                Err(ClaimRefused {
                    reason: StartFailReason::NoKeyAvailable,
                    message: format!(
                        "no free {key_len}-digit key found in group {group} across the cluster"
                    ),
                })
            }
        }
    }

    /// Gives up this instance's claim on (group, key) (the session ended or never started).
    pub async fn release(&self, group: u32, key: &str) {
        let mut c = self.conn();
        let r = timed(
            redis::Script::new(scripts::RELEASE)
                .key(scripts::sessions_key(group))
                .key(scripts::owners_key(group))
                .arg(key)
                .arg(&self.name)
                .invoke_async::<i64>(&mut c),
        )
        .await;
        if self.note(r).is_ok() {
            if let Some(ks) = self
                .claimed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&group)
            {
                ks.remove(key);
            }
        }
    }

    /// A live instance's record.
    pub async fn instance(&self, name: &str) -> Result<Option<InstanceInfo>, ClusterError> {
        let mut c = self.conn();
        let r = timed(c.get::<_, Option<String>>(scripts::instance_key(name))).await;
        let v = self.note(r)?;
        Ok(v.and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// Who holds session (group, key) in the directory.
    pub async fn owner(&self, group: u32, key: &str) -> Result<Owner, ClusterError> {
        let mut c = self.conn();
        let r = timed(c.hget::<_, _, Option<String>>(scripts::owners_key(group), key)).await;
        match self.note(r)? {
            None => Ok(Owner::Free),
            Some(n) if n == self.name => Ok(Owner::Me),
            Some(n) => Ok(match self.instance(&n).await? {
                Some(i) => Owner::Other(i),
                None => Owner::Free,
            }),
        }
    }

    /// The presence directory's entry for a visitor held by another live instance.
    pub async fn find_visitor(
        &self,
        key: &VisitorKey,
    ) -> Result<Option<(VisitorEntry, InstanceInfo)>, ClusterError> {
        let mut c = self.conn();
        let r = timed(c.get::<_, Option<String>>(scripts::visitor_key(key.0, &key.1))).await;
        let Some(v) = self.note(r)? else {
            return Ok(None);
        };
        let Ok(e) = serde_json::from_str::<VisitorEntry>(&v) else {
            return Ok(None);
        };
        if e.instance == self.name {
            return Ok(None);
        }
        Ok(self.instance(&e.instance).await?.map(|i| (e, i)))
    }

    /// Sends `msg` to instance `to` and waits for its answer.
    async fn request(&self, to: &str, mut msg: Value) -> Result<Value, ClusterError> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        if let Some(o) = msg.as_object_mut() {
            o.insert("id".into(), json!(id));
            o.insert("reply_to".into(), json!(self.name));
        }
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        let mut c = self.conn();
        let r = timed(c.publish::<_, _, i64>(scripts::inbox(to), msg.to_string())).await;
        let forget = || {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        };
        match self.note(r) {
            Ok(0) => {
                forget();
                return Err(ClusterError::NotListening(to.to_string()));
            }
            Ok(_) => {}
            Err(e) => {
                forget();
                return Err(e);
            }
        }
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(v)) => Ok(v),
            _ => {
                forget();
                Err(ClusterError::NoAnswer(to.to_string()))
            }
        }
    }

    /// Forwards a presence signal (or `confirm` when `message` is `None`) to the instance
    /// that holds the visitor.
    pub async fn forward_signal(
        &self,
        to: &str,
        key: &VisitorKey,
        message: Option<String>,
    ) -> Result<Forwarded, ClusterError> {
        let msg = match &message {
            Some(m) => json!({"op": "signal", "group": key.0, "visitor": key.1, "message": m}),
            None => json!({"op": "confirm", "group": key.0, "visitor": key.1}),
        };
        let v = self.request(to, msg).await?;
        Ok(match v.get("result").and_then(Value::as_str) {
            Some("delivered") => match v.get("code").and_then(Value::as_str) {
                Some(code) => Forwarded::Confirm(code.to_string()),
                None => Forwarded::Delivered,
            },
            Some("queued") => Forwarded::Queued,
            Some("unconfirmed") => Forwarded::Unconfirmed,
            _ => Forwarded::NotConnected,
        })
    }

    /// Asks instance `owner` to give up session (group, key) of call `call_id`, whose
    /// visitor now starts it here. True if it did.
    async fn take_over(
        &self,
        owner: &str,
        group: u32,
        key: &str,
        call_id: u64,
    ) -> Result<bool, ClusterError> {
        let v = self
            .request(
                owner,
                json!({"op": "takeover", "group": group, "key": key, "call_id": call_id}),
            )
            .await?;
        Ok(v.get("result").and_then(Value::as_str) == Some("released"))
    }

    /// Listens on this instance's inbox until the process ends, reconnecting after losing
    /// the engine.
    async fn listen(self: Arc<Self>) {
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut ps) => match ps
                    .subscribe(&[scripts::inbox(&self.name), scripts::spent_channel()])
                    .await
                {
                    Ok(()) => {
                        let spent = scripts::spent_channel();
                        let mut stream = ps.on_message();
                        while let Some(m) = stream.next().await {
                            let Ok(text) = m.get_payload::<String>() else {
                                continue;
                            };
                            if m.get_channel_name() == spent {
                                self.spent_elsewhere(&text);
                                continue;
                            }
                            match serde_json::from_str::<Value>(&text) {
                                Ok(v) => {
                                    let me = self.clone();
                                    tokio::spawn(async move { me.handle(v).await });
                                }
                                Err(e) => {
                                    log::info!("cluster: ignored a message that is not JSON: {e}")
                                }
                            }
                        }
                        log::warn!("cluster: the inbox subscription ended; reconnecting");
                    }
                    Err(e) => log::warn!("cluster: cannot subscribe to the inbox: {e}"),
                },
                Err(e) => log::debug!("cluster: inbox connection: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Another instance's throttle spending: spent here too.
    fn spent_elsewhere(&self, text: &str) {
        #[derive(Deserialize)]
        struct Msg {
            from: String,
            spent: Spent,
        }
        match serde_json::from_str::<Msg>(text) {
            Ok(m) if m.from != self.name => {
                if let Some(a) = self.auth.get().and_then(Weak::upgrade) {
                    a.spend_remote(&m.spent);
                }
            }
            Ok(_) => {}
            Err(e) => log::info!("cluster: ignored a throttle message: {e}"),
        }
    }

    async fn answer(&self, to: &str, id: u64, mut v: Value) {
        if let Some(o) = v.as_object_mut() {
            o.insert("op".into(), json!("reply"));
            o.insert("id".into(), json!(id));
        }
        let mut c = self.conn();
        let r = timed(c.publish::<_, _, i64>(scripts::inbox(to), v.to_string())).await;
        let _ = self.note(r);
    }

    async fn handle(&self, v: Value) {
        let op = v.get("op").and_then(Value::as_str).unwrap_or_default();
        let id = v.get("id").and_then(Value::as_u64).unwrap_or(0);
        if op == "reply" {
            if let Some(tx) = self
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id)
            {
                let _ = tx.send(v);
            }
            return;
        }
        let Some(reply_to) = v.get("reply_to").and_then(Value::as_str) else {
            log::info!("cluster: ignored a message without reply_to: {op}");
            return;
        };
        let group = v
            .get("group")
            .and_then(Value::as_u64)
            .and_then(|g| u32::try_from(g).ok())
            .unwrap_or(0);
        let answer = match op {
            "signal" | "confirm" => {
                let visitor = v.get("visitor").and_then(Value::as_str).unwrap_or_default();
                let key = (group, visitor.to_string());
                match self.hub() {
                    None => json!({"result": "notconnected"}),
                    Some(hub) if op == "confirm" => match hub.start_confirm(&key) {
                        Ok(code) => json!({"result": "delivered", "code": code}),
                        Err(_) => json!({"result": "notconnected"}),
                    },
                    Some(hub) => {
                        let m = v.get("message").and_then(Value::as_str).unwrap_or_default();
                        match hub.signal(&key, m.to_string()) {
                            Ok(Delivery::Delivered) => json!({"result": "delivered"}),
                            Ok(Delivery::Queued) => json!({"result": "queued"}),
                            Err(SignalError::Unconfirmed) => json!({"result": "unconfirmed"}),
                            Err(SignalError::NotConnected) => json!({"result": "notconnected"}),
                        }
                    }
                }
            }
            "takeover" => {
                let key = v.get("key").and_then(Value::as_str).unwrap_or_default();
                let call_id = v.get("call_id").and_then(Value::as_u64).unwrap_or(0);
                let released = match self
                    .registry()
                    .and_then(|r| r.find(group, key).map(|s| (r, s)))
                {
                    Some((reg, s)) if s.params().call_id == call_id && s.is_detached() => {
                        log::info!(
                            "cluster: session {group}/{key} (call {call_id}) is taken over by instance {reply_to}, where its visitor reconnected"
                        );
                        reg.end_session(
                            &s,
                            &Ending::new(
                                EndReason::Killed,
                                AgentStatus::SessionEndedReplaced,
                                "the session moved to another instance",
                                true,
                            ),
                        );
                        self.release(group, key).await;
                        true
                    }
                    Some(_) => false,
                    None => {
                        self.release(group, key).await;
                        true
                    }
                };
                json!({"result": if released { "released" } else { "refused" }})
            }
            other => {
                log::info!("cluster: ignored an unknown message {other:?}");
                return;
            }
        };
        self.answer(reply_to, id, answer).await;
    }
}

fn random_digits(len: usize) -> String {
    let mut r = rand::rng();
    (0..len.max(1))
        .map(|_| char::from(b'0' + r.random_range(0..10u8)))
        .collect()
}

/// Claims the key of a `start_session` across the cluster before the registry starts it:
/// returns the request with its key filled in (a random one drawn through the directory)
/// and whether a claim was made (to release if the registry then refuses). Without a
/// cluster, or for an unknown group (which the registry refuses), the request is unchanged.
pub async fn claim_start(
    registry: &Arc<Registry>,
    mut req: glance_protocol::StartSession,
) -> Result<(glance_protocol::StartSession, bool), crate::relay::registry::StartRefused> {
    let (Some(c), Some(group)) = (registry.cluster(), registry.group(req.group_id)) else {
        return Ok((req, false));
    };
    if let Some(k) = &req.key {
        if glance_protocol::control::validate_key(k).is_err() {
            return Ok((req, false));
        }
    }
    match c
        .claim_for_start(
            group.id,
            req.key.as_deref(),
            group.random_key_length,
            group.max_sessions,
            req.previous_call_id,
        )
        .await
    {
        Ok(k) => {
            req.key = Some(k);
            Ok((req, true))
        }
        Err(r) => Err(crate::relay::registry::StartRefused {
            reason: r.reason,
            message: r.message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_names() {
        assert!(check_url("redis://127.0.0.1:6379").is_ok());
        assert!(check_url("redis://127.0.0.1:6379/2").is_ok());
        let e = check_url("nats://127.0.0.1:4222").unwrap_err();
        assert!(e.contains("redis://"), "{e}");
        assert!(check_name("127.0.0.1-8443").is_ok());
        assert!(check_name("eu-west.1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("a*").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn random_keys_are_digits_of_the_length() {
        for len in [1, 2, 6, 9] {
            let k = random_digits(len);
            assert_eq!(k.len(), len);
            assert!(k.bytes().all(|b| b.is_ascii_digit()), "{k}");
        }
    }
}
