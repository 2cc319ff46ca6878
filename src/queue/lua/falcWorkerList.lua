rcall('ZREMRANGEBYSCORE', 'falc:_workers', '-inf', '(' .. n2s(nowms()))
local names = rcall('ZRANGE', 'falc:_workers', 0, -1)
if #names == 0 then return {} end
local keys = {}
for i, n in ipairs(names) do keys[i] = 'falc:_w:' .. n end
return rcall('MGET', unpack(keys))
