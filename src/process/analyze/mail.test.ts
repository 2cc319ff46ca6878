/**
 * Mail attachments through falc (postal-mime) against Python's stdlib `email` package (the reference):
 * random messages (test/process/eml.ts, seeded; FALC_SEED=n replays) with attachments named in every way
 * mail names them, encoded base64, quoted-printable and 7bit, in nested multiparts and attached messages.
 * The children identification unpacks have the names and sha256 Python extracts; nothing is written
 * outside the run's scratch directory whatever the names say. Then the guards. Outlook .msg files are
 * written here (test/process/msg.ts on a small CFB writer: no free .msg writer exists on this machine)
 * and read by falc (@kenjiuno/msgreader) and by `msgconvert` (Email::Outlook::Message, Debian's
 * libemail-outlook-message-perl), whose MIME output Python's email package takes apart: the same children.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeEml } from "../../../test/process/eml.ts";
import { type MsgSpec, writeMsg } from "../../../test/process/msg.ts";
import { run } from "../../../test/process/samples.ts";
import { seededRandom, testSeed } from "../../../test/seeded.ts";
import { identify } from "./identify.ts";
import { DEFAULT_UNPACK_LIMITS } from "./libarchive.ts";
import { mailAttachments, unpackMail } from "./mail.ts";

const seed = testSeed("mail differential");
const root = mkdtempSync(join(tmpdir(), "falc-mail-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sha256 = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");
const sorted = (x: [string, string][]) => x.map((p) => JSON.stringify(p)).sort();

/** Named leaf parts as Python's email package sees them, per file: [[name, sha256], ...]. */
const PY = `
import email, email.policy, hashlib, json, sys
out = {}
for path in sys.argv[1:]:
    msg = email.message_from_bytes(open(path, 'rb').read(), policy=email.policy.default)
    out[path] = [[p.get_filename(), hashlib.sha256(p.get_payload(decode=True) or b'').hexdigest()]
                 for p in msg.walk() if not p.is_multipart() and p.get_filename() is not None]
print(json.dumps(out))
`;

