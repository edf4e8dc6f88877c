//! The Lua scripts of [`super::RedisStore`]: one atomic script per update.
//!
//! `FAILURE` is a port of [`super::TargetHealth::on_failure`] to Lua; the
//! tests compare the two on many sequences, so change them together.
//!
//! A record is a hash `{ s = seq, f = failures, r = rounds, u = benched-until
//! in ms since the Unix epoch (absent when never benched) }`. `seq` comes from
//! one counter per namespace, seeded from the server's clock in microseconds
//! the first time, so it keeps growing across a Redis restart that lost it;
//! replicas use it to ignore stale updates. Every update publishes
//! `"seq failures rounds until-or-dash key"` on the namespace's channel.

/// Shared prologue: the sequence counter and the published message.
macro_rules! lua_prelude {
    () => {
        r#"
local function num(x) return string.format('%.0f', x) end
local function next_seq(seq_key)
  if redis.call('EXISTS', seq_key) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', seq_key, num(tonumber(t[1]) * 1000000 + tonumber(t[2])))
  end
  return redis.call('INCR', seq_key)
end
local function reply(rec)
  return {tonumber(rec[1]) or 0, tonumber(rec[2]) or 0, tonumber(rec[3]) or 0, tonumber(rec[4]) or -1}
end
"#
    };
}

/// Applies one failure.
///
/// KEYS: record, sequence counter, the operation's marker (makes a retried
/// write count once). ARGV: now (ms), threshold, base cooldown (s, f64),
/// multiplier (f64, already sanitised to >= 1), cooldown cap (s, f64), cooldown
/// cap (ms), retry-after (ms, 0 = none), retry-after cap (ms), record TTL past
/// the bench (ms), channel, target key, marker TTL (ms).
///
/// Returns `{seq, failures, rounds, until-or--1}`.
pub(super) const FAILURE: &str = concat!(
    lua_prelude!(),
    r#"
local rec = redis.call('HMGET', KEYS[1], 's', 'f', 'r', 'u')
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[12]) then
  return reply(rec)
end
local U32 = 4294967295
local now = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local multiplier = tonumber(ARGV[4])
local cap_secs = tonumber(ARGV[5])
local cap_ms = tonumber(ARGV[6])
local retry = tonumber(ARGV[7])
local retry_cap = tonumber(ARGV[8])
local ttl = tonumber(ARGV[9])

-- The same binary exponentiation as Rust's f64::powi.
local function powi(a, b)
  local r = 1.0
  while true do
    if b % 2 == 1 then r = r * a end
    b = math.floor(b / 2)
    if b == 0 then break end
    a = a * a
  end
  return r
end
-- HealthConfig::cooldown_for_round, in whole ms (Duration::from_secs_f64
-- rounds to the nearest ns).
local function cooldown_ms(round)
  local secs = base * powi(multiplier, round - 1)
  if secs ~= secs or secs == math.huge or secs >= cap_secs then
    return cap_ms
  end
  return math.floor(math.floor(secs * 1e9 + 0.5) / 1e6)
end

local failures = tonumber(rec[2]) or 0
local rounds = tonumber(rec[3]) or 0
local current = tonumber(rec[4])
if failures < U32 then failures = failures + 1 end
local benched = current ~= nil and current > now
local untilv = nil
if (not benched) and failures >= threshold then
  if rounds < U32 then rounds = rounds + 1 end
  untilv = now + cooldown_ms(rounds)
end
if retry > 0 then
  local hinted = now + math.min(retry, retry_cap)
  if untilv == nil or hinted > untilv then untilv = hinted end
end
if untilv ~= nil then
  if current == nil or untilv > current then current = untilv end
end

local seq = next_seq(KEYS[2])
redis.call('HSET', KEYS[1], 's', num(seq), 'f', num(failures), 'r', num(rounds))
local shown = '-'
if current ~= nil then
  redis.call('HSET', KEYS[1], 'u', num(current))
  shown = num(current)
end
local lives = ttl
if current ~= nil and current > now then lives = lives + (current - now) end
redis.call('PEXPIRE', KEYS[1], num(math.max(lives, 1)))
redis.call('PUBLISH', ARGV[10], num(seq) .. ' ' .. num(failures) .. ' ' .. num(rounds) .. ' ' .. shown .. ' ' .. ARGV[11])
return {seq, failures, rounds, current or -1}
"#
);

/// Applies a success: the record goes.
///
/// KEYS: record, sequence counter, the operation's marker. ARGV: channel,
/// target key, marker TTL (ms). Returns `{seq, 0, 0, -1}`.
pub(super) const SUCCESS: &str = concat!(
    lua_prelude!(),
    r#"
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3]) then
  return reply(redis.call('HMGET', KEYS[1], 's', 'f', 'r', 'u'))
end
redis.call('DEL', KEYS[1])
local seq = next_seq(KEYS[2])
redis.call('PUBLISH', ARGV[1], num(seq) .. ' 0 0 - ' .. ARGV[2])
return {seq, 0, 0, -1}
"#
);

/// Releases a probe lease if the caller still holds it.
///
/// KEYS: the lease. ARGV: the holder's token. Returns 1 when released.
pub(super) const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;
