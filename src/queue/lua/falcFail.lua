-- ARGV: id, worker, errJson (no attempt), message, stacktraceJson|'', retry 0|1, delayMs|'', baseMs, capMs, token|'',
--       shortErrJson ({message, code}: the per-attempt entry)
local id, worker = ARGV[1], ARGV[2]
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return false end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w', 'att', 'max', 'ord', 'priority', 'tok')
local st, att, max, ord, bp = h[1], tonumber(h[3]), tonumber(h[4]), tonumber(h[5]), tonumber(h[6])
if not holds(h[2], h[7], worker, ARGV[10]) then return false end
local err, msg = witherr(ARGV[3], att), ARGV[4]
if st == 'cancelled' or active(st) then adderr(k, errentry(ARGV[11], att, nowms(), worker)) end
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
