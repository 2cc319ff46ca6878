// Runs inside a cluster node's namespace: enqueues N effects tasks in one batch on the node's FALC_QUEUE and
// prints their ids as JSON. (falc tasks submit would do one process per task; the queue code is the binary's.)
import { openQueue } from "../../src/queue/open.ts";

const [n, file, msMax] = process.argv.slice(2);
const q = await openQueue(process.env.FALC_QUEUE!, { home: process.env.FALC_HOME! });
let seed = Number(process.env.FALC_SEED ?? 1) >>> 0;
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
const tasks = await q.enqueueMany(
  // One task in ten outlasts the lease (the test's leases are a few seconds), so a node cut off or frozen
  // mid-run is still working when its lease expires and another node takes the task: fencing must stop it.
  Array.from({ length: Number(n) }, () => ({
    stage: "effects",
    payload: { file, ms: rand() < 0.1 ? 6000 + Math.floor(rand() * 3000) : 50 + Math.floor(rand() * Number(msMax ?? 400)) },
    maxAttempts: 10,
  })),
);
console.log(JSON.stringify(tasks.map((t) => t.id)));
await q.close();
