/** The blockchain library: what a Node wires in (see docs/chain.md). */
export { type Block, makeBlock, blockSize, computeMerkleRoot } from './block.js';
export { Chain, type AddBlockResult, type AddStatus, type ChainEntry, type ChainEvents, type ChainOptions, type Reorg, type TipChange } from './chain.js';
export { decodeBlock, decodeTransaction, encodeBlock, encodeTransaction, maxEncodedBlockBytes, blockFromProto, blockToProto, txFromProto, txToProto } from './codec.js';
export { type BlockHeader, encodeHeader, hashHeader, meetsTarget, workOf, HEADER_BYTES, HEADER_VERSION } from './header.js';
export { merkleRoot } from './merkle.js';
export { Miner, type MinerOptions } from './miner.js';
export { chainParamsFor, DEVNET, genesisBlock, paramsFor, REGTEST, targetForBits, testParams, type ChainParams } from './params.js';
export { TxPool, type AddTxResult, type TxPoolOptions } from './pool.js';
export { solveHeader, searchNonce } from './pow.js';
export { expectedTarget } from './retarget.js';
export { publicKeyOf, randomPrivateKey } from './signature.js';
export { ChainStore, type LevelDatabase } from './store.js';
export { makeTransaction, signTransaction, txSigningBytes, txSize, verifyTransactionSignature, type Transaction } from './transaction.js';
export { InlineVerifier, VerifierPool, type SignatureVerifier } from './verifier.js';
