-- ARGV: id → { 'ok', hash } | { 'notfound' } | { 'status', status } | { 'held', worker }
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
