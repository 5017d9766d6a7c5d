import { parentPort } from 'node:worker_threads';
import { searchNonce } from './pow.js';

/** Worker side of Miner: one nonce search per message. */
export interface MineJob {
  jobId: number;
  header: Uint8Array;
  target: Uint8Array;
  startNonce: bigint;
  maxHashes: number;
  /** Shared Int32Array(1); the main thread stores 1 to abort this job. */
  abort: Int32Array;
}

export interface MineReply {
  jobId: number;
  nonce: bigint | undefined;
  hashes: number;
  aborted: boolean;
  elapsedMs: number;
}

parentPort?.on('message', (job: MineJob) => {
  const t0 = performance.now();
  const r = searchNonce(job.header, job.target, job.startNonce, job.maxHashes, job.abort);
  const reply: MineReply = { jobId: job.jobId, ...r, elapsedMs: performance.now() - t0 };
  parentPort!.postMessage(reply);
});
