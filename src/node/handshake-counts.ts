import { PheromonesError } from '../errors.js';
import { DisconnectReason } from '../gen/pheromones/wire/v1/wire_pb.js';
import { HandshakeError } from '../transport/index.js';
import type { Direction, SecureConnection } from '../transport/types.js';

/** Handshakes of one direction that ended one way: "ok", or why they failed. */
export interface HandshakeCount {
  direction: Direction;
  /** "ok", the handshake's disconnect reason ("wrong_network", "self", "timeout", ...) or the dial error's kind ("refused", "unavailable"). */
  result: string;
  count: number;
}

/** A short, bounded name for why a handshake failed (a metric label, so never free text). */
export function handshakeFailure(err: unknown): string {
  if (err instanceof HandshakeError) return (DisconnectReason[err.reason] ?? 'unspecified').toLowerCase();
  if (err instanceof PheromonesError) return err.kind.replaceAll('-', '_');
  return 'error';
}

/** Counts handshakes since start, by direction and outcome. */
export class HandshakeCounts {
  private readonly counts = new Map<string, HandshakeCount>();

  add(direction: Direction, result: string): void {
    const key = `${direction} ${result}`;
    const c = this.counts.get(key);
    if (c === undefined) this.counts.set(key, { direction, result, count: 1 });
    else c.count++;
  }

  /** Count an outbound dial's handshake as it settles; the promise is returned unchanged. */
  dial(p: Promise<SecureConnection>): Promise<SecureConnection> {
    return p.then(
      (conn) => {
        this.add('outbound', 'ok');
        return conn;
      },
      (err: unknown) => {
        this.add('outbound', handshakeFailure(err));
        throw err;
      },
    );
  }

  list(): HandshakeCount[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }
}
