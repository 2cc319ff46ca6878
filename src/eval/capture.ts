/** Reads a stream keeping at most `cap` bytes; calls onOverflow once when more arrives. */
export class CappedCapture {
  private chunks: Uint8Array[] = [];
  private size = 0;
  truncated = false;
  total = 0;

  constructor(private cap: number, private onOverflow: () => void) {}

  async drain(stream: ReadableStream<Uint8Array> | null | undefined): Promise<void> {
    if (!stream) return;
    const reader = stream.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.push(value);
      }
    } catch {
      // The pipe broke because the sandbox was killed: keep what we have.
    } finally {
      reader.releaseLock();
    }
  }

  push(chunk: Uint8Array): void {
    this.total += chunk.length;
    const room = this.cap - this.size;
    if (chunk.length > room) {
      if (room > 0) this.chunks.push(chunk.subarray(0, room));
      this.size = this.cap;
      if (!this.truncated) {
        this.truncated = true;
        this.onOverflow();
      }
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.chunks));
  }

  text(): string {
    return new TextDecoder("utf-8", { fatal: false }).decode(Buffer.concat(this.chunks));
  }

  /**
   * The output as text, plus base64 of the exact bytes when they are not valid UTF-8. A cut at the
   * cap that splits a character is not invalid output: only whole invalid sequences count.
   */
  decoded(): { text: string; b64?: string } {
    const buf = Buffer.concat(this.chunks);
    try {
      return { text: new TextDecoder("utf-8", { fatal: true }).decode(buf) };
    } catch {
      if (this.truncated) {
        // Drop an incomplete character at the very end (at most 3 bytes) and try again.
        for (let cut = 1; cut <= 3 && cut <= buf.length; cut++) {
          try {
            const text = new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(0, buf.length - cut));
            return { text };
          } catch {}
        }
      }
      return { text: new TextDecoder("utf-8", { fatal: false }).decode(buf), b64: buf.toString("base64") };
    }
  }
}
