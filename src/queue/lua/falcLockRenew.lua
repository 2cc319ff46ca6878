local k = 'falc:_lock:' .. ARGV[1]
if rcall('GET', k) ~= ARGV[2] then return 0 end
rcall('PEXPIRE', k, ARGV[3])
return 1
