import type { AbstractLevel, AbstractSublevel } from 'abstract-level';
import { ByteWriter, bigIntToBytes, bytesToBigInt } from './bytes.js';
import { type Block } from './block.js';
import { decodeBlock, encodeBlock } from './codec.js';
import { decodeHeaderBytes, encodeHeader, HEADER_BYTES, type BlockHeader } from './header.js';

/**
 * The chain's LevelDB records, in the sublevel "chain" of the node's
 * database (docs/chain.md has the schema). Keys are one ASCII prefix byte
 * followed by a fixed-width suffix:
 *
 *   'b' hash(32)        -> block (protobuf pheromones.chain.v1.Block)
 *   'h' hash(32)        -> header (157 canonical bytes) || cumulative work (32, BE)
 *   'n' u64 BE height   -> hash of the canonical block at that height
 *   't' tx id(32)       -> hashes (32 each) of the connected blocks holding the transaction
 *   'H'                 -> hash of the head (tip of the canonical chain)
 *   'G'                 -> hash of the genesis block (guards against opening another network's data)
 *
 * 'b' and 'h' hold every stored block, canonical or side; 'n' only the
 * canonical chain. A 't' list may name blocks that have since left the
 * canonical chain: readers keep the one that is canonical (there is at most
 * one, as no transaction is in the chain twice).
 *
 * Every write is one LevelDB batch, which is atomic. The chain also orders
 * each batch so that any prefix of it leaves a state that loads
 * consistently, in case a store ever applies one partially: 'b' before 'h',
 * additions before the head pointer 'H', and removals only after it
 * (a stale 't' or 'n' entry is harmless; a missing one is not).
 */

/** The node's database (src/store/database.ts: a bytes-keyed Level). */
export type LevelDatabase = AbstractLevel<string | Buffer | Uint8Array, Uint8Array, Uint8Array>;
type ChainLevel = AbstractSublevel<LevelDatabase, string | Buffer | Uint8Array, Uint8Array, Uint8Array>;

const P_BLOCK = 0x62; // 'b'
const P_HEADER = 0x68; // 'h'
const P_HEIGHT = 0x6e; // 'n'
const P_TX = 0x74; // 't'
const K_HEAD = Uint8Array.of(0x48); // 'H'
const K_GENESIS = Uint8Array.of(0x47); // 'G'

function key(prefix: number, suffix: Uint8Array): Uint8Array {
  const k = new Uint8Array(1 + suffix.length);
  k[0] = prefix;
  k.set(suffix, 1);
  return k;
}

function heightKey(height: number): Uint8Array {
  return key(P_HEIGHT, new ByteWriter().u64(height).finish());
}

export interface HeaderRecord {
  hash: Uint8Array;
  header: BlockHeader;
  /** Cumulative work from genesis through this block. */
  work: bigint;
}

type Op = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

export class ChainBatch {
  readonly ops: Op[] = [];
  constructor(private readonly store: ChainStore) {}

  /** Body first: a header record implies the body is there. */
  putBlock(block: Block, work: bigint): this {
    this.ops.push({ type: 'put', key: key(P_BLOCK, block.hash), value: encodeBlock(block) });
    const rec = new ByteWriter().bytes(encodeHeader(block.header)).bytes(bigIntToBytes(work, 32)).finish();
    this.ops.push({ type: 'put', key: key(P_HEADER, block.hash), value: rec });
    return this;
  }
  /** Header first, for the same reason. */
  deleteBlock(hash: Uint8Array): this {
    this.ops.push({ type: 'del', key: key(P_HEADER, hash) }, { type: 'del', key: key(P_BLOCK, hash) });
    return this;
  }
  putCanonical(height: number, hash: Uint8Array): this {
    this.ops.push({ type: 'put', key: heightKey(height), value: hash });
    return this;
  }
  deleteCanonical(height: number): this {
    this.ops.push({ type: 'del', key: heightKey(height) });
    return this;
  }
  /** Replace the list of blocks holding transaction `id` (empty list: delete). */
  putTxBlocks(id: Uint8Array, blockHashes: readonly Uint8Array[]): this {
    if (blockHashes.length === 0) return this.deleteTx(id);
    const w = new ByteWriter();
    for (const h of blockHashes) w.bytes(h);
    this.ops.push({ type: 'put', key: key(P_TX, id), value: w.finish() });
    return this;
  }
  deleteTx(id: Uint8Array): this {
    this.ops.push({ type: 'del', key: key(P_TX, id) });
    return this;
  }
  setHead(hash: Uint8Array): this {
    this.ops.push({ type: 'put', key: K_HEAD, value: hash });
    return this;
  }
  setGenesis(hash: Uint8Array): this {
    this.ops.push({ type: 'put', key: K_GENESIS, value: hash });
    return this;
  }
  /** One LevelDB write batch: all of it lands or none of it does. */
  write(): Promise<void> {
    return this.store.db.batch(this.ops);
  }
}

export class ChainStore {
  readonly db: ChainLevel;

  /** `db` is the node's Level instance (or any bytes-capable level); the chain keeps to its own sublevel. */
  constructor(db: LevelDatabase, name = 'chain') {
    this.db = db.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' });
  }

  batch(): ChainBatch {
    return new ChainBatch(this);
  }

  async head(): Promise<Uint8Array | undefined> {
    return this.db.get(K_HEAD);
  }

  async genesis(): Promise<Uint8Array | undefined> {
    return this.db.get(K_GENESIS);
  }

  async getBlockBytes(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.db.get(key(P_BLOCK, hash));
  }

  async getBlock(hash: Uint8Array): Promise<Block | undefined> {
    const bytes = await this.getBlockBytes(hash);
    // Our own records: no size bound beyond what was accepted on write.
    return bytes === undefined ? undefined : decodeBlock(bytes, Number.MAX_SAFE_INTEGER);
  }

  async hasBlock(hash: Uint8Array): Promise<boolean> {
    return this.db.has(key(P_BLOCK, hash));
  }

  async getCanonical(height: number): Promise<Uint8Array | undefined> {
    return this.db.get(heightKey(height));
  }

  /** Per transaction id, the hashes of the connected blocks that held it (canonical or not any more). */
  async getTxBlocks(ids: readonly Uint8Array[]): Promise<Uint8Array[][]> {
    if (ids.length === 0) return [];
    const values = await this.db.getMany(ids.map((id) => key(P_TX, id)));
    return values.map((v) => {
      const out: Uint8Array[] = [];
      if (v !== undefined) for (let off = 0; off + 32 <= v.length; off += 32) out.push(v.slice(off, off + 32));
      return out;
    });
  }

  async *headers(): AsyncGenerator<HeaderRecord> {
    const lt = Uint8Array.of(P_HEADER + 1);
    for await (const [k, v] of this.db.iterator({ gte: Uint8Array.of(P_HEADER), lt })) {
      if (k.length !== 33 || v.length !== HEADER_BYTES + 32) continue;
      yield { hash: k.slice(1), header: decodeHeaderBytes(v.subarray(0, HEADER_BYTES)), work: bytesToBigInt(v.subarray(HEADER_BYTES)) };
    }
  }

  async *canonical(): AsyncGenerator<[number, Uint8Array]> {
    const lt = Uint8Array.of(P_HEIGHT + 1);
    for await (const [k, v] of this.db.iterator({ gte: Uint8Array.of(P_HEIGHT), lt })) {
      if (k.length !== 9) continue;
      yield [Number(new DataView(k.buffer, k.byteOffset + 1, 8).getBigUint64(0)), v];
    }
  }
}
