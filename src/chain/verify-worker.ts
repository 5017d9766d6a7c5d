import { parentPort } from 'node:worker_threads';
import { verifyMessage } from './signature.js';

/** Worker side of VerifierPool: checks a batch of (message, signature, key) and answers 1/0 per item. */
export interface VerifyJob {
  jobId: number;
  messages: Uint8Array[];
  signatures: Uint8Array[];
  keys: Uint8Array[];
}

export interface VerifyResult {
  jobId: number;
  ok: Uint8Array;
}

parentPort?.on('message', (job: VerifyJob) => {
  const ok = new Uint8Array(job.messages.length);
  for (let i = 0; i < ok.length; i++) ok[i] = verifyMessage(job.signatures[i]!, job.messages[i]!, job.keys[i]!) ? 1 : 0;
  const result: VerifyResult = { jobId: job.jobId, ok };
  parentPort!.postMessage(result, [ok.buffer]);
});
