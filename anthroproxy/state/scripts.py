"""What the shared store (shared.py) runs, as Lua scripts: each one atomic in
Redis or Valkey, so that limits hold across every instance at once.

Keys, all under ``anthroproxy:``: ``learned`` (a hash: what failover learned,
and until when) and its channel; per client, ``limits:NAME:requests`` and
``limits:NAME:tokens`` (sorted sets of the last minute, scored by when in
milliseconds; a token member ends in ``:COUNT``), ``limits:NAME:tokens_sum``
(what the tokens set holds, kept as it changes, so no admission adds it up)
and ``limits:NAME:day:N`` (the tokens of UTC day N); ``usage:YYYY-MM-DD`` (a hash per day: a JSON
[client, model, upstream, field] to its count); for the dashboard and the
status line (fleet.py), ``dashboard:parts`` (a hash: each instance's share of
the figures, while someone watches, gone 10 s after the last write) and
``session:DIGEST`` (a hash per Claude Code session: each instance's totals,
kept 24 hours).
"""

from __future__ import annotations

PREFIX = "anthroproxy:"
LEARNED = PREFIX + "learned"  # field: JSON [what, item]; value: until, in wall-clock seconds
CHANNEL = PREFIX + "learned"
USAGE_KEPT_S = 32 * 86400
CREDIT_ROOM = 4  # credits are granted while the minute has this many times as many requests left


def limit_keys(client: str, day: int) -> list[str]:
    """The client's requests and tokens of the last minute, the day's tokens, and the minute's token sum."""
    base = f"{PREFIX}limits:{client}:"
    return [base + "requests", base + "tokens", f"{base}day:{day}", base + "tokens_sum"]


def usage_key(day: str) -> str:
    return f"{PREFIX}usage:{day}"


DASHBOARD_PARTS = PREFIX + "dashboard:parts"  # field: an instance; value: its share (observe/live.py Live.part)
# Where the instance serving a dashboard says so: a channel of its own, which instances of an older version
# (before it existed) neither hear nor stumble on.
DASHBOARD_CHANNEL = PREFIX + "dashboard"


def session_key(digest: str) -> str:
    return f"{PREFIX}session:{digest}"


# Keeps the longer end when two instances learn one item; publishes the change.
LEARN = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('PUBLISH', KEYS[2], ARGV[3])
return 1
"""

# A request of a client's: the same test as limits.refusal (the budget, requests,
# tokens), and counted when it may go. KEYS: limit_keys. ARGV: now (ms), rpm, tpm,
# daily budget (-1: none), a unique member, credits wanted, 1 to only reserve
# credits (no request). Credits are requests counted ahead for the instance to
# admit by itself, MEMBER:c1..cN, granted only while the client is far from
# every limit (CREDIT_ROOM times the credits left in its minute, under a
# quarter of its tokens and budget), so that near a limit every request is
# decided here, one at a time. Returns admitted, the window after it, and the
# credits granted.
ADMIT = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - 60000)
if #expired > 0 then
  local gone = 0
  for _, member in ipairs(expired) do gone = gone + tonumber(string.match(member, ':(%d+)$')) end
  redis.call('DECRBY', KEYS[4], gone)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60000)
end
local rpm, tpm, daily = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local want, reserve_only = tonumber(ARGV[6]), ARGV[7] == '1'
local today = tonumber(redis.call('GET', KEYS[3]) or '0')
local requests = redis.call('ZCARD', KEYS[1])
local tokens = tonumber(redis.call('GET', KEYS[4]) or '0')
local admitted = 0
local within = not ((daily >= 0 and today >= daily) or (rpm >= 0 and requests >= rpm) or (tpm >= 0 and tokens >= tpm))
if within and not reserve_only then
  admitted = 1
  if rpm >= 0 then
    redis.call('ZADD', KEYS[1], now, ARGV[5])
    requests = requests + 1
  end
end
local granted = 0
if within and want > 0 and rpm >= 0 and rpm - requests >= CREDIT_ROOM * want
    and (tpm < 0 or tokens * 4 < tpm) and (daily < 0 or today * 4 < daily) then
  for i = 1, want do redis.call('ZADD', KEYS[1], now, ARGV[5] .. ':c' .. i) end
  requests = requests + want
  granted = want
end
if admitted == 1 or granted > 0 then redis.call('PEXPIRE', KEYS[1], 61000) end
local first_request = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or ''
local first_token = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2] or ''
return {admitted, requests, tostring(first_request), tokens, tostring(first_token), today, granted}
""".replace("CREDIT_ROOM", str(CREDIT_ROOM))

# Tokens a request of a client's used (KEYS: tokens, day, token sum, the channel). ARGV: now (ms),
# tokens, a unique member, whether tpm counts (1/0), the news for the other instances.
SPEND = """
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3] .. ':' .. ARGV[2])
  redis.call('INCRBY', KEYS[3], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 61000)
  redis.call('PEXPIRE', KEYS[3], 61000)
end
redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], 172800)
redis.call('PUBLISH', KEYS[4], ARGV[5])
return 1
"""

# A request's usage: ARGV pairs of (field, count) into the day's hash, kept 32 days.
RECORD = """
for i = 1, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], tonumber(%d))
return 1
""" % USAGE_KEPT_S

# An instance's share of the dashboard's figures (ARGV[2], unless empty) and
# its totals of the sessions that changed (KEYS[2..], ARGV[3..]), under its
# name (ARGV[1]). KEYS[1]: the dashboard's parts.
SHARE = """
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 10000)
end
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], ARGV[1], ARGV[i + 1])
  redis.call('EXPIRE', KEYS[i], 86400)
end
return 1
"""

# Every day's usage hash named, in one round trip: [key, fields-and-values] pairs.
READ_USAGE = """
local found = {}
for _, key in ipairs(KEYS) do
  table.insert(found, key)
  table.insert(found, redis.call('HGETALL', key))
end
return found
"""

SCRIPTS = {"learn": LEARN, "admit": ADMIT, "spend": SPEND, "record": RECORD, "read_usage": READ_USAGE,
           "share": SHARE}
