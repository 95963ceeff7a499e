"""The fleet's Lua scripts: each check-and-write is one atomic step in Redis.

Conventions: time is Redis's own clock (``TIME``, in ms), so the machines of a
fleet need not agree on the time. A process is alive while its score in the
members ZSET is in the future; it renews it with every write and every
heartbeat. Each process writes *absolute* values of what it holds (its
spending, its reservations, its open tasks): a write that is repeated, or made
again after Redis lost its data, is harmless. Numbers go back to Python as
strings (Redis would truncate a Lua float to an integer).
"""

from __future__ import annotations

# Every script starts with this: the server's time in ms, and who is alive.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function alive(who)
  local exp = redis.call('ZSCORE', KEYS[1], who)
  return exp and tonumber(exp) > now
end
local function live_members()
  return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
end
"""

# Reservations of a process that died are moved to its spending: the task it
# created may still be charged, and the budget must never be exceeded.
# Returns what every *other* process has spent or reserved.
_FOLD_AND_SUM = """
local function others_usage(spent_key, reserved_key, me)
  local total = 0
  local res = redis.call('HGETALL', reserved_key)
  for i = 1, #res, 2 do
    local who, amount = res[i], tonumber(res[i + 1])
    if who ~= me then
      if alive(who) then
        total = total + amount
      else
        redis.call('HINCRBYFLOAT', spent_key, who, res[i + 1])
        redis.call('HDEL', reserved_key, who)
      end
    end
  end
  local sp = redis.call('HGETALL', spent_key)
  for i = 1, #sp, 2 do
    if sp[i] ~= me then total = total + tonumber(sp[i + 1]) end
  end
  return total
end
local function put(key, field, value, ttl)
  if tonumber(value) == 0 then redis.call('HDEL', key, field) else redis.call('HSET', key, field, value) end
  redis.call('PEXPIRE', key, ttl)
end
"""

# KEYS: members, spent, reserved, slots:<provider>...
# ARGV: pid, lease_ms, ttl_ms, my_spent, my_reserved, then one open-task count per slots key.
# -> {fleet usage, live members}
BEAT = _PRELUDE + _FOLD_AND_SUM + """
local pid, lease, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, pid)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl)
put(KEYS[2], pid, ARGV[4], ttl)
put(KEYS[3], pid, ARGV[5], ttl)
for i = 4, #KEYS do put(KEYS[i], pid, ARGV[i + 2], ttl) end
local usage = others_usage(KEYS[2], KEYS[3], pid) + tonumber(ARGV[4]) + tonumber(ARGV[5])
return {tostring(usage), live_members()}
"""

# KEYS: members, spent, reserved
# ARGV: pid, lease_ms, ttl_ms, my_spent, my_reserved (with the new reservation), budget
# -> {1 if reserved else 0, what the others have spent or reserved, live members}
RESERVE = _PRELUDE + _FOLD_AND_SUM + """
local pid, lease, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, pid)
local others = others_usage(KEYS[2], KEYS[3], pid)
local budget = tonumber(ARGV[6])
-- (A float margin: ten solves at 0.002 must fit a budget of 0.02.)
if others + tonumber(ARGV[4]) + tonumber(ARGV[5]) > budget + 1e-9 * math.max(1, budget) then
  return {0, tostring(others), live_members()}
end
put(KEYS[2], pid, ARGV[4], ttl)
put(KEYS[3], pid, ARGV[5], ttl)
return {1, tostring(others), live_members()}
"""

_OPEN_AND_LIMIT = """
local function others_open(slots_key, me)
  local open = 0
  local held = redis.call('HGETALL', slots_key)
  for i = 1, #held, 2 do
    if held[i] ~= me then
      if alive(held[i]) then open = open + tonumber(held[i + 1]) else redis.call('HDEL', slots_key, held[i]) end
    end
  end
  return open
end
-- The configured ceiling (0: none), or the lower limit the fleet learned.
local function effective_limit(limit_key, ceiling)
  local lowered = redis.call('HGET', limit_key, 'limit')
  if lowered then
    lowered = tonumber(lowered)
    if ceiling == 0 or lowered < ceiling then return lowered end
  end
  return ceiling
