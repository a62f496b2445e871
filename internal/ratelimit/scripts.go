package ratelimit

import "github.com/redis/go-redis/v9"

// The scripts keep the whole check-and-charge in Redis so that replicas see
// one exact window: Redis runs a script atomically, so no other replica's
// call can interleave between reading the window and charging it. Both
// scripts take three keys per limit (token window hash, request window hash,
// quota counter); a window hash maps a unix second to its count. Time comes
// from the caller (ARGV), never from Redis, so tests can drive it; replicas
// therefore need synchronized clocks (NTP), as any time-based limit does.
// Arithmetic arguments are passed through as the caller's strings where they
// are written, because Lua would print large numbers in exponent form.

// Every script checks the epoch first: a value each replica learns from
// Redis (syncScript) and passes in. A missing or different epoch means Redis
// lost its data (a restart without persistence, a flush) or the replica has
// not synced yet, so the script changes nothing and answers {2, epoch}: the
// replica re-seeds its part of the windows before it admits again. A hold
// key, set for a moment while replicas re-seed, answers {3, pttl}: calls
// take their backend-down path until every replica has put its part back.
//
// A window hash also keeps the limit it was last charged under in field L
// (no number, so the scans skip it); a replica that finds another value
// there reports limit drift.

// reserveScript: KEYS = 3 per limit, then the epoch key and the hold key.
// ARGV = now_ms, n, epoch, then per limit 6 values: tokens, tpm, rpm, quota,
// quota_retry_ms (to the period end), quota_ttl_ms. It returns
// {0, rem_tokens, rem_requests, rem_quota, drift...} when admitted and
// {1, limit_index, kind, retry_ms, rem_tokens, rem_requests, rem_quota,
// drift...} when not; kind is 1 tokens, 2 requests, 3 quota; -1 means not
// limited. drift is {limit_index, their_tpm, their_rpm} of the first limit
// whose window carries another limit (-1: none there), or {0, -1, -1}.
var reserveScript = redis.NewScript(`
local W = 60
local now_ms = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local now_s = math.floor(now_ms / 1000)
local oldest = now_s - W

local ep = redis.call('GET', KEYS[3 * n + 1])
if ep ~= ARGV[3] then return {2} end
local hold = redis.call('PTTL', KEYS[3 * n + 2])
if hold > 0 then return {3, hold} end

local function scan(key)
  local flat = redis.call('HGETALL', key)
  local sum, live, stale = 0, {}, {}
  for i = 1, #flat, 2 do
    local s = tonumber(flat[i])
    if s == nil then
      -- the L field
    elseif s > oldest then
      local v = tonumber(flat[i + 1])
      sum = sum + v
      live[#live + 1] = {s, v}
    else
      stale[#stale + 1] = flat[i]
    end
  end
  for i = 1, #stale, 500 do
    redis.call('HDEL', key, unpack(stale, i, math.min(i + 499, #stale)))
  end
  return sum, live
end

local function retry(live, used, need, limit)
  if need > limit then return W * 1000 end
  table.sort(live, function(a, b) return a[1] < b[1] end)
  for _, e in ipairs(live) do
    used = used - e[2]
    if used + need <= limit then return (e[1] + W) * 1000 - now_ms end
  end
  return W * 1000
end

local function fold(cur, v)
  if v >= 0 and (cur < 0 or v < cur) then return v end
  return cur
end

local kind, idx, wait = 0, 0, -1
local function deny(i, k, ms)
  if ms > wait then kind, idx, wait = k, i, ms end
end

local di, dt, dr = 0, -1, -1
local tlim, rlim = {}, {}
local function drift(i, tkey, rkey, tpm, rpm)
  local bad = false
  if tpm > 0 then
    tlim[i] = redis.call('HGET', tkey, 'L')
    bad = tlim[i] and tonumber(tlim[i]) ~= tpm
  end
  if rpm > 0 then
    rlim[i] = redis.call('HGET', rkey, 'L')
    bad = bad or (rlim[i] and tonumber(rlim[i]) ~= rpm)
  end
  if bad and di == 0 then
    di, dt, dr = i, tonumber(tlim[i] or '-1'), tonumber(rlim[i] or '-1')
  end
end

local rt, rr, rq = -1, -1, -1
local tused, rused, qused = {}, {}, {}
for i = 1, n do
  local a = 3 + (i - 1) * 6
  local tokens, tpm, rpm, quota = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local k = (i - 1) * 3
  drift(i, KEYS[k + 1], KEYS[k + 2], tpm, rpm)
  if tpm > 0 then
    local used, live = scan(KEYS[k + 1])
    tused[i] = used
    rt = fold(rt, math.max(0, tpm - used))
    if used + tokens > tpm then deny(i, 1, retry(live, used, tokens, tpm)) end
  end
  if rpm > 0 then
    local used, live = scan(KEYS[k + 2])
    rused[i] = used
    rr = fold(rr, math.max(0, rpm - used))
    if used + 1 > rpm then deny(i, 2, retry(live, used, 1, rpm)) end
  end
  if quota > 0 then
    local used = tonumber(redis.call('GET', KEYS[k + 3]) or '0')
    qused[i] = used
    rq = fold(rq, math.max(0, quota - used))
    if used + tokens > quota then deny(i, 3, tonumber(ARGV[a + 5])) end
  end
end
if kind > 0 then return {1, idx, kind, wait, rt, rr, rq, di, dt, dr} end

rt, rr, rq = -1, -1, -1
for i = 1, n do
  local a = 3 + (i - 1) * 6
  local tokens, tpm, rpm, quota = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local k = (i - 1) * 3
  if tpm > 0 then
    redis.call('HINCRBY', KEYS[k + 1], now_s, ARGV[a + 1])
    if tlim[i] ~= ARGV[a + 2] then redis.call('HSET', KEYS[k + 1], 'L', ARGV[a + 2]) end
    redis.call('PEXPIRE', KEYS[k + 1], 2 * W * 1000)
    rt = fold(rt, math.max(0, tpm - tused[i] - tokens))
  end
  if rpm > 0 then
    redis.call('HINCRBY', KEYS[k + 2], now_s, 1)
    if rlim[i] ~= ARGV[a + 3] then redis.call('HSET', KEYS[k + 2], 'L', ARGV[a + 3]) end
    redis.call('PEXPIRE', KEYS[k + 2], 2 * W * 1000)
    rr = fold(rr, math.max(0, rpm - rused[i] - 1))
  end
  if quota > 0 then
    redis.call('INCRBY', KEYS[k + 3], ARGV[a + 1])
    redis.call('PEXPIRE', KEYS[k + 3], ARGV[a + 6])
    rq = fold(rq, math.max(0, quota - qused[i] - tokens))
  end
end
return {0, rt, rr, rq, di, dt, dr}
`)

