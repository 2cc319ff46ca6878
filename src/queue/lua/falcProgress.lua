-- ARGV: id, worker, fraction, note|'', hasNote, eventData, token|''
local id, worker = ARGV[1], ARGV[2]
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return 0 end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w', 'tok')
if not holds(h[2], h[3], worker, ARGV[7]) or not active(h[1]) then return 0 end
local f = tonumber(ARGV[3])
rcall('HSET', k, 'pg', ARGV[3], 'progress', n2s(math.floor(f * 100 + 0.5)))
if ARGV[5] == '1' then rcall('HSET', k, 'pn', ARGV[4]) else rcall('HDEL', k, 'pn') end
ev(nowms(), id, stage, 'progress', h[1], worker, ARGV[6])
return 1
