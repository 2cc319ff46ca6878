/**
 * The Redis backend's state machine, one Lua script per queue operation, so every transition
 * (task hash, BullMQ state sets, falc indexes, lease set, event log) happens atomically on the
 * server: no claim is ever taken twice and no crash between two commands leaves a half-moved task.
 *
 * Layout (standalone Redis; scripts touch keys they compute, so Redis Cluster is not supported).
 * Each stage is a BullMQ queue named <stage> with prefix `falc` (qualified name falc:<stage>; BullMQ forbids
 * ':' inside a queue name, so the prefix carries it):
 *   falc:<stage>:<id>              job hash: BullMQ's fields (name, data, opts, timestamp, delay, priority,
 *                                  processedOn, finishedOn, progress, returnvalue, failedReason, atm, ats, pb)
 *                                  plus falc's (st, att, max, fpri, qa, ra, sa, fa, run, to, err, par, w, lu,
 *                                  pg, pn, cr, ord, nonce)
 *   falc:<stage>:prioritized       queued and due (score = BullMQ priority·2^32 + creation order)
 *   falc:<stage>:delayed           queued, not yet due (score = runAt·4096 + order), BullMQ's encoding
 *   falc:<stage>:active            requested and started (list)
 *   falc:<stage>:completed         finished (score = finishedAt)
 *   falc:<stage>:failed            failed and cancelled (score = finishedAt)
 * falc's own keys start with `falc:_`, which no stage name (^[a-z][a-z0-9_-]*$) can produce:
 *   falc:_t                        id → stage
 *   falc:_stages                   every stage ever queued
 *   falc:_x:<stage>:<status>       index per stage and status (score = creation order): stats and list
 *   falc:_children:<parent>        child ids of a parent task
 *   falc:_leases                   held tasks by lease expiry (the reaper's view)
 *   falc:_ord, falc:_seq           creation order and event sequence counters
 *   falc:_events                   event stream, entry id `<seq>-0`
 *   falc:_lock:<key>               named locks (value = owner, PX = TTL)
 *   falc:_w:<name>, falc:_workers  worker registry records (PX = TTL) and their expiry index
 *   falc:_cancel                   pub/sub channel: ids of running tasks just cancelled
 * BullMQ's Queue API (and so Bull Board) reads the five per-stage structures.
 * All times come from the Redis server's clock (TIME), one clock for every machine.
 */

import { PRUNE_LUA } from "./redis-prune-lua.ts";

