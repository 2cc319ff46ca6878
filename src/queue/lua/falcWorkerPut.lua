-- ARGV: name, recordJson, ttlMs
rcall('SET', 'falc:_w:' .. ARGV[1], ARGV[2], 'PX', ARGV[3])
rcall('ZADD', 'falc:_workers', n2s(nowms() + tonumber(ARGV[3])), ARGV[1])
return 1