describe("eml attachments against Python's email package", () => {
  test("random messages: same children (names and sha256) as Python, none written outside the scratch dir", async () => {
    const r = seededRandom(seed);
    const files: { path: string; want: [string, string][] }[] = [];
    for (let i = 0; i < 30; i++) {
      const m = makeEml(r);
      const path = join(root, `m${i}.eml`);
      writeFileSync(path, m.eml);
      files.push({ path, want: m.attachments.map(([n, d]) => [n, sha256(d)]) });
    }
    const py = JSON.parse(await run(["/usr/bin/python3", "-c", PY, ...files.map((f) => f.path)])) as Record<string, [string, string][]>;
    let children = 0;
    for (const f of files) {
      // The generator's own record agrees with the reference (else the test would prove nothing).
      expect(sorted(py[f.path]!)).toEqual(sorted(f.want));
      const work = join(root, `work-${f.path.slice(-6)}`, "run");
      mkdirSync(work, { recursive: true });
      const res = await identify(f.path, f.path.split("/").pop()!, { passwords: [], workDir: work });
      expect(res.errors).toEqual([]);
      const got = (res.files ?? []).map((x): [string, string] => [x.extrpath[x.extrpath.length - 1]!, x.sha256]);
      expect({ file: f.path, children: sorted(got) }).toEqual({ file: f.path, children: sorted(py[f.path]!) });
      children += got.length;
      // `../` in a name never leaves the run's directory: its parent holds the run only.
      expect(readdirSync(join(work, ".."))).toEqual(["run"]);
    }
    expect(children).toBeGreaterThan(30);
  });

  test("an attached message is a child opened in turn: its attachments have the extrpath through it", async () => {
    const inner = `From: a@example.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="in"\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\nhi\r\n--in\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="deep.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\nZGVlcA==\r\n--in--\r\n`;
    const outer = `From: b@example.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="out"\r\n\r\n--out\r\nContent-Type: message/rfc822\r\n\r\n${inner}\r\n--out--\r\n`;
    const path = join(root, "fwd.eml");
    writeFileSync(path, outer);
    const work = join(root, "fwd-work");
    mkdirSync(work);
    const res = await identify(path, "fwd.eml", { passwords: [], workDir: work });
    expect(res.files?.map((f) => f.extrpath)).toEqual([["attachment-1.eml", "deep.bin"]]);
    expect(res.files?.[0]?.sha256).toBe(sha256(Buffer.from("deep")));
  });

  test("guards: entry count, entry size and the total budget stop the unpacking with a reason", async () => {
    const part = (i: number, size: number) => `--x\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="f${i}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.alloc(size, i).toString("base64")}\r\n`;
    const eml = Buffer.from(`From: a@example.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n${[0, 1, 2, 3].map((i) => part(i, 1000)).join("")}--x--\r\n`);
    const few = await unpackMail(eml, "eml", { limits: { ...DEFAULT_UNPACK_LIMITS, maxEntries: 2 } });
    expect(few.entries.filter((e) => e.data).length).toBe(2);
    expect(few.error).toContain("more than 2 entries");
    const small = await unpackMail(eml, "eml", { limits: { ...DEFAULT_UNPACK_LIMITS, maxEntrySize: 999 } });
    expect(small.entries[0]!.data).toBeUndefined();
    expect(small.error).toContain("f0: over the entry size limit of 999 bytes");
    const budget = { used: 0 };
    const total = await unpackMail(eml, "eml", { limits: { ...DEFAULT_UNPACK_LIMITS, maxTotalSize: 2500 }, budget });
    expect(total.entries.filter((e) => e.data).length).toBe(2);
    expect(total.error).toContain("f2: total unpacked size would exceed the limit of 2500 bytes");
    expect(budget.used).toBe(2000);
    // A message larger than the total budget is not parsed at all: identification lists it with the reason.
    const path = join(root, "big.eml");
    writeFileSync(path, eml);
    const work = join(root, "big-work");
    mkdirSync(work);
    const res = await identify(path, "big.eml", { passwords: [], workDir: work, limits: { ...DEFAULT_UNPACK_LIMITS, maxTotalSize: 1000 } });
    expect(res.ignored.map((i) => i.reason)).toEqual([`message of ${eml.length} bytes is over the unpacking limit of 1000 bytes: not opened`]);
  });

  test("a message nested deeper than the depth limit is listed as ignored, not opened", async () => {
    let m = `From: z@example.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="z"\r\n\r\n--z\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="bottom.bin"\r\n\r\nbottom\r\n--z--\r\n`;
    for (let i = 0; i < 3; i++) m = `From: l${i}@example.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="l${i}"\r\n\r\n--l${i}\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="l${i}.eml"\r\n\r\n${m}\r\n--l${i}--\r\n`;
    const path = join(root, "deep.eml");
    writeFileSync(path, m);
    const work = join(root, "deep-work");
    mkdirSync(work);
    const res = await identify(path, "deep.eml", { passwords: [], workDir: work, maxDepth: 3 });
    expect(res.files).toEqual([]);
    expect(res.ignored.map((i) => i.reason)).toEqual(["archive nested deeper than 3 levels"]);
    expect(res.ignored[0]!.filename).toBe("l2.eml/l1.eml/l0.eml");
  });
});

