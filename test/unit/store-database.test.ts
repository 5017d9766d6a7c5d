import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openDatabase } from '../../src/store/database.js';

/** Write `mib` MiB of 4 KiB values, close, and count the table files LevelDB made. */
async function tablesAfterWriting(dir: string, memoryMiB: number | undefined, mib: number): Promise<number> {
  const path = join(dir, `db-${memoryMiB ?? 'default'}`);
  const db = await openDatabase(path, dir, memoryMiB);
  const value = new Uint8Array(4096).fill(7);
  for (let i = 0; i < mib * 256; i++) {
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, i);
    await db.put(key, value);
  }
  // close() waits for LevelDB's background work, so any memtable flush has landed.
  await db.close();
  return (await readdir(path)).filter((f) => f.endsWith('.ldb')).length;
}

describe('LevelDB memory (--db-cache)', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('a quarter of the memory is the write buffer: 1 MiB gives 256 KiB memtables, flushed to tables as 2 MiB are written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pheromones-db-'));
    dirs.push(dir);
    assert.ok((await tablesAfterWriting(dir, 1, 2)) >= 4, 'about 8 memtables of 256 KiB flushed');
    // LevelDB's own 4 MiB write buffer holds the same 2 MiB without a flush.
    assert.equal(await tablesAfterWriting(dir, undefined, 2), 0);
    await assert.rejects(openDatabase(join(dir, 'none'), dir, 0), { kind: 'invalid-argument' });
  });
});
