-- ARGV: n, nonce, then per task: id, stage, payload, priority, runAt|'', delayMs, maxAttempts, timeoutS|'', parentId|''
local n = tonumber(ARGV[1])
local nonce = ARGV[2]
local seen = {}
for i = 0, n - 1 do
  local id = ARGV[3 + i * 9]
  if seen[id] then return { 'dup', id } end
  seen[id] = true
  local stage = rcall('HGET', 'falc:_t', id)
  if stage then
    -- The same call resent after a lost reply (a reconnect) finds its own tasks: it already happened.
    local h = rcall('HMGET', jk(stage, id), 'nonce', 'timestamp', 'ord')
    if i == 0 and h[1] == nonce then return { 'again', h[2], n2s(tonumber(h[3]) - 1) } end
    return { 'exists', id }
  end
end
local now = nowms()
local ord0 = rcall('INCRBY', 'falc:_ord', n) - n
for i = 0, n - 1 do
  local b = 3 + i * 9
  local id, stage, payload, prio = ARGV[b], ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local runAt = ARGV[b + 4] ~= '' and tonumber(ARGV[b + 4]) or (now + math.max(0, tonumber(ARGV[b + 5])))
  local max = ARGV[b + 6]
  local ord = ord0 + i + 1
  -- BullMQ: 1 runs first, up to 2^21; falc: higher runs first.
  local bp = math.max(1, math.min(2097151, 1048576 - math.floor(prio)))
  local delay = math.max(0, runAt - now)
  local k = jk(stage, id)
  local f = { 'id', id, 'name', stage, 'data', payload,
    'opts', cjson.encode({ attempts = tonumber(max), priority = bp, delay = delay }),
    'timestamp', n2s(now), 'delay', n2s(delay), 'priority', n2s(bp), 'fpri', ARGV[b + 3],
    'st', 'queued', 'att', '0', 'atm', '0', 'ats', '0', 'max', max, 'qa', n2s(now), 'run', n2s(runAt),
    'ord', n2s(ord), 'nonce', nonce }
  if ARGV[b + 7] ~= '' then f[#f + 1] = 'to'; f[#f + 1] = ARGV[b + 7] end
  if ARGV[b + 8] ~= '' then
    f[#f + 1] = 'par'; f[#f + 1] = ARGV[b + 8]
    rcall('ZADD', 'falc:_children:' .. ARGV[b + 8], ord, id)
  end
  rcall('HSET', k, unpack(f))
  rcall('HSET', 'falc:_t', id, stage)
  rcall('ZADD', 'falc:_ids', 0, id)
  rcall('SADD', 'falc:_stages', stage)
  rcall('ZADD', ix(stage, 'queued'), ord, id)
  ready(stage, id, bp, ord, runAt, now)
  ev(now, id, stage, 'created', 'created', nil, nil)
  ev(now, id, stage, 'queued', 'queued', nil, runAt > now and ('{"runAt":' .. n2s(runAt) .. '}') or nil)
end
return { 'ok', n2s(now), n2s(ord0) }
