import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { DisconnectReason, EnvelopeSchema, type Envelope } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { generateIdentity, type NodeIdentity } from '../../src/crypto/identity.js';
import { networkIdFor } from '../../src/crypto/network.js';
import { generateEphemeralKey } from '../../src/crypto/secp256k1.js';
import { PlainFrameDecoder, encodePlainFrame } from '../../src/wire/plain-frame.js';
import { relay as proxy, type Hook } from '../helpers/relay.js';
import {
  HandshakeError,
  dialSecure,
  listenSecure,
  type CloseInfo,
  type SecureConnection,
  type SecureListener,
  type SecureTransportOptions,
} from '../../src/transport/index.js';

function options(identity: NodeIdentity, over: { network?: string; version?: number; timeoutMs?: number } = {}): SecureTransportOptions {
  return {
    identity,
    hello: {
      networkId: networkIdFor(over.network ?? 'test'),
      protocolVersion: over.version ?? 1,
      listenPort: 0,
      protocols: [],
      userAgent: 'pheromones/test',
    },
    handshakeTimeoutMs: over.timeoutMs ?? 5_000,
    maxFrameBytes: 4 * 1024 * 1024,
  };
}

interface Harness {
  listener: SecureListener;
  conns: SecureConnection[];
  nextConnection(): Promise<SecureConnection>;
  nextHandshakeError(): Promise<Error>;
  close(): Promise<void>;
}

async function serve(opts: SecureTransportOptions): Promise<Harness> {
  const conns: SecureConnection[] = [];
  const connWaiters: ((c: SecureConnection) => void)[] = [];
  const errWaiters: ((e: Error) => void)[] = [];
  const listener = await listenSecure('127.0.0.1', 0, opts, {
    onConnection: (c) => {
      conns.push(c);
      connWaiters.shift()?.(c);
    },
    onHandshakeError: (e) => errWaiters.shift()?.(e),
  });
  return {
    listener,
    conns,
    nextConnection: () => new Promise((r) => connWaiters.push(r)),
    nextHandshakeError: () => new Promise((r) => errWaiters.push(r)),
    close: async () => {
      for (const c of conns) c.close(DisconnectReason.REQUESTED);
      await listener.close();
    },
  };
}

/** Rewrites every plain-frame handshake Envelope passing through (assumes one frame per chunk, true on loopback). */
function rewriteFrames(edit: (env: Envelope) => void): Hook {
  let done = 0;
  return (chunk) => {
    if (done >= 2) return chunk;
    const dec = new PlainFrameDecoder();
    dec.push(chunk);
    const body = dec.next();
    if (body === undefined) return chunk;
    done++;
    const env = fromBinary(EnvelopeSchema, body);
    edit(env);
    return Buffer.concat([encodePlainFrame(toBinary(EnvelopeSchema, env)), dec.takeRemaining()]);
  };
}

function isHandshakeError(reason: DisconnectReason, kind: string, remote?: boolean) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof HandshakeError, `expected HandshakeError, got ${String(err)}`);
    assert.equal(DisconnectReason[err.reason], DisconnectReason[reason]);
    assert.equal(err.kind, kind);
    if (remote !== undefined) assert.equal(err.remote, remote);
    return true;
  };
}

test('a man in the middle swapping ephemeral keys makes the handshake fail', async () => {
  const h = await serve(options(generateIdentity()));
  const swap = (env: Envelope): void => {
    const hello = env.kind.case === 'handshakeInit' || env.kind.case === 'handshakeResponse' ? env.kind.value.hello : undefined;
    if (hello) hello.ephemeralPublicKey = generateEphemeralKey().publicKey;
  };
  const mitm = await proxy(h.listener.port, rewriteFrames(swap), rewriteFrames(swap));
  try {
    await assert.rejects(dialSecure('127.0.0.1', mitm.port, options(generateIdentity())), isHandshakeError(DisconnectReason.HANDSHAKE_FAILED, 'handshake-failed', false));
    assert.equal(h.conns.length, 0);
  } finally {
    await mitm.close();
    await h.close();
  }
});

test('a peer on another network is refused with WRONG_NETWORK on both sides', async () => {
  const h = await serve(options(generateIdentity(), { network: 'alpha' }));
  try {
    const serverErr = h.nextHandshakeError();
    await assert.rejects(
      dialSecure('127.0.0.1', h.listener.port, options(generateIdentity(), { network: 'beta' })),
      isHandshakeError(DisconnectReason.WRONG_NETWORK, 'wrong-network', true),
    );
    assert.ok(isHandshakeError(DisconnectReason.WRONG_NETWORK, 'wrong-network', false)(await serverErr));
  } finally {
    await h.close();
  }
});

