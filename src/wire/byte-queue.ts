/**
 * Received chunks waiting to be cut into frames. Views into the chunks are
 * handed out when a frame lies inside one chunk; only frames that straddle
 * chunks are copied.
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // offset into chunks[0]
  private total = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** Big-endian u32 at `offset` from the start, or -1 when fewer bytes are buffered. */
  peekU32(offset = 0): number {
    if (this.total < offset + 4) return -1;
    const first = this.chunks[0]!;
    const at = this.head + offset;
    if (at + 4 <= first.length) {
      return ((first[at]! << 24) | (first[at + 1]! << 16) | (first[at + 2]! << 8) | first[at + 3]!) >>> 0;
    }
    const b = this.peek(offset, 4);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }

  /** `n` bytes starting `offset` bytes in, without consuming (copies only across chunks). */
  private peek(offset: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    let skip = this.head + offset;
    let filled = 0;
    for (const c of this.chunks) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      const take = Math.min(c.length - skip, n - filled);
      out.set(c.subarray(skip, skip + take), filled);
      filled += take;
      skip = 0;
      if (filled === n) break;
    }
    return out;
  }

  /**
   * Removes and returns the first `n` bytes (caller checked `length >= n`).
   * Bytes that straddle chunks are copied into `scratch(n)` when it is given
   * (called only when a copy is needed; the result is then only valid until
   * that buffer is reused), otherwise into a new buffer.
   */
  take(n: number, scratch?: (n: number) => Uint8Array): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[0]!;
    let out: Uint8Array;
    if (this.head + n <= first.length) {
      out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
    } else {
      out = scratch?.(n) ?? Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const take = Math.min(c.length - this.head, n - filled);
        out.set(c.subarray(this.head, this.head + take), filled);
        filled += take;
        this.head += take;
        if (this.head === c.length) {
          this.chunks.shift();
          this.head = 0;
        }
      }
    }
    this.total -= n;
    return out;
  }

  /** Removes and returns everything buffered. */
  takeAll(): Uint8Array {
    return this.total === 0 ? new Uint8Array(0) : this.take(this.total);
  }
}
