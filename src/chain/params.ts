import { bigIntToBytes } from './bytes.js';
import { makeBlock, type Block } from './block.js';
import { HEADER_VERSION } from './header.js';

/** Consensus parameters of one network. Two nodes agree on a chain only if these match. */
export interface ChainParams {
  readonly network: string;
  /** Target of the genesis block and the easiest target a retarget may reach (the "pow limit"). */
  readonly genesisTarget: Uint8Array;
  readonly genesisTimestampMs: number;
  /** The block interval the retarget rule aims for. */
  readonly targetSpacingMs: number;
  /** Retarget every this many blocks (>= 2). */
  readonly retargetInterval: number;
  /** A block may be at most this far ahead of the validating node's clock. */
  readonly maxFutureMs: number;
  /** A block's timestamp must exceed the median of this many previous blocks. */
  readonly medianTimeSpan: number;
  readonly maxBlockTxs: number;
  /** Canonical bytes: 157-byte header plus each transaction's signing bytes and signature. */
  readonly maxBlockBytes: number;
  readonly maxPayloadBytes: number;
  readonly maxTopicBytes: number;
}

/** (2^256 >> bits) - 1: a target met by one hash in 2^bits on average. */
export function targetForBits(bits: number): Uint8Array {
  return bigIntToBytes((1n << BigInt(256 - bits)) - 1n, 32);
}

const BASE = {
  targetSpacingMs: 1_000,
  retargetInterval: 10,
  maxFutureMs: 2 * 60 * 60 * 1000,
  medianTimeSpan: 11,
  maxBlockTxs: 1_000,
  maxBlockBytes: 1_000_000,
  maxPayloadBytes: 64 * 1024,
  maxTopicBytes: 256,
} as const;

/**
 * devnet: one hash in 2^20 meets the genesis target. A worker thread hashes
 * about 0.85 M headers/s with node:crypto on the 2-core build machine, so a
 * block takes about 1.2 s at the start; the retarget rule then tracks the
 * 1 s spacing.
 */
export const DEVNET: ChainParams = {
  ...BASE,
  network: 'devnet',
  genesisTarget: targetForBits(20),
  genesisTimestampMs: Date.UTC(2025, 0, 1),
};

/** For tests: one hash in 16 meets the target, so blocks are mined in-thread in microseconds. */
export function testParams(overrides: Partial<ChainParams> = {}): ChainParams {
  return { ...BASE, network: 'test', genesisTarget: targetForBits(4), genesisTimestampMs: Date.UTC(2025, 0, 1), ...overrides };
}

/**
 * regtest: for tests and local experiments. One hash in 256 meets the
 * target and the target never retargets, so a mining worker produces blocks
 * as fast as they can be stored, and tests build thousands of blocks in
 * seconds. Every block has the same work: the heavier chain is the longer one.
 */
export const REGTEST: ChainParams = {
  ...BASE,
  network: 'regtest',
  genesisTarget: targetForBits(8),
  genesisTimestampMs: Date.UTC(2025, 0, 1),
  retargetInterval: 2 ** 31,
};

export const NETWORKS: Readonly<Record<string, ChainParams>> = { devnet: DEVNET, regtest: REGTEST };

export function paramsFor(network: string): ChainParams | undefined {
  return NETWORKS[network];
}

/**
 * The consensus parameters a node of `network` follows: the named set, or
 * devnet's for any other name (the network magic already keeps such networks
 * apart; their genesis block is devnet's).
 */
export function chainParamsFor(network: string): ChainParams {
  return NETWORKS[network] ?? { ...DEVNET, network };
}

/**
 * The genesis block is fixed by the parameters alone: height 0, zero parent,
 * zero merkle root (no transactions), zero miner key, nonce 0. It is not
 * required to meet its own target; every node constructs it identically.
 */
export function genesisBlock(params: ChainParams): Block {
  return makeBlock(
    {
      version: HEADER_VERSION,
      height: 0,
      prevHash: new Uint8Array(32),
      timestampMs: params.genesisTimestampMs,
      merkleRoot: new Uint8Array(32),
      target: params.genesisTarget,
      nonce: 0n,
      miner: new Uint8Array(33),
    },
    [],
  );
}
