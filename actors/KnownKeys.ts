import type { NodeStore } from '../storage/NodeStore';

/** Keys a set may hold; past this it gives up (a user that busy reads LevelDB for each key instead). */
const KNOWN_MAX = 4096;
/** A key that exists, whose value has not been read. */
const UNREAD = Symbol('unread');

/** What `lookup` answers: the key certainly does not exist, or read it from LevelDB, or here is its value. */
export const ABSENT = Symbol('absent');
export const READ = Symbol('read');

/**
 * The complete set of one user's keys of a few kinds (dedupe ids, affinities, followings, aggregates), so that
 * a lookup of a key that does not exist, the usual case for a new event, costs no LevelDB read; and the values
 * of the small kinds (`cached`) once read or written, so a hit costs none either. Loaded once by a key scan of
 * each range; every change the user's actor commits is applied to it, including those made while the scan
 * runs. Only the actor writes these keys; a dedupe sweep may delete dedupe keys, which are never cached (a
 * stale "exists" only costs a read), so once loaded the set answers exactly.
 */
export class KnownKeys {
  private state: 'idle' | 'loading' | 'complete' | 'overflow' = 'idle';
  private keys = new Map<string, unknown>();
  /** Changes committed before the set was complete, in order: applied over the scan's result. */
  private delta: Array<[key: string, value: unknown]> = [];

  constructor(
    /** The character position of the kind in this user's keys. */
    private readonly kindAt: number,
    /** The kinds tracked, and those whose values are kept too (small, written only by the actor). */
    private readonly kinds: string,
    private readonly cached: string,
  ) {}

  /** ABSENT: the key certainly does not exist; READ: read it (or it is not a tracked kind); else its value. */
  lookup(key: string): unknown {
    if (this.state !== 'complete') return READ;
    const kind = key[this.kindAt];
    if (!this.kinds.includes(kind)) return READ;
    const value = this.keys.get(key);
    return value === undefined ? ABSENT : value === UNREAD ? READ : value;
  }

  /** A tracked key was read from LevelDB: keep its value if its kind is cached. */
  read(key: string, value: unknown): void {
    if (this.state === 'complete' && value !== undefined && this.cached.includes(key[this.kindAt])) this.keys.set(key, value);
  }

  /** The actor committed a put of `value`, or a delete (undefined), of `key`. */
  changed(key: string, value: unknown): void {
    if (this.state === 'overflow') return;
    const kind = key[this.kindAt];
    if (!this.kinds.includes(kind)) return;
    if (this.state === 'complete') {
      if (value === undefined) this.keys.delete(key);
      else this.keys.set(key, this.cached.includes(kind) ? value : UNREAD);
      if (this.keys.size > KNOWN_MAX) this.giveUp();
    } else {
      this.delta.push([key, value]);
      if (this.delta.length > KNOWN_MAX) this.giveUp();
    }
  }

  /** Starts the scan of `ranges` (once); until it is done, every key must be read. */
  load(store: NodeStore, ranges: Array<{ gt: string; lt: string }>): void {
    if (this.state !== 'idle') return;
    this.state = 'loading';
    Promise.all(ranges.map((r) => store.db.keys({ ...r, limit: KNOWN_MAX + 1 }).all())).then(
      (lists) => {
        if (this.state !== 'loading') return;
        if (lists.reduce((n, l) => n + l.length, 0) > KNOWN_MAX) return this.giveUp();
        for (const list of lists) for (const key of list) this.keys.set(key, UNREAD);
        const delta = this.delta;
        this.delta = [];
        this.state = 'complete';
        for (const [key, value] of delta) this.changed(key, value);
      },
      () => this.giveUp(),
    );
  }

  private giveUp(): void {
    this.state = 'overflow';
    this.keys = new Map();
    this.delta = [];
  }
}
