/**
 * Kademlia geometry and the routing table. Ids are the 32-byte node ids
 * (SHA-256 of the node's compressed public key), as 64-char lowercase hex.
 */

export const ID_BYTES = 32;
/** Bucket size. */
export const K = 16;
/** Lookup parallelism. */
export const ALPHA = 3;

export function idBytes(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}

/** XOR distance as bytes (compare with Buffer.compare). */
export function distance(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(ID_BYTES);
  for (let i = 0; i < ID_BYTES; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

/**
 * Bucket index of `other` seen from `self`: 255 minus the number of leading
 * zero bits of the distance (bucket 255 holds the farthest half of the space);
 * -1 for self.
 */
export function bucketIndex(self: Buffer, other: Buffer): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const x = (self[i] ?? 0) ^ (other[i] ?? 0);
    if (x !== 0) return (ID_BYTES - 1 - i) * 8 + (31 - Math.clz32(x));
  }
  return -1;
}

/** A random id whose distance from `self` falls in bucket `index`. */
export function randomIdInBucket(self: Buffer, index: number, random: (n: number) => Buffer): Buffer {
  const id = Buffer.from(self);
  const rnd = random(ID_BYTES);
  const byte = ID_BYTES - 1 - Math.floor(index / 8);
  const bit = index % 8;
  // Flip the bucket's bit, randomise everything below it.
  id[byte] = ((self[byte] ?? 0) ^ (1 << bit)) & ~((1 << bit) - 1) & 0xff;
  id[byte] = (id[byte] ?? 0) | ((rnd[byte] ?? 0) & ((1 << bit) - 1));
  for (let i = byte + 1; i < ID_BYTES; i++) id[i] = rnd[i] ?? 0;
  return id;
}

export interface Contact {
  id: string;
  /** host:port it accepts connections on. */
  address: string;
  /** When we last heard from it (ms since the epoch). */
  lastSeenMs: number;
}

export type AddResult =
  | { kind: 'added' | 'updated' }
  /** The bucket is full: ping `oldest`; if it does not answer, replace it with the newcomer. */
  | { kind: 'full'; oldest: Contact };

/** 256 k-buckets, each ordered least recently seen first. */
export class RoutingTable {
  private readonly buckets: Contact[][] = Array.from({ length: ID_BYTES * 8 }, () => []);
  /** When each bucket last had a lookup through it (for refresh). */
  private readonly touched: number[] = new Array<number>(ID_BYTES * 8).fill(0);
  readonly selfId: Buffer;

  constructor(selfHex: string) {
    this.selfId = idBytes(selfHex);
  }

  get size(): number {
    let n = 0;
    for (const b of this.buckets) n += b.length;
    return n;
  }

  /** Note that we heard from `contact`; see AddResult for a full bucket. */
  add(contact: Contact): AddResult {
    const i = bucketIndex(this.selfId, idBytes(contact.id));
    const bucket = i < 0 ? undefined : this.buckets[i];
    if (bucket === undefined) return { kind: 'updated' };
    this.touched[i] = contact.lastSeenMs;
    const at = bucket.findIndex((c) => c.id === contact.id);
    if (at >= 0) {
      bucket.splice(at, 1);
      bucket.push(contact);
      return { kind: 'updated' };
    }
    if (bucket.length < K) {
      bucket.push(contact);
      return { kind: 'added' };
    }
    return { kind: 'full', oldest: bucket[0] as Contact };
  }

  /** After a ping: replace the silent `oldest` with `newcomer` (no-op if the bucket changed meanwhile). */
  replace(oldest: Contact, newcomer: Contact): void {
    const bucket = this.buckets[bucketIndex(this.selfId, idBytes(oldest.id))];
    if (bucket === undefined || bucket[0]?.id !== oldest.id) return;
    bucket.shift();
    bucket.push(newcomer);
  }

  remove(id: string): void {
    const bucket = this.buckets[bucketIndex(this.selfId, idBytes(id))];
    const at = bucket?.findIndex((c) => c.id === id) ?? -1;
    if (bucket !== undefined && at >= 0) bucket.splice(at, 1);
  }

  get(id: string): Contact | undefined {
    return this.buckets[bucketIndex(this.selfId, idBytes(id))]?.find((c) => c.id === id);
  }

  /** The `count` known contacts closest to `target`, closest first. */
  closest(target: Buffer, count = K): Contact[] {
    const all: { c: Contact; d: Buffer }[] = [];
    for (const b of this.buckets) for (const c of b) all.push({ c, d: distance(idBytes(c.id), target) });
    all.sort((x, y) => Buffer.compare(x.d, y.d));
    return all.slice(0, count).map((x) => x.c);
  }

  /** Indexes of non-empty buckets with no lookup or contact since `before`. */
  staleBuckets(before: number): number[] {
    const out: number[] = [];
    this.buckets.forEach((b, i) => {
      if (b.length > 0 && (this.touched[i] ?? 0) < before) out.push(i);
    });
    return out;
  }

  touch(index: number, now: number): void {
    if (index >= 0 && index < this.touched.length) this.touched[index] = now;
  }

  all(): Contact[] {
    return this.buckets.flat();
  }
}
