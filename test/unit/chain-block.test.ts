import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeBlock } from '../../src/chain/block.js';
import { bytesToBigInt, sha256 } from '../../src/chain/bytes.js';
import { HEADER_VERSION, encodeHeader, meetsTarget } from '../../src/chain/header.js';
import { merkleRoot } from '../../src/chain/merkle.js';
import { testParams } from '../../src/chain/params.js';
import { makeTransaction } from '../../src/chain/transaction.js';
import { checkHeaderContext } from '../../src/chain/validate.js';
import { buildBlock, extend, openTestChain, tx } from './chain-helpers.js';

test('merkle root: empty, one, odd count duplicates the last id', () => {
  const a = sha256(Uint8Array.of(1));
  const b = sha256(Uint8Array.of(2));
  const c = sha256(Uint8Array.of(3));
  assert.deepEqual(merkleRoot([]), new Uint8Array(32));
  assert.deepEqual(merkleRoot([a]), a);
  const ab = sha256(new Uint8Array([...a, ...b]));
  const cc = sha256(new Uint8Array([...c, ...c]));
  assert.deepEqual(merkleRoot([a, b, c]), sha256(new Uint8Array([...ab, ...cc])));
  // CVE-2012-2459: the duplicated list has the same root, which is why blocks with repeated ids are rejected.
  assert.deepEqual(merkleRoot([a, b, c, c]), merkleRoot([a, b, c]));
});

test('a valid block connects and extends the head', async () => {
  const tc = await openTestChain();
  try {
    const b = buildBlock(tc.chain, tc.chain.head, [tx(), tx(2)]);
    const r = await tc.chain.addBlock(b);
    assert.equal(r.status, 'connected');
    assert.equal(tc.chain.height, 1);
    assert.equal(tc.chain.head.hashHex, b.hashHex);
    assert.equal((await tc.chain.addBlock(b)).status, 'duplicate');
    const [where] = await tc.chain.findTransactions([b.txs[0]!.id]);
    assert.equal(where?.hashHex, b.hashHex);
  } finally {
    await tc.close();
  }
});

test('block validation rejects each broken rule with a reason', async () => {
  const tc = await openTestChain();
  const { chain } = tc;
  try {
    const g = chain.head;
    const expectInvalid = async (block: ReturnType<typeof buildBlock>, pattern: RegExp) => {
      const before = chain.height;
      const r = await chain.addBlock(block);
      assert.equal(r.status, 'invalid', `expected invalid (${pattern}), got ${r.status}`);
      assert.match(r.reason!, pattern);
      assert.equal(chain.height, before);
    };

    // Bad proof of work: find a nonce whose hash misses the target.
    let unsolved = buildBlock(chain, g, [tx()], { unsolved: true });
    for (let n = 1n; meetsTarget(unsolved.hash, unsolved.header.target); n++) unsolved = makeBlock({ ...unsolved.header, nonce: n }, unsolved.txs);
    await expectInvalid(unsolved, /proof of work/);

    const good = buildBlock(chain, g, [tx(), tx(2)]);
    // Wrong merkle root: transactions swapped for others.
    await expectInvalid(makeBlock(good.header, [tx(), tx(2)]), /merkle root/);

    // Forged signature: same ids (the id does not cover the signature), other signature bytes.
    const forgedSig = new Uint8Array(good.txs[1]!.signature);
    forgedSig[5]! ^= 1;
    const forged = makeTransaction({ ...good.txs[1]!, signature: forgedSig });
    await expectInvalid(makeBlock(good.header, [good.txs[0]!, forged]), /invalid signature/);
    // The honest block with the same header is still accepted afterwards.
    assert.equal((await chain.addBlock(good)).status, 'connected');

    const head = chain.head;
    await expectInvalid(buildBlock(chain, head, [tx()], { timestampMs: Date.now() + tc.params.maxFutureMs + 60_000 }), /future/);
    await expectInvalid(buildBlock(chain, head, [tx()], { timestampMs: head.header.timestampMs }), /median/);
    const t = tx();
    await expectInvalid(buildBlock(chain, head, [t, t]), /twice in the block/);
    await expectInvalid(buildBlock(chain, head, [good.txs[0]!]), /already in the chain/);
    await expectInvalid(buildBlock(chain, head, [tx()], { header: { height: 5 } }), /height 5 does not follow/);
    await expectInvalid(buildBlock(chain, head, [tx()], { header: { target: tc.params.genesisTarget.map((x, i) => (i === 0 ? 0 : x)) } }), /target/);
    await expectInvalid(buildBlock(chain, head, [tx()], { header: { version: 2 } }), /version/);
    assert.equal(chain.height, 1);
  } finally {
    await tc.close();
  }
});

