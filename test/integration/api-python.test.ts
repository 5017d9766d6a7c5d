/**
 * The API from another language: test/python/client_test.py (stubs generated
 * from proto/ at test time) against a real daemon. Needs Debian's
 * python3-grpcio and python3-grpc-tools under /usr/bin/python3 (.ci/run
 * installs them); without them this test fails, saying so.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DaemonSet, REPO_ROOT, type Daemon } from '../helpers/daemon.js';
import { cookiePath } from '../../src/api/auth.js';

const PYTHON = '/usr/bin/python3';
const run = promisify(execFile);

describe('python client', () => {
  const net = new DaemonSet();
  let a: Daemon;
  let b: Daemon;
  let rpc: string;

  before(async () => {
    [a, b] = await Promise.all([net.start({ name: 'a' }), net.start({ name: 'b' })]);
    rpc = (await a.waitForLog((l) => l.msg === 'api listening', 15_000, '"api listening"')).address as string;
  });
  after(() => net.cleanup());

  test('GetInfo, AddPeer, Broadcast, Subscribe, and no token refused', async () => {
    try {
      await run(PYTHON, ['-c', 'import grpc, grpc_tools.protoc'], { timeout: 30_000 });
    } catch (err) {
      assert.fail(
        `${PYTHON} cannot import grpc and grpc_tools: install Debian's python3-grpcio and python3-grpc-tools ` +
          `(apt-get install -y python3-grpcio python3-grpc-tools). ${(err as Error).message}`,
      );
    }
    const args = [
      join(REPO_ROOT, 'test', 'python', 'client_test.py'),
      '--proto-dir', join(REPO_ROOT, 'proto'),
      '--rpc', rpc,
      '--cookie', cookiePath(a.dataDir),
      '--peer', b.address,
      '--peer-id', b.nodeId,
    ];
    let stdout: string;
    try {
      ({ stdout } = await run(PYTHON, args, { timeout: 60_000, cwd: REPO_ROOT }));
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      assert.fail(`client_test.py failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}\n${a.tail()}`);
    }
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
    assert.equal(result.node_id, a.nodeId);
    assert.equal(result.peer, b.nodeId);
    assert.match(String(result.message_id), /^[0-9a-f]{64}$/);
    assert.equal(result.unauthenticated, true);
  });
});
