-- ARGV: id
local stage = rcall('HGET', 'falc:_t', ARGV[1])
if not stage then return false end
return rcall('HGETALL', jk(stage, ARGV[1]))
