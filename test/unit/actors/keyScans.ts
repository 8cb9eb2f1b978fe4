import { vi } from 'vitest';
import type { NodeStore } from '../../../storage/NodeStore';

/**
 * Every key scan started on `store` from now on (KeyFilter and KnownKeys load with one `db.keys().all()`), so a
 * test can wait for the loads themselves instead of a fixed time. `ended()` resolves once all of them answered and
 * the loaders' own callbacks ran; it fails if no scan was started at all (then there is nothing to wait for).
 */
export function keyScans(store: NodeStore): { ended(): Promise<void> } {
  const started: Array<Promise<unknown>> = [];
  const db = store.db;
  const keys = db.keys.bind(db);
  vi.spyOn(db, 'keys').mockImplementation(((options: Parameters<typeof keys>[0]) => {
    const iterator = keys(options);
    const all = iterator.all.bind(iterator);
    iterator.all = (() => {
      const answer = all();
      started.push(answer.catch(() => undefined));
      return answer;
    }) as typeof iterator.all;
    return iterator;
  }) as typeof db.keys);
  return {
    async ended() {
      if (started.length === 0) throw new Error('no key scan was started');
      await Promise.all(started);
      await null; // one more turn: the loader attached its `then` to the answer just after ours
    },
  };
}
