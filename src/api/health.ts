/**
 * grpc.health.v1.Health: NOT_SERVING until the node has loaded its data,
 * SERVING after. Open to callers without a token (see auth.ts).
 */
import { HealthCheckResponse_ServingStatus as ServingStatus, type Health } from '../gen/grpc/health/v1/health_pb.js';
import { PheromonesError } from '../errors.js';
import type { ImplOf } from './grpc-adapter.js';
import { BoundedQueue } from './bounded-queue.js';

/** How often Watch re-reads readiness (the node has no readiness event). */
const WATCH_POLL_MS = 250;

export function healthService(opts: {
  ready: () => boolean;
  /** Fully-qualified names of the services this server answers for. */
  services: readonly string[];
}): ImplOf<typeof Health> {
  const known = new Set(['', ...opts.services]);
  const current = (): ServingStatus => (opts.ready() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  return {
    async check(req) {
      if (!known.has(req.service)) throw new PheromonesError('not-found', `service: unknown service "${req.service}"`);
      return { status: current() };
    },
    async *watch(req, ctx) {
      if (!known.has(req.service)) {
        yield { status: ServingStatus.SERVICE_UNKNOWN };
        return;
      }
      const queue = new BoundedQueue<ServingStatus>(16, ctx.signal);
      let last = current();
      queue.push(last);
      const timer = setInterval(() => {
        const now = current();
        if (now !== last) queue.push((last = now));
      }, WATCH_POLL_MS);
      try {
        for await (const s of queue) yield { status: s };
      } finally {
        clearInterval(timer);
      }
    },
  };
}
