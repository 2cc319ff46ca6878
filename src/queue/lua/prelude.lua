-- Shared by every falc script (redis-lua.ts prepends it, with the bound of the event stream filled in below).
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
-- The fence: the holder's call carries its worker id and (unless '') the attempt token of its hand-over.
local function holds(w, tok, worker, token) return w == worker and (token == '' or (tok or '0') == token) end
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

-- One more entry (a JSON object) in the task's per-attempt error list, field errs (a JSON array).
local function adderr(k, entry)
  local cur = rcall('HGET', k, 'errs')
  if cur then rcall('HSET', k, 'errs', string.sub(cur, 1, -2) .. ',' .. entry .. ']')
  else rcall('HSET', k, 'errs', '[' .. entry .. ']') end
end
local function errentry(short, att, now, w)
  return string.sub(short, 1, -2) .. ',"attempt":' .. n2s(att) .. ',"at":' .. n2s(now) .. ',"worker":' .. cjson.encode(w or '') .. '}'
end

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
        adderr(k, errentry(cjson.encode({ message = msg, code = 'lease_expired' }), att, now, w))
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
local function claim(worker, lease, first, now, start)
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
  rcall('HINCRBY', k, 'tok', 1)
  local h = rcall('HMGET', k, 'att', 'ord', 'pg')
  local att = n2s(tonumber(h[1]) + 1)
  local until_ = n2s(now + lease)
  if h[3] then rcall('HDEL', k, 'pg', 'pn', 'progress') end
  rcall('LPUSH', qk(stage, 'active'), id)
  rcall('ZADD', 'falc:_leases', until_, id)
  local f = { 'att', att, 'ra', n2s(now), 'w', worker, 'lu', until_, 'atm', att, 'ats', att, 'processedOn', n2s(now), 'pb', worker }
  if start then f[#f + 1] = 'sa'; f[#f + 1] = n2s(now) end
  setst(stage, id, tonumber(h[2]), 'queued', start and 'started' or 'requested', f)
  ev(now, id, stage, 'requested', 'requested', worker, '{"attempt":' .. att .. '}')
  if start then ev(now, id, stage, 'started', 'started', worker, nil) end
  return rcall('HGETALL', k)
end

-- started|requested → finished; 1 when it was the worker's to finish.
local function complete(id, worker, res, hasRes, now, token)
  local stage = rcall('HGET', 'falc:_t', id)
  if not stage then return 0 end
  local k = jk(stage, id)
  local h = rcall('HMGET', k, 'st', 'w', 'ord', 'tok')
  if not holds(h[2], h[4], worker, token) then return 0 end
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
