-- → flat list stage, status, count, ...
local out = {}
local sts = { 'created', 'queued', 'requested', 'started', 'finished', 'failed', 'cancelled' }
for _, stage in ipairs(rcall('SMEMBERS', 'falc:_stages')) do
  for _, st in ipairs(sts) do
    local n = rcall('ZCARD', ix(stage, st))
    if n > 0 then out[#out + 1] = stage; out[#out + 1] = st; out[#out + 1] = n end
  end
end
return out
