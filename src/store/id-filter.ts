import { randomBytes } from 'node:crypto';
import { mix32, wordLE } from '../crypto/hash.js';

/** Ids the first layer is sized for; each further layer holds twice as many. */
const FIRST_LAYER_IDS = 16 * 1024;
/** Bits per id and probes per lookup: about 0.3% false positives per layer. */
const BITS_PER_ID = 12;
const PROBES = 8;

interface Layer {
  bits: Uint32Array;
  mask: number;
  capacity: number;
  count: number;
}

/**
 * Which ids are certainly not in the message log, so that appending a new
 * message needs no disk read: a Bloom filter that grows by layers (each
 * twice the last) as the log grows, so it never has to be rebuilt. A
 * false positive only costs the disk lookup the filter saves otherwise.
 * About 1.5 bytes an id.
 *
 * Ids are sha256 digests, but of content a peer chooses, so the bit
 * positions are mixed with a per-process secret: nobody can aim ids at a
 * chosen set of bits.
 */
export class IdFilter {
  private readonly layers: Layer[] = [];
  private readonly seeds: Uint32Array;

  constructor() {
    const seed = randomBytes(16);
    this.seeds = new Uint32Array([seed.readUInt32LE(0), seed.readUInt32LE(4), seed.readUInt32LE(8), seed.readUInt32LE(12)]);
    this.grow();
  }

  /** Ids added so far. */
  get size(): number {
    return this.layers.reduce((n, l) => n + l.count, 0);
  }

  /** False means `id` was never added; true means it probably was. */
  mightHave(id: Uint8Array): boolean {
    const [h1, h2] = this.hashes(id);
    for (const layer of this.layers) if (this.test(layer, h1, h2)) return true;
    return false;
  }

  add(id: Uint8Array): void {
    let layer = this.layers[this.layers.length - 1]!;
    if (layer.count >= layer.capacity) layer = this.grow();
    const [h1, h2] = this.hashes(id);
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & layer.mask;
      layer.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    layer.count++;
  }

  private test(layer: Layer, h1: number, h2: number): boolean {
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & layer.mask;
      if ((layer.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  private grow(): Layer {
    const capacity = FIRST_LAYER_IDS * 2 ** this.layers.length;
    let size = 32;
    while (size < capacity * BITS_PER_ID) size *= 2;
    const layer = { bits: new Uint32Array(size / 32), mask: size - 1, capacity, count: 0 };
    this.layers.push(layer);
    return layer;
  }

  /** Two 32-bit hashes for double hashing (the second odd, so the probes differ). */
  private hashes(id: Uint8Array): [number, number] {
    const s = this.seeds;
    const h1 = mix32(wordLE(id, 0) ^ s[0]!) ^ mix32(wordLE(id, 4) ^ s[1]!);
    const h2 = mix32(wordLE(id, 8) ^ s[2]!) ^ mix32(wordLE(id, 12) ^ s[3]!);
    return [h1 >>> 0, (h2 | 1) >>> 0];
  }
}
