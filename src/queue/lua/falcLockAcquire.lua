-- ARGV: key, owner, ttlMs
local k = 'falc:_lock:' .. ARGV[1]
if rcall('SET', k, ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
if rcall('GET', k) == ARGV[2] then
  rcall('PEXPIRE', k, ARGV[3])
  return 1
end
return 0
