//! The engine's side of the session directory: the Lua scripts that claim, refresh and
//! release a (group, key) atomically in Redis, and the names of every Redis key and channel
//! the cluster uses (one place, so that instances of one version agree).

/// Prefix of every key and channel.
const PREFIX: &str = "glance:";

/// `glance:i:NAME`: the instance's record (JSON [`super::InstanceInfo`]), kept alive by its
/// sync loop; its absence means the instance is gone.
pub fn instance_key(name: &str) -> String {
    format!("{PREFIX}i:{name}")
}

/// The prefix the claim script appends an owner's name to.
pub fn instance_prefix() -> String {
    format!("{PREFIX}i:")
}

/// `glance:s:GROUP`: sorted set of the group's live keys, scored by expiry (ms).
pub fn sessions_key(group: u32) -> String {
    format!("{PREFIX}s:{group}")
}

/// `glance:so:GROUP`: hash key -> owning instance.
pub fn owners_key(group: u32) -> String {
    format!("{PREFIX}so:{group}")
}

/// `glance:v:GROUP:VISITOR`: the presence directory entry (JSON [`super::VisitorEntry`]).
pub fn visitor_key(group: u32, visitor: &str) -> String {
    format!("{PREFIX}v:{group}:{visitor}")
}

/// `glance:to:NAME`: the channel an instance listens on.
pub fn inbox(name: &str) -> String {
    format!("{PREFIX}to:{name}")
}

/// `glance:spent`: the channel every instance publishes its throttle spending on.
pub fn spent_channel() -> String {
    format!("{PREFIX}spent")
}

/// Purges expired keys, then claims ARGV[1] for instance ARGV[2] for ARGV[3] ms unless
/// another live instance holds it (`in_use`) or the group already has ARGV[4] keys
/// (`limit`). A key whose owner's instance record (ARGV[5] .. owner) is gone is free, and so
/// is any key when ARGV[6] is `1` (its owner was found not listening: it is dying). When
/// ARGV[7] is `1` (a random key being drawn) a key this instance holds already is `in_use`
/// too. Returns `{status, owner}`.
pub const CLAIM: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, k in ipairs(old) do redis.call('HDEL', KEYS[2], k) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local owner = redis.call('HGET', KEYS[2], ARGV[1])
if owner and owner == ARGV[2] and ARGV[7] == '1' then return {'in_use', owner} end
if owner and owner ~= ARGV[2] then
  if ARGV[6] ~= '1' and redis.call('EXISTS', ARGV[5] .. owner) == 1 then
    return {'in_use', owner}
  end
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
  owner = false
end
if not owner and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return {'limit', ''}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {'ok', ARGV[2]}
"#;

/// Extends instance ARGV[1]'s claims on ARGV[3..] by ARGV[2] ms, re-claiming keys the engine
/// forgot (it restarted, or they expired while it was unreachable). Returns the keys another
/// instance holds meanwhile.
pub const REFRESH: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lost = {}
for i = 3, #ARGV do
  local owner = redis.call('HGET', KEYS[2], ARGV[i])
  if owner and owner ~= ARGV[1] then
    table.insert(lost, ARGV[i])
  else
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i])
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[1])
  end
end
return lost
"#;

/// Releases ARGV[1] if instance ARGV[2] holds it.
pub const RELEASE: &str = r#"
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
"#;

/// Deletes KEYS[1] if its JSON value names instance ARGV[1] (a presence entry of ours).
pub const DELETE_IF_OURS: &str = r#"
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v)['instance'] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"#;