// heldScript charges a call that this replica admitted by its local_share
// while a hold stands, so the window has it before anyone admits through
// Redis again. KEYS and ARGV are reserveScript's; it checks nothing but the
// epoch and the hold, and returns 0 charged, 1 the hold is over, 2 the
// epoch differs (nothing done in either case). It leaves field L alone:
// the charge was decided under the local_share, not the limit.
var heldScript = redis.NewScript(`
local W = 60
local n = tonumber(ARGV[2])
local now_s = math.floor(tonumber(ARGV[1]) / 1000)
if redis.call('GET', KEYS[3 * n + 1]) ~= ARGV[3] then return 2 end
if redis.call('PTTL', KEYS[3 * n + 2]) <= 0 then return 1 end
for i = 1, n do
  local a = 3 + (i - 1) * 6
  local tpm, rpm, quota = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local k = (i - 1) * 3
  if tpm > 0 then
    redis.call('HINCRBY', KEYS[k + 1], now_s, ARGV[a + 1])
    redis.call('PEXPIRE', KEYS[k + 1], 2 * W * 1000)
  end
  if rpm > 0 then
    redis.call('HINCRBY', KEYS[k + 2], now_s, 1)
    redis.call('PEXPIRE', KEYS[k + 2], 2 * W * 1000)
  end
  if quota > 0 then
    redis.call('INCRBY', KEYS[k + 3], ARGV[a + 1])
    redis.call('PEXPIRE', KEYS[k + 3], ARGV[a + 6])
  end
end
return 0
`)

// settleScript: KEYS = 3 per limit, then the epoch key. ARGV = now_ms,
// admission_s, n, cancel (0/1), epoch, then per limit 5 values: token delta,
// tpm, rpm, quota, quota_ttl_ms (≤ 0 once the period of admission is over).
// The token delta goes to the admission bucket while it is in the window;
// later, an increase goes to the current bucket and a refund is dropped.
// Cancel also gives the request back. It returns 0, or 2 when the epoch
// differs (the replica's re-seed carries the settled count instead).
var settleScript = redis.NewScript(`
local W = 60
local now_ms = tonumber(ARGV[1])
local adm_s = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local cancel = ARGV[4] == '1'
local now_s = math.floor(now_ms / 1000)
local in_window = adm_s > now_s - W
if redis.call('GET', KEYS[3 * n + 1]) ~= ARGV[5] then return 2 end

local function add(key, field, delta)
  local v = redis.call('HINCRBY', key, field, delta)
  if v < 0 then redis.call('HSET', key, field, 0) end
  redis.call('PEXPIRE', key, 2 * W * 1000)
end

for i = 1, n do
  local a = 5 + (i - 1) * 5
  local delta, tpm, rpm, quota, qttl = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local k = (i - 1) * 3
  if tpm > 0 and delta ~= 0 then
    if in_window then
      add(KEYS[k + 1], ARGV[2], ARGV[a + 1])
    elseif delta > 0 then
      add(KEYS[k + 1], now_s, ARGV[a + 1])
    end
  end
  if cancel and rpm > 0 and in_window then
    add(KEYS[k + 2], ARGV[2], -1)
  end
  if quota > 0 and delta ~= 0 and qttl > 0 then
    local v = redis.call('INCRBY', KEYS[k + 3], ARGV[a + 1])
    if v < 0 then redis.call('SET', KEYS[k + 3], 0) end
    redis.call('PEXPIRE', KEYS[k + 3], ARGV[a + 5])
  end
end
return 0
`)
