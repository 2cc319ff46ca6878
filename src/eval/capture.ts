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

  text(): string {
    return new TextDecoder("utf-8", { fatal: false }).decode(Buffer.concat(this.chunks));
  }
}