end
"""

# KEYS: members, slots:<provider>, limit:<provider>
# ARGV: pid, lease_ms, ttl_ms, my open tasks with the new one, ceiling
# -> {1 if taken else 0, tasks the others hold open, the limit}
ACQUIRE = _PRELUDE + _OPEN_AND_LIMIT + """
local pid, lease, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, pid)
local others = others_open(KEYS[2], pid)
local limit = effective_limit(KEYS[3], tonumber(ARGV[5]))
if limit > 0 and others + tonumber(ARGV[4]) > limit then return {0, others, limit} end
redis.call('HSET', KEYS[2], pid, ARGV[4])
redis.call('PEXPIRE', KEYS[2], ttl)
return {1, others, limit}
"""

# KEYS: members, slots:<provider>, limit:<provider>
# ARGV: pid, lease_ms, ttl_ms, my open tasks now, succeeded (0|1), ceiling, recover_after, channel, message
# -> the limit now
RELEASE = _PRELUDE + _OPEN_AND_LIMIT + """
local pid, lease, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, pid)
if tonumber(ARGV[4]) == 0 then redis.call('HDEL', KEYS[2], pid) else redis.call('HSET', KEYS[2], pid, ARGV[4]) end
local ceiling = tonumber(ARGV[6])
if ARGV[5] == '1' then
  local lowered = redis.call('HGET', KEYS[3], 'limit')
  if lowered then
    -- Slow recovery: one more task after every recover_after solves in a row, fleet-wide.
    local streak = redis.call('HINCRBY', KEYS[3], 'streak', 1)
    if streak >= tonumber(ARGV[7]) then
      local raised = tonumber(lowered) + 1
      if ceiling > 0 and raised >= ceiling then
        redis.call('DEL', KEYS[3])
      else
        redis.call('HSET', KEYS[3], 'limit', raised, 'streak', 0)
      end
    end
  end
end
redis.call('PUBLISH', ARGV[8], ARGV[9])
return effective_limit(KEYS[3], ceiling)
"""

# KEYS: members, slots:<provider>, limit:<provider>
# ARGV: pid, lease_ms, ttl_ms, my open tasks now, ceiling
# -> the new limit: below what the fleet has open now (the service said it is too many).
LOWER = _PRELUDE + _OPEN_AND_LIMIT + """
local pid, lease, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, pid)
local open = others_open(KEYS[2], pid) + tonumber(ARGV[4])
local limit = effective_limit(KEYS[3], tonumber(ARGV[5]))
if limit == 0 or open < limit then limit = open end
local lowered = math.max(1, limit - 1)
redis.call('HSET', KEYS[3], 'limit', lowered, 'streak', 0)
redis.call('PEXPIRE', KEYS[3], ttl)
return lowered
"""

# KEYS: a hash of provider -> server ms (cooldowns or create holds), members
# ARGV: provider, ms, ttl_ms, channel, event name, pid
# -> ms left of the block (a longer block already set is kept).
BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms = tonumber(ARGV[2])
local untl = now + ms
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and tonumber(cur) >= untl then return tonumber(cur) - now end
redis.call('HSET', KEYS[1], ARGV[1], untl)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], cjson.encode({e = ARGV[5], p = ARGV[1], ms = ms, o = ARGV[6]}))
return ms
"""

