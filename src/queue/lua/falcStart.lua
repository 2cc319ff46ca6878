-- ARGV: id, worker, token|''
local id, worker = ARGV[1], ARGV[2]
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return 0 end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w', 'ord', 'tok')
if not holds(h[2], h[4], worker, ARGV[3]) or h[1] ~= 'requested' then return 0 end
local now = nowms()
setst(stage, id, tonumber(h[3]), 'requested', 'started', { 'sa', n2s(now) })
ev(now, id, stage, 'started', 'started', worker, nil)
return 1
