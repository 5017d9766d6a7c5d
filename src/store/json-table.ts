import { bytesSublevel, type BytesSublevel, type Database } from './database.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A small keyed table kept whole in memory and written through to a LevelDB
 * sublevel as JSON (peer store, ban list): reads never wait on disk, writes
 * are queued in order and flush() waits for them.
 */
export class JsonTable<T> {
  private readonly sub: BytesSublevel;
  private writes: Promise<void> = Promise.resolve();
  private failed: unknown;

  constructor(db: Database, name: string) {
    this.sub = bytesSublevel(db, name);
  }

  /** Every stored record that `check` accepts; others (corrupt, older formats) are deleted. */
  async load(check: (key: string, value: unknown) => T | undefined): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    const bad: Uint8Array[] = [];
    for await (const [k, v] of this.sub.iterator()) {
      let value: T | undefined;
      try {
        value = check(dec.decode(k), JSON.parse(dec.decode(v)) as unknown);
      } catch {
        value = undefined;
      }
      if (value === undefined) bad.push(k);
      else out.set(dec.decode(k), value);
    }
    for (const k of bad) await this.sub.del(k);
    return out;
  }

  put(key: string, value: T): void {
    this.enqueue(() => this.sub.put(enc.encode(key), enc.encode(JSON.stringify(value))));
  }

  del(key: string): void {
    this.enqueue(() => this.sub.del(enc.encode(key)));
  }

  /** Wait for every queued write; rejects with the first write error, if any. */
  async flush(): Promise<void> {
    await this.writes;
    if (this.failed !== undefined) throw this.failed;
  }

  private enqueue(write: () => Promise<void>): void {
    this.writes = this.writes.then(write).catch((err: unknown) => {
      this.failed ??= err;
    });
  }
}
