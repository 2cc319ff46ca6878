/** Splits a byte stream into text lines, refusing a line longer than `max` instead of buffering it. */
export class LineDecoderRaw {
  private buf = "";
  constructor(private max: number) {}

  push(chunk: Buffer): string[] {
    this.buf += chunk.toString("utf8");
    const out: string[] = [];
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.trim()) out.push(line);
    }
    if (this.buf.length > this.max) {
      this.buf = "";
      throw new Error(`line longer than ${this.max} bytes`);
    }
    return out;
  }
}
