-- ARGV: id, worker, resultJson, hasResult, token|'', nextWorker, leaseMs, start 0|1, stage... → { completed, next hash | false }
-- One round trip per task for a busy worker, as BullMQ's workers fetch their next job.
local now = nowms()
local done = complete(ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', now, ARGV[5])
return { done, claim(ARGV[6], tonumber(ARGV[7]), 9, now, ARGV[8] == '1') }
