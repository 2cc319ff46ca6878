-- ARGV: id, worker, token|''
local id, worker = ARGV[1], ARGV[2]
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return 0 end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w', 'att', 'ord', 'priority', 'tok')
local st, att, ord, bp = h[1], tonumber(h[3]), tonumber(h[4]), tonumber(h[5])
if not holds(h[2], h[6], worker, ARGV[3]) or not active(st) then return 0 end
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
