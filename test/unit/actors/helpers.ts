import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, defaultNodeOptions, type NodeOptions } from '../../../core/config';
import type { HeraldEvent, Tweet } from '../../../core/Event';
import { NodeStore } from '../../../storage/NodeStore';

export const SHARDS = 16;

/** A store's options at the schema's defaults, without fsync. */
export const STORE_OPTIONS = { syncWrites: false, writeBufferMb: DEFAULT_CONFIG.writeBufferMb };

/** A node's options at the schema's defaults over SHARDS shards, with `changes`. */
export const nodeOptions = (nodeId = 'node-1', changes: Partial<NodeOptions> = {}): NodeOptions => ({ ...defaultNodeOptions(nodeId, SHARDS), ...changes });

/** A real LevelDB in a fresh temp dir; `reopen` closes and opens it again, `dispose` closes and deletes it. */
export async function tempStore() {
  const dir = mkdtempSync(join(tmpdir(), 'herald-actor-'));
  const box = { dir, store: await NodeStore.open(dir, STORE_OPTIONS) };
  return Object.assign(box, {
    async close() {
      if (box.store.db.status === 'open') await box.store.close();
    },
    async reopen() {
      await this.close();
      box.store = await NodeStore.open(dir, STORE_OPTIONS);
      return box.store;
    },
    async dispose() {
      await this.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

let n = 0;
export const tweet = (author: string, extra: Partial<Tweet> = {}): Tweet => ({ id: `tw${++n}`, author, text: 'héllo 🌍', ...extra });

export const ev = (type: HeraldEvent['type'], actor: string, extra: Partial<HeraldEvent> = {}): HeraldEvent => ({
  id: `ev${++n}`,
  type,
  actor,
  ts: 1_700_000_000_000 + n,
  ...extra,
});
