import type { Socket } from "node:net";

/**
 * Who may be in the handshake at once. Before the key is proven every connection looks the same,
 * so refusing new ones when full would let a few hundred idle or slow-loris sockets lock every
 * worker out (they only need to hold their slots). Instead a new connection always gets a slot,
 * and the one cut to make room is the oldest of the source address that holds the most: an
 * address flooding connections evicts its own, and a worker (one handshake, done in a few ms)
 * is only cut if it is that slow and its address the greediest. The handshake deadline bounds
 * how long any slot is held at all.
 */
export interface Slot {
  /** The handshake ended (admitted or refused): free the slot. */
  done(): void;
}

export class Admission {
  /** Per address, its connections in arrival order. */
  private byAddr = new Map<string, Socket[]>();
  private total = 0;
  private evicted = 0;
  private lastReport = 0;

  constructor(
    readonly max: number,
    readonly maxPerAddr: number,
    /** Told how many were cut since the last report, at most every 10 s. */
    private report: (count: number, why: string) => void,
    private reportEveryMs = 10_000,
  ) {}

  get pending(): number {
    return this.total;
  }

  admit(sock: Socket): Slot {
    const addr = (sock.remoteAddress ?? "?").replace(/^::ffff:/i, "");
    const own = this.byAddr.get(addr) ?? [];
    if (own.length >= this.maxPerAddr) this.evict(own[0]!, addr, `more than ${this.maxPerAddr} from one address`);
    else if (this.total >= this.max) {
      let worst: string | null = null;
      let most = 0;
      for (const [a, list] of this.byAddr) if (list.length > most) [worst, most] = [a, list.length];
      if (worst !== null) this.evict(this.byAddr.get(worst)![0]!, worst, `more than ${this.max} in total`);
    }
    const list = this.byAddr.get(addr) ?? [];
    list.push(sock);
    this.byAddr.set(addr, list);
    this.total++;
    let freed = false;
    return {
      done: () => {
        if (freed) return;
        freed = true;
        this.remove(sock, addr);
      },
    };
  }

  private remove(sock: Socket, addr: string): boolean {
    const list = this.byAddr.get(addr);
    const i = list?.indexOf(sock) ?? -1;
    if (i < 0) return false;
    list!.splice(i, 1);
    if (!list!.length) this.byAddr.delete(addr);
    this.total--;
    return true;
  }

  private evict(sock: Socket, addr: string, why: string): void {
    this.remove(sock, addr);
    sock.destroy();
    this.evicted++;
    const now = Date.now();
    if (now - this.lastReport >= this.reportEveryMs) {
      this.report(this.evicted, why);
      this.evicted = 0;
      this.lastReport = now;
    }
  }
}
