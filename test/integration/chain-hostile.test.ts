/**
 * A peer that relays a bad block is rejected with a reason and scored: a
 * block with bad proof of work, a wrong merkle root, a forged signature or a
 * timestamp too far ahead ends the session with PROTOCOL_VIOLATION, and the
 * node's chain does not move. A forged transaction, unsolicited blocks, an
 * oversized locator and a status from another genesis are treated the same way.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { makeBlock, type Block } from '../../src/chain/block.js';
import { blockToProto, txToProto } from '../../src/chain/codec.js';
import { meetsTarget } from '../../src/chain/header.js';
import { REGTEST } from '../../src/chain/params.js';
import { makeTransaction, signTransaction, type Transaction } from '../../src/chain/transaction.js';
import { generateIdentity } from '../../src/crypto/identity.js';
import { networkIdFor } from '../../src/crypto/network.js';
import {
  ChainBlocksSchema,
  ChainGetBlocksSchema,
  ChainNewBlockSchema,
  ChainStatusSchema,
  ChainTransactionsSchema,
  DisconnectReason,
  type Envelope,
} from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { envelope } from '../../src/peer/peer.js';
import { dialSecure, PROTOCOL_VERSION, type CloseInfo } from '../../src/transport/index.js';
import { DaemonSet, withTimeout } from '../helpers/daemon.js';
import { buildBlock, openTestChain, testKey } from '../unit/chain-helpers.js';
import { apiOf } from './chain-harness.js';

const TEST_TIMEOUT_MS = 90_000;
const WAIT_MS = 15_000;

/** A signed transaction whose signature was made for another message. */
function forged(): Transaction {
  const real = signTransaction(testKey(1), 'chat', new TextEncoder().encode('real'));
  const other = signTransaction(testKey(1), 'chat', new TextEncoder().encode('other'));
  return makeTransaction({ ...real, signature: other.signature });
}

