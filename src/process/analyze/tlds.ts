/**
 * Top-level domains that make a dotted token a domain IOC: every country code plus the generic ones that
 * show up in malware traffic. Deliberately not the full IANA list: names like .zip, .mov or .exe-looking
 * gTLDs would turn file names into domains.
 */
const CC =
  "ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz " +
  "de dj dk dm do dz ec ee eg er es et eu fi fj fk fm fo fr ga gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it " +
  "je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz " +
  "om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sk sl sm sn so sr ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz " +
  "ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw";
const GENERIC =
  "com net org info biz gov edu mil int arpa onion xyz top online site club shop store app dev cloud tech live pro name mobi asia tel icu vip work link click " +
  "space fun website press host buzz monster cyou rest bar best cam today world life email network services support center download win bid loan date racing " +
  "review stream trade party science men digital agency solutions company group global media news blog page one run sbs lol pw";

export const TLDS: ReadonlySet<string> = new Set(`${CC} ${GENERIC}`.split(/\s+/));

/** Country codes that are also common file extensions or words (libc.so, setup.py, read.me): need three labels. */
export const AMBIGUOUS_TLDS: ReadonlySet<string> = new Set("so py sh pl rs md ps cc cs mk am ac hh in pm ai mo id ms".split(" "));

export function isDomain(token: string): boolean {
  const labels = token.toLowerCase().split(".");
  if (labels.length < 2 || token.length > 253) return false;
  const tld = labels[labels.length - 1]!;
  if (!TLDS.has(tld)) return false;
  if (labels.length === 2 && AMBIGUOUS_TLDS.has(tld)) return false;
  return labels.every((l) => l.length > 0 && l.length <= 63 && /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(l));
}
