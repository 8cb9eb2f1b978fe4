import type { NodeStore } from '../storage/NodeStore';

/** Keys a set may hold; past this it gives up (a user that busy reads LevelDB for each key instead). */
const KNOWN_MAX = 4096;

/**
 * The complete set of one user's keys of a few kinds (dedupe ids, affinities, followings, aggregates), so that
 * a lookup of a key that does not exist, the usual case for a new event, costs no LevelDB read. Loaded once by
 * a key scan of each range; every change the user's actor commits is applied to it, including those made while
 * the scan runs. Only the actor writes these keys (a dedupe sweep may delete some: a stale "maybe" only costs a
 * read), so once loaded the set answers "certainly absent" exactly.
 */
export class KnownKeys {
  private state: 'idle' | 'loading' | 'complete' | 'overflow' = 'idle';
  private keys = new Set<string>();
  /** Changes committed before the set was complete, in order: applied over the scan's result. */
  private delta: Array<[key: string, exists: boolean]> = [];

  constructor(
    /** The character position of the kind in this user's keys, and the kinds tracked. */
    private readonly kindAt: number,
    private readonly kinds: string,
  ) {}

  /** False: the key certainly does not exist. True: it may (read it), or its kind is not tracked. */
  mayHave(key: string): boolean {
    return this.state !== 'complete' || this.keys.has(key) || !this.kinds.includes(key[this.kindAt]);
  }

  /** The actor committed a put (`exists`) or a delete of `key`. */
  changed(key: string, exists: boolean): void {
    if (this.state === 'overflow' || !this.kinds.includes(key[this.kindAt])) return;
    if (this.state === 'complete') {
      if (exists) this.keys.add(key);
      else this.keys.delete(key);
      if (this.keys.size > KNOWN_MAX) this.giveUp();
    } else {
      this.delta.push([key, exists]);
      if (this.delta.length > KNOWN_MAX) this.giveUp();
    }
  }

  /** Starts the scan of `ranges` (once); until it is done, every key "may" exist. */
  load(store: NodeStore, ranges: Array<{ gt: string; lt: string }>): void {
    if (this.state !== 'idle') return;
    this.state = 'loading';
    Promise.all(ranges.map((r) => store.db.keys({ ...r, limit: KNOWN_MAX + 1 }).all())).then(
      (lists) => {
        if (this.state !== 'loading') return;
        if (lists.reduce((n, l) => n + l.length, 0) > KNOWN_MAX) return this.giveUp();
        for (const list of lists) for (const key of list) this.keys.add(key);
        for (const [key, exists] of this.delta) {
          if (exists) this.keys.add(key);
          else this.keys.delete(key);
        }
        this.delta = [];
        this.state = this.keys.size > KNOWN_MAX ? 'overflow' : 'complete';
      },
      () => this.giveUp(),
    );
  }

  private giveUp(): void {
    this.state = 'overflow';
    this.keys = new Set();
    this.delta = [];
  }
}
