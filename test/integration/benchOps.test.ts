import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActorRuntime as Runtime } from '../../cluster/ActorRuntime';
import type { NodeRef } from '../../cluster/NodeRef';
import { loadConfig, nodeParamsOf } from '../../core/config';
import { createLogger } from '../../core/logger';
import type { NodeOps } from '../../core/nodeProtocol';

// comedy loads a node's module by path from the runtime's own folder: the compiled one (npm test builds first).
const { ActorRuntime } = createRequire(__filename)('../../dist/cluster/ActorRuntime.js') as typeof import('../../cluster/ActorRuntime');

// The bench-only ops (BenchOps) on real node processes: a node answers them only when created with `benchOps`.
describe('bench-only node ops', () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-ops-'));
  const config = loadConfig({ dataDir: dir, syncWrites: false, logLevel: 'warn' });
  let runtime: Runtime | undefined;
  let plain: NodeRef;
  let bench: NodeRef;

  beforeAll(async () => {
    runtime = await ActorRuntime.start({ callTimeoutMs: 10_000, linkMaxFrame: config.linkMaxFrame }, createLogger('test', 'silent'), {
      fromNode: () => undefined,
      onNewProcess: () => undefined,
    });
    plain = await runtime.spawn({ id: 'node-1' }, nodeParamsOf(config, 'node-1', 8));
    bench = await runtime.spawn({ id: 'node-2' }, { ...nodeParamsOf(config, 'node-2', 8), benchOps: true });
  });

  afterAll(async () => {
    await runtime?.stop([plain, bench].filter((ref) => ref).map((ref) => ref.pid));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a node refuses echo and profileOf with HERALD_UNKNOWN_OP unless created for a benchmark, over its link and over comedy', async () => {
    expect(plain.linked && bench.linked).toBe(true);
    for (const via of ['link', 'comedy'] as const) {
      await expect(plain.callBench('echo', { text: 'hé 🚀' }, 5_000, via)).rejects.toMatchObject({ code: 'HERALD_UNKNOWN_OP' });
      await expect(plain.callBench('profileOf', { user: 'u1' }, 5_000, via)).rejects.toMatchObject({ code: 'HERALD_UNKNOWN_OP' });
      const echoed = (await bench.callBench('echo', { text: 'hé 🚀', raw: new Uint8Array([0, 255]) }, 5_000, via)) as { text: string; raw: Uint8Array };
      expect(echoed.text).toBe('hé 🚀');
      expect(echoed.raw).toBeInstanceOf(Uint8Array);
      expect([...echoed.raw]).toEqual([0, 255]);
      // A user with no profile stored: the empty one.
      expect(await bench.callBench('profileOf', { user: 'u1' }, 5_000, via)).toEqual({ top: [], ent: [] });
    }
  });

  it('answers the node ops on both, and a name that only an object would know as HERALD_UNKNOWN_OP', async () => {
    for (const ref of [plain, bench]) {
      expect((await ref.call('ping', null)).pid).toBe(ref.pid);
      expect((await ref.call('stats', null)).nodeId).toBe(ref.id);
      await expect(ref.call('toString' as keyof NodeOps, null as never)).rejects.toMatchObject({ code: 'HERALD_UNKNOWN_OP' });
    }
  });
});
