/**
 * falcPrune (run with redis-lua.ts's prelude): delete at most `limit` ended tasks of one stage from one of
 * BullMQ's sets (completed = finished; failed = failed + cancelled), oldest first by finishedOn, that ended
 * before `cutoff` or lie beyond the newest `keep`. A task leaves everything that names it: its job hash,
 * falc:_t, falc:_ids, its status index, the BullMQ set, its parent's children set (and the lease set, in case).
 * A cancelled task whose worker is still stopping is left for a later pass.
 * ARGV: stage, set ('completed'|'failed'), cutoffMs|'', keep|'', limit → number deleted
 */
export const PRUNE_LUA = `
local stage, set, limit = ARGV[1], qk(ARGV[1], ARGV[2]), tonumber(ARGV[5])
local want = 0
if ARGV[4] ~= '' then want = math.max(0, rcall('ZCARD', set) - tonumber(ARGV[4])) end
if ARGV[3] ~= '' then want = math.max(want, rcall('ZCOUNT', set, '-inf', '(' .. ARGV[3])) end
want = math.min(want, limit)
if want == 0 then return 0 end
local ids = rcall('ZRANGE', set, 0, want - 1)
local n = 0
for _, id in ipairs(ids) do
  local k = jk(stage, id)
  local h = rcall('HMGET', k, 'st', 'w', 'par')
  if h[1] == false then
    -- A set entry without its hash (written by something else): drop the entry.
    rcall('ZREM', set, id)
  elseif final(h[1]) and not h[2] then
    rcall('DEL', k)
    rcall('HDEL', 'falc:_t', id)
    rcall('ZREM', 'falc:_ids', id)
    rcall('ZREM', ix(stage, h[1]), id)
    rcall('ZREM', set, id)
    rcall('ZREM', 'falc:_leases', id)
    if h[3] then rcall('ZREM', 'falc:_children:' .. h[3], id) end
    n = n + 1
  end
end
return n
`;
