import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runNmap } from "./nmap.ts";
import { discoveryArgv, type Profile } from "./profile.ts";
import { parseNmapXml } from "./xml.ts";

/**
 * The ports a profile's sweep scans, per protocol, as nmap itself expands them (`--top-ports N`
 * is nmap's own list): nmap run on no target still writes its <scaninfo>. Replace needs it for a
 * host found down by the run's sweep, whose ports were never swept one by one.
 */
export async function profilePortSet(profile: Profile, o: { workDir: string; nmapBin?: string }): Promise<{ tcp?: string; udp?: string }> {
  const xml = join(o.workDir, "port-set.xml");
  const argv = discoveryArgv({ ...profile, skip_host_discovery: true }, [], 4, xml);
  argv.splice(argv.indexOf("--"), 1, "-iL", "/dev/null");
  await runNmap(argv, { bin: o.nmapBin, timeoutS: 30 });
  const s = parseNmapXml(readFileSync(xml, "utf8"), "nmap port list XML").scanned;
  return { ...(s.tcp ? { tcp: s.tcp } : {}), ...(s.udp ? { udp: s.udp } : {}) };
}
