/**
 * An IPv6 address's eight 16-bit groups as RFC 5952 text: lower-case hex without leading zeros, the
 * longest run of two or more zero groups (the first of equal runs) written as "::".
 */
export function ipv6Text(groups: number[]): string {
  const parts = groups.map((g) => g.toString(16));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return parts.join(":");
  return `${parts.slice(0, best).join(":")}::${parts.slice(best + bestLen).join(":")}`;
}