const PRELUDE = `
redis.replicate_commands()
local rcall = redis.call
local KEEP = __KEEP__
local function nowms()
  local t = rcall('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Lua turns numbers into strings with 14 digits; scores and times need all of theirs.
local function n2s(x) return string.format('%.0f', x) end
local function jk(stage, id) return 'falc:' .. stage .. ':' .. id end
local function qk(stage, s) return 'falc:' .. stage .. ':' .. s end
local function ix(stage, st) return 'falc:_x:' .. stage .. ':' .. st end
local function active(st) return st == 'requested' or st == 'started' end
local function final(st) return st == 'finished' or st == 'failed' or st == 'cancelled' end

local function ev(at, id, stage, typ, st, worker, data)
  local seq = rcall('INCR', 'falc:_seq')
  rcall('XADD', 'falc:_events', 'MAXLEN', '~', KEEP, n2s(seq) .. '-0',
    'a', n2s(at), 'i', id, 's', stage, 'y', typ, 't', st, 'w', worker or '', 'd', data or '')
end

-- Move a task between falc's status indexes and record the status, with other fields, in one HSET.
local function setst(stage, id, ord, from, to, fields)
  rcall('ZREM', ix(stage, from), id)
  rcall('ZADD', ix(stage, to), ord, id)
  fields = fields or {}
  fields[#fields + 1] = 'st'
  fields[#fields + 1] = to
  rcall('HSET', jk(stage, id), unpack(fields))
end

-- Take a task out of the BullMQ state structure that holds it in status st.
local function leave(stage, id, st)
  if st == 'queued' then
    rcall('ZREM', qk(stage, 'prioritized'), id)
    rcall('ZREM', qk(stage, 'delayed'), id)
  elseif active(st) then
    rcall('LREM', qk(stage, 'active'), 1, id)
  elseif st == 'finished' then
    rcall('ZREM', qk(stage, 'completed'), id)
  elseif st == 'failed' or st == 'cancelled' then
    rcall('ZREM', qk(stage, 'failed'), id)
  end
end

local function prioScore(bp, ord) return n2s(bp * 4294967296 + (ord % 4294967296)) end

-- A queued task is claimable at once, or waits in the delayed set until runAt.
local function ready(stage, id, bp, ord, runAt, now)
  if runAt <= now then
    rcall('ZADD', qk(stage, 'prioritized'), prioScore(bp, ord), id)
  else
    rcall('ZADD', qk(stage, 'delayed'), n2s(runAt * 4096 + (ord % 4096)), id)
  end
end

local function promote(stage, now)
  local due = rcall('ZRANGEBYSCORE', qk(stage, 'delayed'), '-inf', n2s((now + 1) * 4096 - 1), 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    local v = rcall('HMGET', jk(stage, id), 'priority', 'ord')
    rcall('ZADD', qk(stage, 'prioritized'), prioScore(tonumber(v[1]), tonumber(v[2])), id)
  end
  if #due > 0 then rcall('ZREM', qk(stage, 'delayed'), unpack(due)) end
end

-- Error JSON from the client has no attempt field; splice it in without re-encoding the rest.
local function witherr(errjson, att) return string.sub(errjson, 1, -2) .. ',"attempt":' .. n2s(att) .. '}' end

local function reap(now, limit)
  local ids = rcall('ZRANGEBYSCORE', 'falc:_leases', '-inf', '(' .. n2s(now), 'LIMIT', 0, limit)
  local n = 0
  for _, id in ipairs(ids) do
    rcall('ZREM', 'falc:_leases', id)
    local stage = rcall('HGET', 'falc:_t', id)
    if stage then
      local k = jk(stage, id)
      local h = rcall('HMGET', k, 'st', 'w', 'att', 'max', 'ord', 'priority')
      local st, w, att, max, ord, bp = h[1], h[2], tonumber(h[3]), tonumber(h[4]), tonumber(h[5]), tonumber(h[6])
      if active(st) then
        local msg = 'lease expired: worker ' .. (w or '?') .. ' stopped answering'
        local err = cjson.encode({ message = msg, code = 'lease_expired', attempt = att })
        ev(now, id, stage, 'lease_expired', st, w, cjson.encode({ worker = w }))
        leave(stage, id, st)
        rcall('HDEL', k, 'w', 'lu')
        if att >= max then
          rcall('ZADD', qk(stage, 'failed'), n2s(now), id)
          setst(stage, id, ord, st, 'failed', { 'fa', n2s(now), 'finishedOn', n2s(now), 'err', err, 'failedReason', msg })
          ev(now, id, stage, 'failed', 'failed', w, cjson.encode({ error = msg }))
        else
          rcall('HDEL', k, 'pg', 'pn', 'progress')
          ready(stage, id, bp, ord, now, now)
          setst(stage, id, ord, st, 'queued', { 'qa', n2s(now), 'run', n2s(now), 'err', err, 'failedReason', msg })
          ev(now, id, stage, 'queued', 'queued', nil, '{"reason":"lease_expired"}')
        end
        n = n + 1
      elseif st == 'cancelled' then
        -- Cancelled while running and its holder died: nobody holds it now, so it can be retried.
        rcall('HDEL', k, 'w', 'lu')
      end
    end
  end
  return n
end

-- Take the best claimable task (priority, then age) of the stages ARGV[first..]: queued → requested.
local function claim(worker, lease, first, now)
  -- Reaping inside the claim keeps a dead worker's task from waiting for a separate sweeper.
  reap(now, 100)
  local best, bestScore, bestStage
  for i = first, #ARGV do
    local stage = ARGV[i]
    promote(stage, now)
    local top = rcall('ZRANGE', qk(stage, 'prioritized'), 0, 0, 'WITHSCORES')
    if top[1] then
      local sc = tonumber(top[2])
      if not best or sc < bestScore then best, bestScore, bestStage = top[1], sc, stage end
    end
  end
  if not best then return false end
  local stage, id = bestStage, best
  local k = jk(stage, id)
  rcall('ZREM', qk(stage, 'prioritized'), id)
  local h = rcall('HMGET', k, 'att', 'ord', 'pg')
  local att = n2s(tonumber(h[1]) + 1)
  local until_ = n2s(now + lease)
  if h[3] then rcall('HDEL', k, 'pg', 'pn', 'progress') end
  rcall('LPUSH', qk(stage, 'active'), id)
  rcall('ZADD', 'falc:_leases', until_, id)
  setst(stage, id, tonumber(h[2]), 'queued', 'requested',
    { 'att', att, 'ra', n2s(now), 'w', worker, 'lu', until_, 'atm', att, 'ats', att, 'processedOn', n2s(now), 'pb', worker })
  ev(now, id, stage, 'requested', 'requested', worker, nil)
  return rcall('HGETALL', k)
end

-- started|requested → finished; 1 when it was the worker's to finish.
local function complete(id, worker, res, hasRes, now)
  local stage = rcall('HGET', 'falc:_t', id)
  if not stage then return 0 end
  local k = jk(stage, id)
  local h = rcall('HMGET', k, 'st', 'w', 'ord')
  if h[2] ~= worker then return 0 end
  if h[1] ~= 'cancelled' and not active(h[1]) then return 0 end
  if hasRes then rcall('HSET', k, 'returnvalue', res) end
  if h[1] == 'cancelled' then
    -- Keep what a cancelled task had done (a partial scan), but it stays cancelled.
    if not hasRes then rcall('HDEL', k, 'returnvalue') end
    rcall('HDEL', k, 'w', 'lu')
    rcall('ZREM', 'falc:_leases', id)
    return 0
  end
  if hasRes then rcall('HDEL', k, 'w', 'lu') else rcall('HDEL', k, 'returnvalue', 'w', 'lu') end
  rcall('ZREM', 'falc:_leases', id)
  leave(stage, id, h[1])
  rcall('ZADD', qk(stage, 'completed'), n2s(now), id)
  setst(stage, id, tonumber(h[3]), h[1], 'finished', { 'fa', n2s(now), 'finishedOn', n2s(now), 'pg', '1', 'progress', '100' })
  ev(now, id, stage, 'finished', 'finished', worker, nil)
  return 1
end
`;

