/**
 * Link latencies for the simulation: every host is placed in one of eight
 * regions (seeded), and a link's one-way latency is half the typical
 * round-trip time between the two regions plus a fixed per-link jitter of
 * up to 10%. The figures are rounded public inter-region RTTs of the large
 * clouds (2024): 10 ms one way inside a region, up to 150 ms across the
 * globe. Same seed, same latencies.
 */

/** Mulberry32: a small seeded PRNG, enough for placing nodes and drawing latencies. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const REGIONS = ['us-east', 'us-west', 'sa-east', 'eu-west', 'eu-central', 'ap-south', 'ap-northeast', 'ap-southeast'] as const;

/** Round-trip times in ms between the regions above (symmetric; diagonal: inside one region). */
const RTT_MS: number[][] = [
  [20, 65, 115, 75, 90, 190, 150, 215],
  [65, 20, 175, 135, 145, 220, 105, 170],
  [115, 175, 20, 185, 200, 300, 255, 300],
  [75, 135, 185, 20, 25, 125, 210, 160],
  [90, 145, 200, 25, 20, 115, 225, 160],
  [190, 220, 300, 125, 115, 20, 120, 60],
  [150, 105, 255, 210, 225, 120, 20, 70],
  [215, 170, 300, 160, 160, 60, 70, 20],
];

export class LatencyModel {
  private readonly regionOf = new Map<string, number>();
  private readonly random: () => number;

  constructor(private readonly seed: number) {
    this.random = seededRandom(seed);
  }

  /** Place a host (in the order hosts are created, so a seed fixes the layout). */
  place(host: string): void {
    if (!this.regionOf.has(host)) this.regionOf.set(host, Math.floor(this.random() * REGIONS.length));
  }

  region(host: string): number {
    return this.regionOf.get(host) ?? 0;
  }

  /** One-way latency of the link a-b in whole ms (the same both ways). */
  oneWayMs(a: string, b: string): number {
    const base = RTT_MS[this.region(a)]![this.region(b)]! / 2;
    const [x, y] = a < b ? [a, b] : [b, a];
    const jitter = hashUnit(`${this.seed}|${x}|${y}`) * 0.1;
    return Math.max(1, Math.round(base * (1 + jitter)));
  }

  /** The largest one-way latency any link can have. */
  maxOneWayMs(): number {
    return Math.round((Math.max(...RTT_MS.flat()) / 2) * 1.1);
  }
}

/** A string's FNV-1a hash as a number in [0, 1). */
export function hashUnit(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 4294967296;
}