test('an unsupported protocol version is refused with INCOMPATIBLE_VERSION', async () => {
  const h = await serve(options(generateIdentity()));
  try {
    await assert.rejects(
      dialSecure('127.0.0.1', h.listener.port, options(generateIdentity(), { version: 2 })),
      isHandshakeError(DisconnectReason.INCOMPATIBLE_VERSION, 'handshake-failed', true),
    );
  } finally {
    await h.close();
  }
});

test('dialing yourself fails with SELF', async () => {
  const me = generateIdentity();
  const h = await serve(options(me));
  try {
    await assert.rejects(dialSecure('127.0.0.1', h.listener.port, options(me)), isHandshakeError(DisconnectReason.SELF, 'handshake-failed', true));
  } finally {
    await h.close();
  }
});

test('a dialer expecting another node id aborts the handshake', async () => {
  const h = await serve(options(generateIdentity()));
  try {
    const serverErr = h.nextHandshakeError();
    await assert.rejects(
      dialSecure('127.0.0.1', h.listener.port, options(generateIdentity()), { expectedNodeId: generateIdentity().nodeIdHex }),
      (err: Error) => isHandshakeError(DisconnectReason.HANDSHAKE_FAILED, 'handshake-failed', false)(err) && /expected/.test(err.message),
    );
    assert.ok(isHandshakeError(DisconnectReason.HANDSHAKE_FAILED, 'handshake-failed', true)(await serverErr));
  } finally {
    await h.close();
  }
});

/** Reads plain frames from a raw socket until `n` arrived or it closes. */
function readFrames(sock: Socket, n: number): Promise<Envelope[]> {
  const dec = new PlainFrameDecoder();
  const out: Envelope[] = [];
  return new Promise((resolve) => {
    const finish = (): void => {
      sock.off('data', onData);
      resolve(out);
    };
    const onData = (d: Buffer): void => {
      dec.push(d);
      for (let b = dec.next(); b !== undefined; b = dec.next()) out.push(fromBinary(EnvelopeSchema, b));
      if (out.length >= n) finish();
    };
    sock.on('data', onData);
    sock.once('close', finish);
  });
}

test('a replayed initiator handshake fails against a new responder session', async () => {
  const h = await serve(options(generateIdentity()));
  const recorded: Buffer[] = [];
  const tap = await proxy(h.listener.port, (b) => {
    recorded.push(b);
    return b;
  });
  try {
    const serverConn = h.nextConnection();
    const client = await dialSecure('127.0.0.1', tap.port, options(generateIdentity()));
    await serverConn;
    client.close(DisconnectReason.REQUESTED);
    const dec = new PlainFrameDecoder();
    dec.push(Buffer.concat(recorded));
    const init = dec.next();
    const finish = dec.next();
    assert.ok(init && finish);

    const serverErr = h.nextHandshakeError();
    const raw = connect(h.listener.port, '127.0.0.1');
    await once(raw, 'connect');
    const frames = readFrames(raw, 2);
    raw.write(encodePlainFrame(init));
    // Wait for the fresh response, then replay the old signature.
    await new Promise<void>((r) => raw.once('data', () => r()));
    raw.write(encodePlainFrame(finish));
    const got = await frames;
    assert.equal(got[0]!.kind.case, 'handshakeResponse');
    assert.equal(got[1]!.kind.case, 'disconnect');
    assert.equal(got[1]!.kind.case === 'disconnect' && got[1]!.kind.value.reason, DisconnectReason.HANDSHAKE_FAILED);
    const err = await serverErr;
    assert.ok(isHandshakeError(DisconnectReason.HANDSHAKE_FAILED, 'handshake-failed', false)(err));
    assert.match(err.message, /signature/);
    raw.destroy();
  } finally {
    await tap.close();
    await h.close();
  }
});

test('a frame of the wrong type during the handshake fails it', async () => {
  const h = await serve(options(generateIdentity()));
  try {
    const serverErr = h.nextHandshakeError();
    const raw = connect(h.listener.port, '127.0.0.1');
    await once(raw, 'connect');
    const frames = readFrames(raw, 1);
    raw.write(encodePlainFrame(toBinary(EnvelopeSchema, create(EnvelopeSchema, { kind: { case: 'ping', value: { value: 1n } } }))));
    const got = await frames;
    assert.equal(got[0]!.kind.case === 'disconnect' && got[0]!.kind.value.reason, DisconnectReason.HANDSHAKE_FAILED);
    assert.ok(isHandshakeError(DisconnectReason.HANDSHAKE_FAILED, 'handshake-failed', false)(await serverErr));
    raw.destroy();
  } finally {
    await h.close();
  }
});

