import type { AbstractLevel } from 'abstract-level';
import { Level } from 'level';
import { PheromonesError } from '../errors.js';

/**
 * Keys and values are raw bytes everywhere; each sublevel encodes its own
 * records. Any abstract-level store will do: LevelDB on disk for the daemon
 * (openDatabase), an in-memory one where thousands of nodes share a process.
 */
export type Database = AbstractLevel<string | Buffer | Uint8Array, Uint8Array, Uint8Array>;

export function bytesSublevel(db: Database, name: string) {
  return db.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' });
}

export type BytesSublevel = ReturnType<typeof bytesSublevel>;

const MIB = 1024 * 1024;

/**
 * Open the node's LevelDB at `path`. LevelDB holds a file lock for as long as
 * it is open, which is what stops two nodes sharing a data dir; that case
 * gets a message naming the directory instead of LevelDB's IO error.
 * `memoryMiB` is split a quarter write buffer, the rest block cache; without
 * it LevelDB keeps its own defaults (4 MiB + 8 MiB).
 */
export async function openDatabase(path: string, dataDir: string, memoryMiB?: number): Promise<Database> {
  if (memoryMiB !== undefined && !(memoryMiB >= 1)) {
    throw new PheromonesError('invalid-argument', `LevelDB memory of ${memoryMiB} MiB; it must be at least 1`);
  }
  const bytes = (memoryMiB ?? 0) * MIB;
  const memory = memoryMiB === undefined ? {} : { writeBufferSize: Math.floor(bytes / 4), cacheSize: Math.floor((bytes * 3) / 4) };
  const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view', ...memory });
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new PheromonesError('failed-precondition', `data dir ${dataDir} is in use by another pheromones-node`, { cause: err });
    }
    throw new PheromonesError('internal', `cannot open the database at ${path}: ${(err as Error).message}`, { cause: err });
  }
  return db;
}
