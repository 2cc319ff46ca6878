/** Cuckoo3's score levels in words, for summaries and reports. */
export function scoreLabel(score: number): string {
  if (score >= 10) return "known bad";
  if (score >= 9) return "malicious";
  if (score >= 8) return "likely malicious";
  if (score >= 6) return "suspicious";
  if (score >= 1) return "informational";
  return "no signatures";
}