test('a silent client is dropped at the handshake deadline', async () => {
  const h = await serve(options(generateIdentity(), { timeoutMs: 200 }));
  try {
    const serverErr = h.nextHandshakeError();
    const raw = connect(h.listener.port, '127.0.0.1');
    raw.on('error', () => undefined);
    const closed = once(raw, 'close');
    const err = await serverErr;
    assert.ok(isHandshakeError(DisconnectReason.TIMEOUT, 'timeout', false)(err));
    await closed;
  } finally {
    await h.close();
  }
});

test('a silent server makes the dialer time out', async () => {
  const held = new Set<Socket>();
  const silent = createServer((s) => {
    held.add(s);
    s.on('error', () => undefined);
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const port = (silent.address() as { port: number }).port;
  try {
    await assert.rejects(dialSecure('127.0.0.1', port, options(generateIdentity(), { timeoutMs: 200 })), (err: Error & { kind?: string }) => {
      assert.equal(err.kind, 'timeout');
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      return true;
    });
  } finally {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

test('a tampered ciphertext byte ends that connection only', async () => {
  const h = await serve(options(generateIdentity()));
  let armed = false;
  const tamper = await proxy(h.listener.port, (b) => {
    if (armed && b.length > 8) {
      armed = false;
      const c = Buffer.from(b);
      c[8]! ^= 0x01;
      return c;
    }
    return b;
  });
  try {
    const firstServer = h.nextConnection();
    const victim = await dialSecure('127.0.0.1', tamper.port, options(generateIdentity()));
    const victimServer = await firstServer;
    const secondServer = h.nextConnection();
    const bystander = await dialSecure('127.0.0.1', h.listener.port, options(generateIdentity()));
    const bystanderServer = await secondServer;

    const serverClosed = once(victimServer, 'close') as Promise<[CloseInfo]>;
    const clientClosed = once(victim, 'close') as Promise<[CloseInfo]>;
    armed = true;
    victim.send(create(EnvelopeSchema, { kind: { case: 'direct', value: { topic: 't', payload: Buffer.alloc(100, 1) } } }));
    const [info] = await serverClosed;
    // Anyone on the path could have flipped that bit: the link closes, but it is no offence of the peer's.
    assert.equal(info.reason, DisconnectReason.CORRUPT_RECORD);
    assert.equal(info.remote, false);
    assert.notEqual(info.offence, true);
    const [clientInfo] = await clientClosed;
    assert.equal(clientInfo.reason, DisconnectReason.CORRUPT_RECORD);
    assert.equal(clientInfo.remote, true);

    const got = once(bystanderServer, 'message') as Promise<[Envelope, number]>;
    bystander.send(create(EnvelopeSchema, { kind: { case: 'direct', value: { topic: 'still', payload: Buffer.alloc(100, 2) } } }));
    const [env] = await got;
    assert.equal(env.kind.case === 'direct' && env.kind.value.topic, 'still');
    assert.equal(bystander.closed, false);
    bystander.close(DisconnectReason.REQUESTED);
  } finally {
    await tamper.close();
    await h.close();
  }
});

test('a record that authenticates but holds an undecodable frame is the peer\'s offence', async () => {
  const h = await serve(options(generateIdentity()));
  try {
    const accepted = h.nextConnection();
    const sender = await dialSecure('127.0.0.1', h.listener.port, options(generateIdentity()));
    const server = await accepted;
    const serverClosed = once(server, 'close') as Promise<[CloseInfo]>;
    const senderClosed = once(sender, 'close') as Promise<[CloseInfo]>;
    // Sealed under the session key, so only the peer can have sent it: not an Envelope.
    sender.sendEncoded(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    const [info] = await serverClosed;
    assert.equal(info.reason, DisconnectReason.PROTOCOL_VIOLATION);
    assert.equal(info.remote, false);
    assert.equal(info.offence, true);
    const [senderInfo] = await senderClosed;
    assert.equal(senderInfo.reason, DisconnectReason.PROTOCOL_VIOLATION);
    assert.equal(senderInfo.remote, true);
  } finally {
    await h.close();
  }
});

test('a finish rejected by the responder closes the dialer\'s new connection with the remote reason', async () => {
  const h = await serve(options(generateIdentity()));
  const corrupt = await proxy(
    h.listener.port,
    rewriteFrames((env) => {
      if (env.kind.case === 'handshakeFinish') env.kind.value.signature[10]! ^= 1;
    }),
  );
  try {
    const serverErr = h.nextHandshakeError();
    const conn = await dialSecure('127.0.0.1', corrupt.port, options(generateIdentity()));
    const [info] = (await once(conn, 'close')) as [CloseInfo];
    assert.equal(DisconnectReason[info.reason], 'HANDSHAKE_FAILED');
    assert.equal(info.remote, true);
    assert.equal(info.error, undefined);
    assert.ok(isHandshakeError(DisconnectReason.HANDSHAKE_FAILED, 'handshake-failed', false)(await serverErr));
  } finally {
    await corrupt.close();
    await h.close();
  }
});
