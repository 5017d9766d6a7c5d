import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { create, toBinary } from '@bufbuild/protobuf';
import { EnvelopeSchema, type Envelope } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { PheromonesError } from '../../src/errors.js';
import { mutate, rng } from '../helpers/fuzz.js';
import { RecordOpener, RecordSealer, generateIdentity, networkIdFor } from '../../src/crypto/index.js';
import {
  PlainFrameDecoder,
  RecordReader,
  decodeEnvelope,
  decodePlainFrame,
  encodePlainFrame,
  packInnerFrames,
  recordHeader,
  unpackInnerFrames,
} from '../../src/wire/index.js';
import {
  freshSecrets,
  initiatorOnResponse,
  initiatorStart,
  responderOnFinish,
  responderOnInit,
  type HandshakeContext,
} from '../../src/transport/handshake.js';

/** Only typed errors may escape a decoder or validator. */
function expectTyped(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof PheromonesError)) throw new Error(`untyped error escaped: ${(err as Error)?.stack ?? String(err)}`);
  }
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const MAX_FRAME = 64 * 1024;
const envelopes: Envelope[] = [
  create(EnvelopeSchema, { kind: { case: 'direct', value: { topic: 'fuzz', payload: Buffer.alloc(300, 3) } } }),
  create(EnvelopeSchema, { kind: { case: 'ping', value: { value: 123456789n } } }),
  create(EnvelopeSchema, { kind: { case: 'gossip', value: { id: Buffer.alloc(32, 1), topic: 't', ttl: 5, hops: 1, origin: Buffer.alloc(32, 2), timestampMs: 1n, payload: Buffer.from('x'), nonce: 9n } } }),
  create(EnvelopeSchema, { kind: { case: 'disconnect', value: { reason: 7, detail: 'bye' } } }),
];
const bodies = envelopes.map((e) => toBinary(EnvelopeSchema, e));

test('100,000+ random and mutated frames and records only ever raise typed errors, in bounded memory', async () => {
  const r = rng(0x5eed);
  // Handshake messages join the corpus so their encodings are mutated too.
  const iCtx = await ctx();
  const { envelope: init, ownHello } = initiatorStart(iCtx);
  const { envelope: response, pending } = await responderOnInit(await ctx(), init);
  const { envelope: finish } = await initiatorOnResponse(iCtx, ownHello, response);
  await responderOnFinish(pending, finish);
  const corpus = [...bodies, ...[init, response, finish].map((e) => toBinary(EnvelopeSchema, e))];
  const key = randomBytes(32);
  const sealer = new RecordSealer(key);
  const validRecords = Array.from({ length: 64 }, (_, i) => {
    const pt = packInnerFrames(bodies.slice(0, 1 + (i % bodies.length)));
    const header = recordHeader(pt.length);
    const [ct, tag] = sealer.seal(header, pt);
    return Buffer.concat([header, ct, tag]);
  });
  const plainFrames = corpus.map((b) => encodePlainFrame(b));
  const ITERATIONS = 120_000;
  let decodedOk = 0;
  let startHeap = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    if (i === ITERATIONS / 4) startHeap = heapAfterGc();
    const kind = i % 4;
    if (kind === 0) {
      const input = mutate(r, plainFrames[r.int(plainFrames.length)]!);
      expectTyped(() => {
        decodeEnvelope(decodePlainFrame(input, MAX_FRAME).body);
        decodedOk++;
      });
    } else if (kind === 1) {
      // Streamed in random chunks, several frames back to back.
      const input = Buffer.concat([mutate(r, plainFrames[r.int(plainFrames.length)]!), plainFrames[0]!]);
      const dec = new PlainFrameDecoder(MAX_FRAME);
      expectTyped(() => {
        for (let at = 0; at < input.length; ) {
          const n = 1 + r.int(40);
          dec.push(input.subarray(at, at + n));
          at += n;
          for (let b = dec.next(); b !== undefined; b = dec.next()) decodeEnvelope(b);
        }
      });
      assert.ok(dec.bufferedBytes <= MAX_FRAME + 36 + 40);
    } else if (kind === 2) {
      // A mutated record opened as the first record of a fresh session.
      const idx = r.int(validRecords.length);
      const input = r.int(8) === 0 ? validRecords[0]! : mutate(r, validRecords[idx]!);
      const reader = new RecordReader(MAX_FRAME);
      const opener = new RecordOpener(key);
      expectTyped(() => {
        reader.push(input);
        for (let rec = reader.next(); rec !== undefined; rec = reader.next()) {
          for (const b of unpackInnerFrames(opener.open(rec.header, rec.ciphertext, rec.tag), MAX_FRAME)) decodeEnvelope(b);
        }
      });
    } else {
      // Decrypted plaintexts an attacker holding the key could send: inner framing and bodies.
      const input = mutate(r, packInnerFrames(corpus.slice(r.int(corpus.length))));
      expectTyped(() => {
        for (const b of unpackInnerFrames(input, MAX_FRAME)) decodeEnvelope(b);
      });
    }
  }
  const endHeap = heapAfterGc();
  assert.ok(decodedOk > 0, 'some mutated frames still decode');
  assert.ok(endHeap - startHeap < 8 * 1024 * 1024, `heap grew by ${endHeap - startHeap} bytes`);
});

async function ctx(identity = generateIdentity()): Promise<HandshakeContext> {
  return {
    identity,
    hello: { networkId: networkIdFor('fuzz'), protocolVersion: 1, listenPort: 1, protocols: [], userAgent: 'fuzz' },
    secrets: await freshSecrets(),
  };
}

/** Async twin of expectTyped. */
async function expectTypedAsync(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof PheromonesError)) throw new Error(`untyped error escaped: ${(err as Error)?.stack ?? String(err)}`);
  }
}

test('mutated handshake messages fed to the validators only raise typed errors', async () => {
  const r = rng(0xc0ffee);
  const iCtx = await ctx();
  const rCtx = await ctx();
  const { envelope: init, ownHello } = initiatorStart(iCtx);
  const { envelope: response, pending } = await responderOnInit(rCtx, init);
  const { envelope: finish } = await initiatorOnResponse(iCtx, ownHello, response);
  await responderOnFinish(pending, finish);
  const messages = [init, response, finish].map((e) => toBinary(EnvelopeSchema, e));
  let rejected = 0;
  const ITERATIONS = 3_000;
  for (let i = 0; i < ITERATIONS; i++) {
    const which = i % 3;
    // Mutate the body and frame it correctly, so the bytes get past the hash to the validators.
    const input = encodePlainFrame(mutate(r, messages[which]!));
    await expectTypedAsync(async () => {
      const env = decodeEnvelope(decodePlainFrame(input).body);
      try {
        if (which === 0) await responderOnInit({ ...rCtx }, env);
        else if (which === 1) await initiatorOnResponse(iCtx, ownHello, env);
        else await responderOnFinish(pending, env);
      } catch (err) {
        rejected++;
        throw err;
      }
    });
  }
  assert.ok(rejected > 0);
});