/** The scripts, by command name: ARGV layouts are documented in redis.ts where each is called. */
const BODIES: Record<string, string> = {
  // ARGV: n, nonce, then per task: id, stage, payload, priority, runAt|'', delayMs, maxAttempts, timeoutS|'', parentId|''
  falcEnqueue: `
local n = tonumber(ARGV[1])
local nonce = ARGV[2]
local seen = {}
for i = 0, n - 1 do
  local id = ARGV[3 + i * 9]
  if seen[id] then return { 'dup', id } end
  seen[id] = true
  local stage = rcall('HGET', 'falc:_t', id)
  if stage then
    -- The same call resent after a lost reply (a reconnect) finds its own tasks: it already happened.
    local h = rcall('HMGET', jk(stage, id), 'nonce', 'timestamp', 'ord')
    if i == 0 and h[1] == nonce then return { 'again', h[2], n2s(tonumber(h[3]) - 1) } end
    return { 'exists', id }
  end
end
local now = nowms()
local ord0 = rcall('INCRBY', 'falc:_ord', n) - n
for i = 0, n - 1 do
  local b = 3 + i * 9
  local id, stage, payload, prio = ARGV[b], ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local runAt = ARGV[b + 4] ~= '' and tonumber(ARGV[b + 4]) or (now + math.max(0, tonumber(ARGV[b + 5])))
  local max = ARGV[b + 6]
  local ord = ord0 + i + 1
  -- BullMQ: 1 runs first, up to 2^21; falc: higher runs first.
  local bp = math.max(1, math.min(2097151, 1048576 - math.floor(prio)))
  local delay = math.max(0, runAt - now)
  local k = jk(stage, id)
  local f = { 'id', id, 'name', stage, 'data', payload,
    'opts', cjson.encode({ attempts = tonumber(max), priority = bp, delay = delay }),
    'timestamp', n2s(now), 'delay', n2s(delay), 'priority', n2s(bp), 'fpri', ARGV[b + 3],
    'st', 'queued', 'att', '0', 'atm', '0', 'ats', '0', 'max', max, 'qa', n2s(now), 'run', n2s(runAt),
    'ord', n2s(ord), 'nonce', nonce }
  if ARGV[b + 7] ~= '' then f[#f + 1] = 'to'; f[#f + 1] = ARGV[b + 7] end
  if ARGV[b + 8] ~= '' then
    f[#f + 1] = 'par'; f[#f + 1] = ARGV[b + 8]
    rcall('ZADD', 'falc:_children:' .. ARGV[b + 8], ord, id)
  end
  rcall('HSET', k, unpack(f))
  rcall('HSET', 'falc:_t', id, stage)
  rcall('SADD', 'falc:_stages', stage)
  rcall('ZADD', ix(stage, 'queued'), ord, id)
  ready(stage, id, bp, ord, runAt, now)
  ev(now, id, stage, 'created', 'created', nil, nil)
  ev(now, id, stage, 'queued', 'queued', nil, runAt > now and ('{"runAt":' .. n2s(runAt) .. '}') or nil)
end
return { 'ok', n2s(now), n2s(ord0) }
`,

  // ARGV: worker, leaseMs, stage...
  falcClaim: `
return claim(ARGV[1], tonumber(ARGV[2]), 3, nowms())
`,

  // ARGV: id, worker
  falcStart: `
local id, worker = ARGV[1], ARGV[2]
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return 0 end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w', 'ord')
if h[2] ~= worker or h[1] ~= 'requested' then return 0 end
local now = nowms()
setst(stage, id, tonumber(h[3]), 'requested', 'started', { 'sa', n2s(now) })
ev(now, id, stage, 'started', 'started', worker, nil)
return 1
`,

  // ARGV: id, worker, leaseMs → { held, cancelRequested }
  falcHeartbeat: `
local id, worker, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return { 0, 0 } end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w', 'cr')
if h[2] ~= worker then return { 0, 0 } end
if h[1] == 'cancelled' then return { 0, 1 } end
if not active(h[1]) then return { 0, 0 } end
local until_ = n2s(nowms() + lease)
rcall('HSET', k, 'lu', until_)
rcall('ZADD', 'falc:_leases', until_, id)
return { 1, h[3] == '1' and 1 or 0 }
`,

  // ARGV: id, worker, fraction, note|'', hasNote, eventData
  falcProgress: `
local id, worker = ARGV[1], ARGV[2]
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return 0 end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w')
if h[2] ~= worker or not active(h[1]) then return 0 end
local f = tonumber(ARGV[3])
rcall('HSET', k, 'pg', ARGV[3], 'progress', n2s(math.floor(f * 100 + 0.5)))
if ARGV[5] == '1' then rcall('HSET', k, 'pn', ARGV[4]) else rcall('HDEL', k, 'pn') end
ev(nowms(), id, stage, 'progress', h[1], worker, ARGV[6])
return 1
`,

  // ARGV: id, worker, resultJson, hasResult
  falcComplete: `
return complete(ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', nowms())
`,

  // ARGV: id, worker, resultJson, hasResult, nextWorker, leaseMs, stage... → { completed, next hash | false }
  // One round trip per task for a busy worker, as BullMQ's workers fetch their next job.
  falcCompleteAndClaim: `
local now = nowms()
local done = complete(ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', now)
return { done, claim(ARGV[5], tonumber(ARGV[6]), 7, now) }
`,

  // ARGV: id, worker, errJson (no attempt), message, stacktraceJson|'', retry 0|1, delayMs|'', baseMs, capMs
  falcFail: `
local id, worker = ARGV[1], ARGV[2]
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return false end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w', 'att', 'max', 'ord', 'priority')
local st, att, max, ord, bp = h[1], tonumber(h[3]), tonumber(h[4]), tonumber(h[5]), tonumber(h[6])
if h[2] ~= worker then return false end
local err, msg = witherr(ARGV[3], att), ARGV[4]
if st == 'cancelled' then
  rcall('HSET', k, 'err', err)
  rcall('HDEL', k, 'w', 'lu')
  rcall('ZREM', 'falc:_leases', id)
  return rcall('HGETALL', k)
end
if not active(st) then return false end
local now = nowms()
local f = { 'err', err, 'failedReason', msg }
if ARGV[5] ~= '' then f[#f + 1] = 'stacktrace'; f[#f + 1] = ARGV[5] end
rcall('HDEL', k, 'w', 'lu')
rcall('ZREM', 'falc:_leases', id)
leave(stage, id, st)
if ARGV[6] == '1' and att < max then
  local delay = ARGV[7] ~= '' and tonumber(ARGV[7]) or math.min(tonumber(ARGV[9]), tonumber(ARGV[8]) * 2 ^ math.max(0, att - 1))
  f[#f + 1] = 'qa'; f[#f + 1] = n2s(now); f[#f + 1] = 'run'; f[#f + 1] = n2s(now + delay)
  rcall('HDEL', k, 'pg', 'pn', 'progress')
  ready(stage, id, bp, ord, now + delay, now)
  setst(stage, id, ord, st, 'queued', f)
  ev(now, id, stage, 'retry_scheduled', 'queued', worker, cjson.encode({ error = msg, delayMs = delay, attempt = att }))
  ev(now, id, stage, 'queued', 'queued', nil, '{"runAt":' .. n2s(now + delay) .. '}')
else
  f[#f + 1] = 'fa'; f[#f + 1] = n2s(now); f[#f + 1] = 'finishedOn'; f[#f + 1] = n2s(now)
  rcall('ZADD', qk(stage, 'failed'), n2s(now), id)
  setst(stage, id, ord, st, 'failed', f)
  ev(now, id, stage, 'failed', 'failed', worker, cjson.encode({ error = msg }))
end
return rcall('HGETALL', k)
`,

  // ARGV: id, worker
  falcRelease: `
local id, worker = ARGV[1], ARGV[2]
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return 0 end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w', 'att', 'ord', 'priority')
local st, att, ord, bp = h[1], tonumber(h[3]), tonumber(h[4]), tonumber(h[5])
if h[2] ~= worker or not active(st) then return 0 end
local now = nowms()
-- The attempt was not the task's fault: give it back.
att = n2s(math.max(att - 1, 0))
rcall('HDEL', k, 'w', 'lu', 'pg', 'pn', 'progress')
rcall('ZREM', 'falc:_leases', id)
leave(stage, id, st)
ready(stage, id, bp, ord, now, now)
setst(stage, id, ord, st, 'queued', { 'qa', n2s(now), 'run', n2s(now), 'att', att, 'atm', att, 'ats', att })
ev(now, id, stage, 'queued', 'queued', nil, cjson.encode({ reason = 'released', worker = worker }))
return 1
`,

  // ARGV: id → { 'ok', hash } | { 'notfound' } | { 'final', status }
  falcCancel: `
local id = ARGV[1]
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return { 'notfound' } end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w', 'ord')
local st, w, ord = h[1], h[2], tonumber(h[3])
if final(st) then return { 'final', st } end
local now = nowms()
local running = active(st)
leave(stage, id, st)
rcall('ZADD', qk(stage, 'failed'), n2s(now), id)
setst(stage, id, ord, st, 'cancelled', { 'fa', n2s(now), 'finishedOn', n2s(now), 'cr', running and '1' or '0', 'failedReason', 'cancelled' })
if running then
  ev(now, id, stage, 'cancel_requested', 'cancelled', w, nil)
  -- Tell the holder now, on whatever machine it runs; its next heartbeat says so too.
  rcall('PUBLISH', 'falc:_cancel', id)
end
ev(now, id, stage, 'cancelled', 'cancelled', w, nil)
return { 'ok', rcall('HGETALL', k) }
`,

  // ARGV: id → { 'ok', hash } | { 'notfound' } | { 'status', status } | { 'held', worker }
  falcRetry: `
local id = ARGV[1]
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return { 'notfound' } end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w', 'ord', 'priority')
local st, w, ord, bp = h[1], h[2], tonumber(h[3]), tonumber(h[4])
if st ~= 'failed' and st ~= 'cancelled' then return { 'status', st } end
if w then return { 'held', w } end
local now = nowms()
rcall('HDEL', k, 'fa', 'ra', 'sa', 'pg', 'pn', 'progress', 'finishedOn', 'processedOn')
leave(stage, id, st)
ready(stage, id, bp, ord, now, now)
setst(stage, id, ord, st, 'queued', { 'att', '0', 'atm', '0', 'ats', '0', 'qa', n2s(now), 'run', n2s(now), 'cr', '0' })
ev(now, id, stage, 'queued', 'queued', nil, '{"reason":"retry"}')
return { 'ok', rcall('HGETALL', k) }
`,

  // ARGV: id
  falcGet: `
local stage = rcall('HGET', 'falc:_t', ARGV[1])
if not stage then return false end
return rcall('HGETALL', jk(stage, ARGV[1]))
`,

  // ARGV: limit → number put back
  falcReap: `
return reap(nowms(), tonumber(ARGV[1]))
`,

  // → flat list stage, status, count, ...
  falcStats: `
local out = {}
local sts = { 'created', 'queued', 'requested', 'started', 'finished', 'failed', 'cancelled' }
for _, stage in ipairs(rcall('SMEMBERS', 'falc:_stages')) do
  for _, st in ipairs(sts) do
    local n = rcall('ZCARD', ix(stage, st))
    if n > 0 then out[#out + 1] = stage; out[#out + 1] = st; out[#out + 1] = n end
  end
end
return out
`,

  falcPrune: PRUNE_LUA,

  // ARGV: key, owner, ttlMs
  falcLockAcquire: `
local k = 'falc:_lock:' .. ARGV[1]
if rcall('SET', k, ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
if rcall('GET', k) == ARGV[2] then
  rcall('PEXPIRE', k, ARGV[3])
  return 1
end
return 0
`,
  falcLockRenew: `
local k = 'falc:_lock:' .. ARGV[1]
if rcall('GET', k) ~= ARGV[2] then return 0 end
rcall('PEXPIRE', k, ARGV[3])
return 1
`,
  falcLockRelease: `
local k = 'falc:_lock:' .. ARGV[1]
if rcall('GET', k) ~= ARGV[2] then return 0 end
rcall('DEL', k)
return 1
`,

  // ARGV: name, recordJson, ttlMs
  falcWorkerPut: `
rcall('SET', 'falc:_w:' .. ARGV[1], ARGV[2], 'PX', ARGV[3])
rcall('ZADD', 'falc:_workers', n2s(nowms() + tonumber(ARGV[3])), ARGV[1])
return 1
`,
  falcWorkerList: `
rcall('ZREMRANGEBYSCORE', 'falc:_workers', '-inf', '(' .. n2s(nowms()))
local names = rcall('ZRANGE', 'falc:_workers', 0, -1)
if #names == 0 then return {} end
local keys = {}
for i, n in ipairs(names) do keys[i] = 'falc:_w:' .. n end
return rcall('MGET', unpack(keys))
`,
};

/** Script bodies with the shared prelude; `keepEvents` bounds the event stream. */
export function falcScripts(keepEvents: number): Record<string, string> {
  const prelude = PRELUDE.replace("__KEEP__", String(Math.max(1000, Math.floor(keepEvents))));
  return Object.fromEntries(Object.entries(BODIES).map(([name, body]) => [name, prelude + body]));
}

/** Task ids that would land on a BullMQ structure's key (falc:<stage>:<name>). */
export const RESERVED_IDS = new Set([
  "wait", "active", "paused", "prioritized", "delayed", "completed", "failed", "meta", "id", "pc", "marker",
  "events", "stalled", "stalled-check", "limiter", "repeat", "de", "waiting-children", "metrics",
]);
