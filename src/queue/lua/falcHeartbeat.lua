-- ARGV: id, worker, leaseMs, token|'' → { held, cancelRequested }
local id, worker, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
local stage = rcall('HGET', 'falc:_t', id)
if not stage then return { 0, 0 } end
local k = jk(stage, id)
local h = rcall('HMGET', k, 'st', 'w', 'cr', 'tok')
if not holds(h[2], h[4], worker, ARGV[4]) then return { 0, 0 } end
if h[1] == 'cancelled' then return { 0, 1 } end
if not active(h[1]) then return { 0, 0 } end
local until_ = n2s(nowms() + lease)
rcall('HSET', k, 'lu', until_)
rcall('ZADD', 'falc:_leases', until_, id)
return { 1, h[3] == '1' and 1 or 0 }