describe("msg attachments against msgconvert + Python's email package", () => {
  const NAMES = ["report.pdf", "отчёт.scr", "../../evil.exe", "名前 1.txt", "a\\b.js", "x"];
  function spec(r: () => number, depth: number): MsgSpec {
    const n = Math.floor(r() * 5);
    const attachments = Array.from({ length: n }, (_, i) => {
      // Sizes on both sides of the 4,096-byte mini stream cutoff.
      const size = 1 + Math.floor(r() * (r() < 0.5 ? 4096 : 12000));
      return { name: `${NAMES[Math.floor(r() * NAMES.length)]}${i}`, data: Uint8Array.from({ length: size }, () => Math.floor(r() * 256)) };
    });
    return { subject: `s${depth}`, body: `body ${depth}`, attachments, embedded: depth < 1 && r() < 0.4 ? [spec(r, depth + 1)] : [] };
  }
  const leaves = (s: MsgSpec): [string, string][] => [...s.attachments.map((a): [string, string] => [a.name, sha256(a.data)]), ...(s.embedded ?? []).flatMap(leaves)];

  test("random messages: same children (names and sha256) as msgconvert's MIME read by Python", async () => {
    const r = seededRandom(seed ^ 0x6d5a);
    const files: { path: string; want: [string, string][] }[] = [];
    for (let i = 0; i < 12; i++) {
      const s = spec(r, 0);
      const path = join(root, `o${i}.msg`);
      writeFileSync(path, writeMsg(s));
      files.push({ path, want: leaves(s) });
    }
    await run(["msgconvert", ...files.map((f) => f.path)], root);
    const py = JSON.parse(await run(["/usr/bin/python3", "-c", PY, ...files.map((f) => f.path.replace(/\.msg$/, ".eml"))])) as Record<string, [string, string][]>;
    let children = 0;
    for (const f of files) {
      const ref = py[f.path.replace(/\.msg$/, ".eml")]!;
      expect(sorted(ref)).toEqual(sorted(f.want));
      const work = join(root, `work-${f.path.slice(-6)}`, "run");
      mkdirSync(work, { recursive: true });
      const res = await identify(f.path, f.path.split("/").pop()!, { passwords: [], workDir: work });
      expect(res.target.media_type).toBe("application/vnd.ms-outlook");
      expect(res.errors).toEqual([]);
      const got = (res.files ?? []).map((x): [string, string] => [x.extrpath[x.extrpath.length - 1]!, x.sha256]);
      expect({ file: f.path, children: sorted(got) }).toEqual({ file: f.path, children: sorted(ref) });
      children += got.length;
      expect(readdirSync(join(work, ".."))).toEqual(["run"]);
    }
    expect(children).toBeGreaterThan(10);
  });

  test("a .msg whose sector chains or directory tree loop, or whose counts exceed the file, is refused with a reason, not followed forever", async () => {
    const good = writeMsg({ subject: "s", body: "b", attachments: [{ name: "big.bin", data: new Uint8Array(5000).fill(7) }, { name: "small.bin", data: new Uint8Array(300).fill(8) }] });
    expect((await mailAttachments(good, "msg")).map((a) => a.name)).toEqual(["big.bin", "small.bin"]);
    const v = new DataView(good.buffer);
    const sector = (n: number) => 512 * (1 + n);
    const miniLoop = good.slice();
    miniLoop.fill(0, sector(v.getUint32(60, true)), sector(v.getUint32(60, true) + 1)); // every mini sector points at mini sector 0
    const fatLoop = good.slice();
    new DataView(fatLoop.buffer).setUint32(sector(v.getUint32(76, true)), 0, true); // the big stream's first sector points at itself
    const treeLoop = good.slice();
    const dir = sector(v.getUint32(48, true));
    const rootChild = v.getUint32(dir + 76, true);
    new DataView(treeLoop.buffer).setUint32(dir + rootChild * 128 + 68, rootChild, true); // an entry is its own left sibling
    const difat = good.slice();
    new DataView(difat.buffer).setUint32(72, 0x00eb0000, true); // a DIFAT count of millions (the reader looped over it for 34 s)
    for (const [bad, why] of [[miniLoop, "the chain loops"], [fatLoop, "the chain loops"], [treeLoop, "the directory tree loops"], [difat, "DIFAT sectors in a file of"]] as const) {
      const err = await mailAttachments(bad, "msg").then(() => undefined, (e: Error) => e);
      expect(err?.message).toContain(`damaged compound file:`);
      expect(err?.message).toContain(why);
    }
    // Through identification: the message is listed as ignored with the reason, the run goes on.
    const path = join(root, "loop.msg");
    writeFileSync(path, miniLoop);
    const work = join(root, "loop-work");
    mkdirSync(work);
    const res = await identify(path, "loop.msg", { passwords: [], workDir: work });
    expect(res.selected).toBe(false);
    expect(res.ignored.map((i) => i.reason)).toEqual([expect.stringContaining("damaged compound file")]);
  });
});
