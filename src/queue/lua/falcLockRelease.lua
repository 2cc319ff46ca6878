local k = 'falc:_lock:' .. ARGV[1]
if rcall('GET', k) ~= ARGV[2] then return 0 end
rcall('DEL', k)
return 1
