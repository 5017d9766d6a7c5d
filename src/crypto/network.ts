import { ascii, sha256 } from './hash.js';

/**
 * The network magic carried in every hello: the first 4 bytes, big-endian,
 * of sha256("pheromones/network/" + name), as an unsigned 32-bit number.
 */
export function networkIdFor(name: string): number {
  return sha256(ascii('pheromones/network/'), Buffer.from(name, 'utf8')).readUInt32BE(0);
}
