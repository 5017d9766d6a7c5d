/** Deterministic xorshift32 so a failing input can be reproduced from the seed. */
export function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return {
    int: (n: number): number => next() % n,
    bytes: (n: number): Buffer => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = next() & 0xff;
      return b;
    },
  };
}
export type Rng = ReturnType<typeof rng>;

/** One random damage to `input`: bit flips, truncation, appended or inserted noise, a forged length prefix, or noise alone. */
export function mutate(r: Rng, input: Uint8Array): Buffer {
  const b = Buffer.from(input);
  switch (r.int(6)) {
    case 0: {
      const flips = 1 + r.int(4);
      for (let i = 0; i < flips && b.length > 0; i++) b[r.int(b.length)]! ^= 1 << r.int(8);
      return b;
    }
    case 1:
      return b.subarray(0, r.int(b.length + 1));
    case 2:
      return Buffer.concat([b, r.bytes(1 + r.int(64))]);
    case 3: {
      if (b.length >= 4) b.writeUInt32BE(r.int(2) === 0 ? r.int(0x10000) : (r.int(0x10000) << 16) >>> 0, 0);
      return b;
    }
    case 4: {
      const at = r.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), r.bytes(r.int(16)), b.subarray(at)]);
    }
    default:
      return r.bytes(r.int(200));
  }
}
