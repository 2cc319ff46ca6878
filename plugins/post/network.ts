/**
 * post: network summary of a task from task_<n>/dump.pcap (pcap or pcapng): hosts, DNS queries and
 * answers, TCP/UDP flows, HTTP requests, TLS ClientHello SNI, in Cuckoo3's `network` layout.
 *
 * Config (process.plugins.network): dns_ports ([53]), ignore_hosts (the analysis machine's addresses).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FormatError } from "../../src/process/analyze/bytes.ts";
import { analyzeCapture } from "../../src/process/analyze/network.ts";
import type { PluginApi, Processor } from "../../src/process/plugin.ts";

export default (api: PluginApi): Processor => ({
  kind: "processor",
  NAME: "network",
  ORDER: 20,
  KEY: "network",
  STAGE: "post",
  CATEGORY: ["file", "url"],
  start(ctx) {
    if (!ctx.taskDir) throw new api.DisablePlugin("no task directory");
    const pcap = join(ctx.taskDir, "dump.pcap");
    if (!existsSync(pcap)) return undefined;
    const nums = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is number => Number.isInteger(x)) : undefined);
    const strs = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined);
    try {
      const n = analyzeCapture(readFileSync(pcap), { dnsPorts: nums(ctx.config.dns_ports), ignoreHosts: strs(ctx.config.ignore_hosts) });
      if (n.stats.damaged) ctx.errors.add("network: dump.pcap ends in a damaged or cut-off record; the packets before it were used");
      if (n.stats.truncated) ctx.errors.add("network: lists were cut at their limits");
      return n;
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      ctx.errors.add(`network: dump.pcap: ${e.message}`);
      return undefined;
    }
  },
});