describe('chain against a hostile peer', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('bad proof of work, wrong merkle root, forged signature, forged transaction, unsolicited or oversized chain messages: rejected with a reason, sender dropped; a far-future block is refused without blaming its sender', { timeout: TEST_TIMEOUT_MS }, async () => {
    const node = await net.start({ name: 'N', args: ['--network', 'regtest', '--no-stdin'] });
    const api = await apiOf(node);
    after(() => api.channel.close());
    // Blocks are built on the same regtest genesis in a scratch chain of our own.
    const scratch = await openTestChain(REGTEST);
    after(() => scratch.close());
    const genesis = scratch.chain.head;
    const good = signTransaction(testKey(2), 'chat', new TextEncoder().encode('fine'));
    const now = Date.now();

    let badPow = buildBlock(scratch.chain, genesis, [good], { timestampMs: now, unsolved: true });
    for (let n = 1n; meetsTarget(badPow.hash, badPow.header.target); n++) badPow = makeBlock({ ...badPow.header, nonce: n }, badPow.txs);
    const wrongRoot = buildBlock(scratch.chain, genesis, [good], { timestampMs: now, header: { merkleRoot: randomBytes(32) } });
    const forgedSig = buildBlock(scratch.chain, genesis, [forged()], { timestampMs: now });
    const future = buildBlock(scratch.chain, genesis, [good], { timestampMs: now + 3 * 3600_000 });
    assert.ok(meetsTarget(wrongRoot.hash, wrongRoot.header.target) && meetsTarget(future.hash, future.header.target));

    const cases: { what: string; send: 'block' | 'tx' | 'raw'; block?: Block; raw?: Envelope; detail: RegExp }[] = [
      { what: 'bad proof of work', send: 'block', block: badPow, detail: /proof of work/i },
      { what: 'wrong merkle root', send: 'block', block: wrongRoot, detail: /merkle/i },
      { what: 'forged signature', send: 'block', block: forgedSig, detail: /invalid signature/i },
      { what: 'forged transaction', send: 'tx', detail: /invalid signature/i },
      {
        what: 'blocks nobody asked for',
        send: 'raw',
        raw: envelope({ case: 'chainBlocks', value: create(ChainBlocksSchema, { blocks: [blockToProto(wrongRoot)] }) }),
        detail: /not asked for/,
      },
      {
        what: 'a locator of 65 hashes',
        send: 'raw',
        raw: envelope({ case: 'chainGetBlocks', value: create(ChainGetBlocksSchema, { locator: Array.from({ length: 65 }, () => randomBytes(32)) }) }),
        detail: /locator of 65 hashes/,
      },
      {
        what: 'a status with another genesis',
        send: 'raw',
        raw: envelope({ case: 'chainStatus', value: create(ChainStatusSchema, { height: 1n, headHash: randomBytes(32), work: Uint8Array.of(1), genesisHash: randomBytes(32) }) }),
        detail: /different genesis/,
      },
    ];
    for (const c of cases) {
      const conn = await dialSecure('127.0.0.1', node.port, {
        identity: generateIdentity(),
        hello: { networkId: networkIdFor('regtest'), protocolVersion: PROTOCOL_VERSION, listenPort: 0, protocols: [{ name: 'chain', versions: [1] }], userAgent: 'hostile/1' },
        handshakeTimeoutMs: WAIT_MS,
        maxFrameBytes: 4 * 1024 * 1024,
      });
      conn.on('message', () => undefined);
      const closed = once(conn, 'close') as Promise<[CloseInfo]>;
      if (c.send === 'raw') {
        conn.send(c.raw!);
      } else if (c.send === 'block') {
        conn.send(envelope({ case: 'chainNewBlock', value: create(ChainNewBlockSchema, { block: blockToProto(c.block!) }) }));
      } else {
        conn.send(envelope({ case: 'chainTransactions', value: create(ChainTransactionsSchema, { transactions: [txToProto(forged())] }) }));
      }
      const [info] = await withTimeout(closed, WAIT_MS, `${c.what}: dropped`);
      assert.equal(info.remote, true, `${c.what}: the node closed the session`);
      assert.equal(info.reason, DisconnectReason.PROTOCOL_VIOLATION, `${c.what}: reason`);
      assert.match(info.detail, c.detail, `${c.what}: the reason names the fault`);
    }

    // Nothing entered the chain or the pool, and the node still serves.
    const head = await api.chain.getHead({});
    assert.equal(head.head!.height, 0n);
    assert.equal((await api.chain.listPoolTransactions({ limit: 10 })).total, 0);
    // Valid data from a well-behaved peer is still accepted: a good block on the same genesis.
    const okBlock = buildBlock(scratch.chain, genesis, [good], { timestampMs: now + 1 });
    const conn = await dialSecure('127.0.0.1', node.port, {
      identity: generateIdentity(),
      hello: { networkId: networkIdFor('regtest'), protocolVersion: PROTOCOL_VERSION, listenPort: 0, protocols: [{ name: 'chain', versions: [1] }], userAgent: 'honest/1' },
      handshakeTimeoutMs: WAIT_MS,
      maxFrameBytes: 4 * 1024 * 1024,
    });
    conn.on('message', () => undefined);
    // Too far ahead by the node's own clock: refused, but that proves nothing against the sender (Bitcoin Core's rule too).
    conn.send(envelope({ case: 'chainNewBlock', value: create(ChainNewBlockSchema, { block: blockToProto(future) }) }));
    conn.send(envelope({ case: 'chainNewBlock', value: create(ChainNewBlockSchema, { block: blockToProto(okBlock) }) }));
    const deadline = Date.now() + WAIT_MS;
    while ((await api.chain.getHead({})).head!.hash !== okBlock.hashHex) {
      assert.ok(Date.now() < deadline, 'the good block was accepted');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(conn.closed, false, 'the honest peer stays connected');
    conn.close(DisconnectReason.REQUESTED);
  });
});