test('size limits: transaction count, block bytes, payload and topic', async () => {
  const tc = await openTestChain(testParams({ maxBlockTxs: 2, maxBlockBytes: 800, maxPayloadBytes: 300 }));
  try {
    const { chain } = tc;
    let r = await chain.addBlock(buildBlock(chain, chain.head, [tx(), tx(), tx()]));
    assert.match(r.reason!, /more than 2 transactions/);
    r = await chain.addBlock(buildBlock(chain, chain.head, [tx(1, 'x'.repeat(250)), tx(1, 'y'.repeat(250))]));
    assert.match(r.reason!, /exceeds 800/);
    r = await chain.addBlock(buildBlock(chain, chain.head, [tx(1, 'x'.repeat(301))]));
    assert.match(r.reason!, /payload larger than 300/);
    assert.equal(chain.height, 0);
  } finally {
    await tc.close();
  }
});

test('header context: wrong previous hash is rejected', () => {
  const params = testParams();
  const header = {
    version: HEADER_VERSION,
    height: 1,
    prevHash: new Uint8Array(32).fill(9),
    timestampMs: 2000,
    merkleRoot: new Uint8Array(32),
    target: params.genesisTarget,
    nonce: 0n,
    miner: new Uint8Array(33),
  };
  const block = makeBlock(header, []);
  const ctx = { parentHash: new Uint8Array(32), parentHeight: 0, medianTimePastMs: 1000, expectedTarget: params.genesisTarget, nowMs: 5000 };
  assert.match(checkHeaderContext(block, ctx, params)!, /previous hash/);
  assert.equal(checkHeaderContext(block, { ...ctx, parentHash: header.prevHash }, params), undefined);
  assert.equal(encodeHeader(header).length, 157);
  assert.ok(bytesToBigInt(params.genesisTarget) > 0n);
});

test('cumulative work decides the head, a lower hash breaks ties', async () => {
  const tc = await openTestChain();
  try {
    const { chain } = tc;
    const g = chain.head;
    const a = buildBlock(chain, g, [], { miner: new Uint8Array(33).fill(2) });
    const b = buildBlock(chain, g, [], { miner: new Uint8Array(33).fill(3) });
    const [low, high] = Buffer.compare(a.hash, b.hash) < 0 ? [a, b] : [b, a];
    assert.equal((await chain.addBlock(high)).status, 'connected');
    const r = await chain.addBlock(low);
    assert.equal(r.status, 'connected');
    assert.equal(r.reorg?.removed[0]?.hashHex, high.hashHex);
    assert.equal(chain.head.hashHex, low.hashHex);
    // Arriving in the other order gives the same head.
    const tc2 = await openTestChain();
    try {
      await tc2.chain.addBlock(low);
      assert.equal((await tc2.chain.addBlock(high)).status, 'side');
      assert.equal(tc2.chain.head.hashHex, low.hashHex);
    } finally {
      await tc2.close();
    }
    await extend(chain, chain.getEntry(high.hash)!, 1);
    assert.equal(chain.height, 2);
    assert.equal(chain.entryAt(1)!.hashHex, high.hashHex);
  } finally {
    await tc.close();
  }
});

test('importBlocks verifies a run of blocks in worker threads and pins a bad signature on its block', async () => {
  const { VerifierPool } = await import('../../src/chain/verifier.js');
  const verifier = new VerifierPool({ threads: 2 });
  const donor = await openTestChain();
  const tc = await openTestChain(undefined, { verifier });
  try {
    const blocks = await extend(donor.chain, donor.chain.head, 4, () => [tx(), tx(2), tx(3)]);
    const good = await tc.chain.importBlocks(blocks.slice(0, 2));
    assert.deepEqual(good.map((r) => r.status), ['connected', 'connected']);
    const b3 = blocks[2]!;
    const forgedSig = b3.txs[1]!.signature.map((x, i) => (i === 10 ? x ^ 1 : x));
    const forged = makeBlock(b3.header, [b3.txs[0]!, makeTransaction({ ...b3.txs[1]!, signature: forgedSig }), b3.txs[2]!]);
    const results = await tc.chain.importBlocks([forged, blocks[3]!]);
    assert.equal(results[0]!.status, 'invalid');
    assert.match(results[0]!.reason!, /invalid signature/);
    assert.equal(results[1]!.status, 'orphan');
    // The honest block 3 then connects and adopts block 4.
    const r = await tc.chain.addBlock(b3);
    assert.equal(r.status, 'connected');
    assert.equal(r.orphansAdopted, 1);
    assert.equal(tc.chain.head.hashHex, blocks[3]!.hashHex);
  } finally {
    await verifier.close();
    await tc.close();
    await donor.close();
  }
});
