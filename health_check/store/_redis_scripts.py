"""The Lua scripts of the Redis store and its lease, and how their errors are worded.

Each script is one atomic step Redis runs for us: a write that never replaces a newer snapshot, a
journal append that skips known ids, and compare-and-set on the lease token.
"""

from __future__ import annotations

import re

__all__ = ["APPEND_TRANSITIONS", "RELEASE", "RENEW", "SET_IF_NEWER", "SET_INDEX", "describe"]

# Writes a snapshot unless the stored one was taken at the same moment or later: buffered writes
# flushed after an outage must not replace what the fleet's poller wrote meanwhile.
SET_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, stored = pcall(cjson.decode, current)
  if ok and type(stored) == 'table' and tonumber(stored['checked_at'])
     and tonumber(stored['checked_at']) >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

# Appends journal entries "<seq>\\t<id>\\t<json>", skipping ids the list holds, trimming to the retention
# (ARGV[1]) and, when an entry's cutoff is not empty, dropping entries older than that POSIX time but the
# newest of them, as ``base.trimmed()`` does: while the second entry is older than the cutoff, the first
# goes. KEYS[1] is the sequence; KEYS[i] gets the id, json and cutoff at ARGV[3i - 4], [3i - 3], [3i - 2].
APPEND_TRANSITIONS = """
local retention = tonumber(ARGV[1])
local function at(item)
  if not item then return nil end
  local first = string.find(item, '\\t', 1, true)
  local second = first and string.find(item, '\\t', first + 1, true)
  if not second then return nil end
  local ok, body = pcall(cjson.decode, string.sub(item, second + 1))
  if ok and type(body) == 'table' then return tonumber(body['at']) end
  return nil
end
local result = {}
for i = 2, #KEYS do
  local id = ARGV[3 * i - 4]
  local body = ARGV[3 * i - 3]
  local cutoff = tonumber(ARGV[3 * i - 2])
  local found = false
  for _, item in ipairs(redis.call('LRANGE', KEYS[i], 0, -1)) do
    if string.find(item, '\\t' .. id .. '\\t', 1, true) then found = true break end
  end
  if found then
    table.insert(result, 0)
  else
    local seq = redis.call('INCR', KEYS[1])
    redis.call('RPUSH', KEYS[i], seq .. '\\t' .. id .. '\\t' .. body)
    redis.call('LTRIM', KEYS[i], -retention, -1)
    if cutoff then
      while redis.call('LLEN', KEYS[i]) > 1 do
        local next_at = at(redis.call('LINDEX', KEYS[i], 1))
        if next_at == nil or next_at >= cutoff then break end
        redis.call('LPOP', KEYS[i])
      end
    end
    table.insert(result, seq)
  end
end
return result
"""

# Sets one host's endpoint index (ARGV[1]) and keeps at most ARGV[3] of them, ordered by the writer's
# clock (ARGV[2]): hosts that come and go (Kubernetes pods) leave theirs behind, and the least recently
# written go first. The dropped keys are found in the sorted set, so they are not in KEYS: a script for
# one Redis server, as the rest of the store is.
SET_INDEX = """
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if excess > 0 then
  for _, key in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], key)
  end
end
return 1
"""

# Compare-and-set on the lease token: only the holder renews or releases its lease. A lease that is
# gone altogether (Redis restarted empty) is held by nobody: its holder takes it again, atomically, so
# the fleet's checks keep their poller instead of waiting out an election.
RENEW = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def describe(error: Exception) -> str:
    # redis-py's messages can embed the URL it was given; keep only the part after the address.
    text = str(error) or type(error).__name__
    return re.sub(r"\b(rediss?|unix)://[^\s@/]*@", r"\1://", text)
