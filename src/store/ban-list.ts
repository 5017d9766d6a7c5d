import type { Database } from './database.js';
import { JsonTable } from './json-table.js';

/** One ban. `target` is a node id (64 hex), a host:port, or a bare host (every port). */
export interface Ban {
  target: string;
  reason: string;
  createdAtMs: number;
  expiresAtMs: number;
}

function check(key: string, v: unknown): Ban | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.reason !== 'string' || typeof r.createdAtMs !== 'number' || typeof r.expiresAtMs !== 'number') return undefined;
  return { target: key, reason: r.reason, createdAtMs: r.createdAtMs, expiresAtMs: r.expiresAtMs };
}

/** Most bans kept; past it the one ending soonest goes (a flood of bans must not grow the table without bound). */
const MAX_BANS = 10_000;

/**
 * Bans in force (Bitcoin's banlist.dat), in LevelDB so they survive a
 * restart. Expired bans are dropped when next looked at.
 */
export class BanList {
  private constructor(
    private readonly table: JsonTable<Ban>,
    private readonly bans: Map<string, Ban>,
  ) {}

  static async open(db: Database): Promise<BanList> {
    const table = new JsonTable<Ban>(db, 'bans');
    return new BanList(table, await table.load(check));
  }

  add(target: string, reason: string, durationMs: number, now = Date.now()): Ban {
    const ban: Ban = { target, reason, createdAtMs: now, expiresAtMs: now + durationMs };
    this.bans.set(target, ban);
    this.table.put(target, ban);
    while (this.bans.size > MAX_BANS) {
      let soonest: Ban | undefined;
      for (const b of this.bans.values()) if (soonest === undefined || b.expiresAtMs < soonest.expiresAtMs) soonest = b;
      if (soonest === undefined) break;
      this.remove(soonest.target);
    }
    return ban;
  }

  /** The ban lifted, or undefined when there was none. */
  remove(target: string): Ban | undefined {
    const ban = this.bans.get(target);
    if (ban === undefined) return undefined;
    this.bans.delete(target);
    this.table.del(target);
    return ban;
  }

  /** The first ban in force among `targets`. */
  find(targets: readonly string[], now = Date.now()): Ban | undefined {
    for (const t of targets) {
      const ban = this.bans.get(t);
      if (ban === undefined) continue;
      if (ban.expiresAtMs > now) return ban;
      this.remove(t);
    }
    return undefined;
  }

  list(now = Date.now()): Ban[] {
    for (const b of [...this.bans.values()]) if (b.expiresAtMs <= now) this.remove(b.target);
    return [...this.bans.values()].sort((a, b) => a.createdAtMs - b.createdAtMs);
  }

  flush(): Promise<void> {
    return this.table.flush();
  }
}
