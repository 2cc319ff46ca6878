/**
 * The Redis backend's state machine, one Lua script per queue operation, so every transition
 * (task hash, BullMQ state sets, falc indexes, lease set, event log) happens atomically on the
 * server: no claim is ever taken twice and no crash between two commands leaves a half-moved task.
 *
 * Layout (standalone Redis; scripts touch keys they compute, so Redis Cluster is not supported).
 * Each stage is a BullMQ queue named <stage> with prefix `falc` (qualified name falc:<stage>; BullMQ forbids
 * ':' inside a queue name, so the prefix carries it):
 *   falc:<stage>:<id>              job hash: BullMQ's fields (name, data, opts, timestamp, delay, priority,
 *                                  processedOn, finishedOn, progress, returnvalue, failedReason, atm, ats, pb)
 *                                  plus falc's (st, att, max, fpri, qa, ra, sa, fa, run, to, err, par, w, lu,
 *                                  pg, pn, cr, ord, nonce, tok = attempt token, one more at every claim)
 *   falc:<stage>:prioritized       queued and due (score = BullMQ priority·2^32 + creation order)
 *   falc:<stage>:delayed           queued, not yet due (score = runAt·4096 + order), BullMQ's encoding
 *   falc:<stage>:active            requested and started (list)
 *   falc:<stage>:completed         finished (score = finishedAt)
 *   falc:<stage>:failed            failed and cancelled (score = finishedAt)
 * falc's own keys start with `falc:_`, which no stage name (^[a-z][a-z0-9_-]*$) can produce:
 *   falc:_t                        id → stage
 *   falc:_ids                      every id (score 0, read by lex range): text search by id prefix
 *   falc:_stages                   every stage ever queued
 *   falc:_x:<stage>:<status>       index per stage and status (score = creation order): stats and list
 *   falc:_children:<parent>        child ids of a parent task
 *   falc:_leases                   held tasks by lease expiry (the reaper's view)
 *   falc:_ord, falc:_seq           creation order and event sequence counters
 *   falc:_events                   event stream, entry id `<seq>-0`
 *   falc:_lock:<key>               named locks (value = owner, PX = TTL)
 *   falc:_w:<name>, falc:_workers  worker registry records (PX = TTL) and their expiry index
 *   falc:_cancel                   pub/sub channel: ids of running tasks just cancelled
 * BullMQ's Queue API (and so Bull Board) reads the five per-stage structures.
 * All times come from the Redis server's clock (TIME), one clock for every machine.
 */

import { PRUNE_LUA } from "./redis-prune-lua.ts";
// The Lua lives in ./lua/*.lua, read as text when the module is bundled (also into the compiled binary).
import prelude_ from "./lua/prelude.lua" with { type: "text" };
import falcEnqueue from "./lua/falcEnqueue.lua" with { type: "text" };
import falcClaim from "./lua/falcClaim.lua" with { type: "text" };
import falcStart from "./lua/falcStart.lua" with { type: "text" };
import falcHeartbeat from "./lua/falcHeartbeat.lua" with { type: "text" };
import falcProgress from "./lua/falcProgress.lua" with { type: "text" };
import falcComplete from "./lua/falcComplete.lua" with { type: "text" };
import falcCompleteAndClaim from "./lua/falcCompleteAndClaim.lua" with { type: "text" };
import falcFail from "./lua/falcFail.lua" with { type: "text" };
import falcRelease from "./lua/falcRelease.lua" with { type: "text" };
import falcCancel from "./lua/falcCancel.lua" with { type: "text" };
import falcRetry from "./lua/falcRetry.lua" with { type: "text" };
import falcGet from "./lua/falcGet.lua" with { type: "text" };
import falcReap from "./lua/falcReap.lua" with { type: "text" };
import falcStats from "./lua/falcStats.lua" with { type: "text" };
import falcLockAcquire from "./lua/falcLockAcquire.lua" with { type: "text" };
import falcLockRenew from "./lua/falcLockRenew.lua" with { type: "text" };
import falcLockRelease from "./lua/falcLockRelease.lua" with { type: "text" };
import falcWorkerPut from "./lua/falcWorkerPut.lua" with { type: "text" };
import falcWorkerList from "./lua/falcWorkerList.lua" with { type: "text" };


/** The scripts, by command name: ARGV layouts are at the top of each .lua file and in redis.ts where each is called. */
const BODIES: Record<string, string> = {
  falcEnqueue,
  falcClaim,
  falcStart,
  falcHeartbeat,
  falcProgress,
  falcComplete,
  falcCompleteAndClaim,
  falcFail,
  falcRelease,
  falcCancel,
  falcRetry,
  falcGet,
  falcReap,
  falcStats,
  falcLockAcquire,
  falcLockRenew,
  falcLockRelease,
  falcWorkerPut,
  falcWorkerList,
  falcPrune: PRUNE_LUA,
};

/** Script bodies with the shared prelude; `keepEvents` bounds the event stream. */
export function falcScripts(keepEvents: number): Record<string, string> {
  const prelude = prelude_.replace("local KEEP = __KEEP__", "local KEEP = " + String(Math.max(1000, Math.floor(keepEvents))));
  return Object.fromEntries(Object.entries(BODIES).map(([name, body]) => [name, prelude + body]));
}

/** Task ids that would land on a BullMQ structure's key (falc:<stage>:<name>). */
export const RESERVED_IDS = new Set([
  "wait", "active", "paused", "prioritized", "delayed", "completed", "failed", "meta", "id", "pc", "marker",
  "events", "stalled", "stalled-check", "limiter", "repeat", "de", "waiting-children", "metrics",
]);
