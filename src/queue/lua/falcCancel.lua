-- ARGV: id → { 'ok', hash } | { 'notfound' } | { 'final', status }
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