# KEYS: lease ; ARGV: pid, ms -> 1 if this process holds it (taken or renewed)
LEASE = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease ; ARGV: pid, channel, message -> 1 if it was ours
RESIGN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
"""

# KEYS: members, spent, reserved, slots:<provider>... ; ARGV: pid
# A process leaving for good: its spending stays counted under "~retired" (a
# hash of one field per process that ever ran would only grow), its open
# tasks and its membership go.
LEAVE = """
local pid = ARGV[1]
local spent = tonumber(redis.call('HGET', KEYS[2], pid) or '0') + tonumber(redis.call('HGET', KEYS[3], pid) or '0')
if spent > 0 then redis.call('HINCRBYFLOAT', KEYS[2], '~retired', tostring(spent)) end
redis.call('HDEL', KEYS[2], pid)
redis.call('HDEL', KEYS[3], pid)
for i = 4, #KEYS do redis.call('HDEL', KEYS[i], pid) end
redis.call('ZREM', KEYS[1], pid)
return 1
"""

# KEYS: pauses ; ARGV: provider, record (JSON), ttl_ms, channel, pid, expect ('' = always)
# A record's version orders it: the server's ms clock, and past the version it replaces.
# With ``expect``, the record is written only if Redis holds nothing newer than that
# version (after an outage: what this process did meanwhile, unless the fleet moved on).
# -> {1, version written} or {0, the newer version Redis holds}
PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = 0
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, rec = pcall(cjson.decode, cur)
  if ok and type(rec) == 'table' and tonumber(rec.v) then current = tonumber(rec.v) end
end
if ARGV[6] ~= '' and current > tonumber(ARGV[6]) then return {0, tostring(current)} end
local rec = cjson.decode(ARGV[2])
rec.v = math.max(now, current + 1)
local text = cjson.encode(rec)
redis.call('HSET', KEYS[1], ARGV[1], text)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], cjson.encode({e = 'pause', p = ARGV[1], r = text, o = ARGV[5]}))
return {1, tostring(rec.v)}
"""

# ------------------------------------------------------------ parked requests
# Each process journals the requests it holds parked (a HASH entry id -> sealed
# request), and names itself in the group's index SET while its journal is not
# empty. A survivor moves a dead process's journal into its own in one step, so
# exactly one process re-queues each entry; the ids it moved go into the dead
# process's "taken" SET, which tells that process, should it come back (it was
# cut off, not dead), not to re-issue them itself.

# KEYS: my journal, the group's index, my taken SET
# ARGV: pid, ttl_ms, n puts, then n (id, sealed) pairs, then ids to remove
# -> the ids another process took from this journal since the last write
PARKED_WRITE = """
local pid, ttl, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local taken, gone = {}, {}
if redis.call('EXISTS', KEYS[3]) == 1 then
  taken = redis.call('SMEMBERS', KEYS[3])
  redis.call('DEL', KEYS[3])
  for _, id in ipairs(taken) do gone[id] = true end
end
-- (An entry another process took is not written back: a write made whole after an outage would.)
for i = 0, n - 1 do
  local id = ARGV[4 + 2 * i]
  if not gone[id] then redis.call('HSET', KEYS[1], id, ARGV[5 + 2 * i]) end
end
for i = 4 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
if redis.call('HLEN', KEYS[1]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('SADD', KEYS[2], pid)
  redis.call('PEXPIRE', KEYS[2], ttl)
else
  redis.call('SREM', KEYS[2], pid)
end
return taken
"""

# KEYS: members, the group's index, my journal, then per candidate: its journal, its taken SET
# ARGV: pid, ttl_ms, then the candidates' process ids
# -> flat list id, sealed, id, sealed... of every entry moved into my journal
# A candidate is taken only if its lease has expired (and this process's has not).
PARKED_TAKE = _PRELUDE + """
local pid, ttl = ARGV[1], tonumber(ARGV[2])
local out = {}
if not alive(pid) then return out end
for j = 3, #ARGV do
  local who, journal, taken = ARGV[j], KEYS[2 + 2 * (j - 2)], KEYS[3 + 2 * (j - 2)]
  if who ~= pid and not alive(who) then
    local entries = redis.call('HGETALL', journal)
    for i = 1, #entries, 2 do
      redis.call('HSET', KEYS[3], entries[i], entries[i + 1])
      redis.call('SADD', taken, entries[i])
      out[#out + 1] = entries[i]
      out[#out + 1] = entries[i + 1]
    end
    if #entries > 0 then redis.call('PEXPIRE', taken, ttl) end
    redis.call('DEL', journal)
    redis.call('SREM', KEYS[2], who)
  end
end
if #out > 0 then
  redis.call('PEXPIRE', KEYS[3], ttl)
  redis.call('SADD', KEYS[2], pid)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return out
"""
