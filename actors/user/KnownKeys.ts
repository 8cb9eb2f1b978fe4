import type { NodeStore } from '../../storage/NodeStore';

/**
 * Keys a set may hold; past this it gives up (a user that busy reads LevelDB for each key instead). Bounds the
 * memory of an active actor's sets to a few hundred KB in the worst case; most users have far fewer keys.
 */
const KNOWN_MAX = 1024;
/** A key that exists, whose value has not been read. */
const UNREAD = Symbol('unread');

/** What `lookup` answers besides a value: the key certainly does not exist, or read it from LevelDB. */
export const ABSENT = Symbol('absent');
export const READ = Symbol('read');

/**
 * The complete set of one user's keys of one kind, affinities or followings (small values, written only by the
 * actor; kinds whose values are not kept have actors/user/KeyFilter.ts), so that a lookup of a key that does not exist,
 * the usual case for a new event, costs no LevelDB read, with their values once read or written, so a hit costs
 * none either. Loaded by one key scan of the user's range of that kind; every change the user's actor commits is
 * applied to it, including those made before and while the scan runs.
 */
export class KnownKeys {
  private state: 'idle' | 'loading' | 'complete' | 'overflow' = 'idle';
  private keys = new Map<string, unknown>();
  /** Changes committed before the set was complete, in order: applied over the scan's result. */
  private delta: Array<[key: string, value: unknown]> = [];

  constructor(
    /** The user's range of this kind. */
    private readonly range: { gt: string; lt: string },
  ) {}

  /** ABSENT: the key certainly does not exist; READ: read it from LevelDB; else its value. */
  lookup(key: string): unknown {
    if (this.state !== 'complete') return READ;
    const value = this.keys.get(key);
    return value === undefined ? ABSENT : value === UNREAD ? READ : value;
  }

  /** The key was read from LevelDB: keep its value. */
  read(key: string, value: unknown): void {
    if (this.state === 'complete' && value !== undefined) this.keys.set(key, value);
  }

  /** The actor committed a put of `value`, or a delete (undefined), of `key`. */
  changed(key: string, value: unknown): void {
    if (this.state === 'complete') {
      if (value === undefined) this.keys.delete(key);
      else this.keys.set(key, value);
      if (this.keys.size > KNOWN_MAX) this.giveUp();
    } else if (this.state !== 'overflow') {
      this.delta.push([key, value]);
      if (this.delta.length > KNOWN_MAX) this.giveUp();
    }
  }

  /** Starts the scan (once); until it is done, every key must be read. */
  load(store: NodeStore): void {
    if (this.state !== 'idle') return;
    this.state = 'loading';
    store.db
      .keys({ ...this.range, limit: KNOWN_MAX + 1 })
      .all()
      .then(
        (keys) => {
          if (this.state !== 'loading') return;
          if (keys.length > KNOWN_MAX) return this.giveUp();
          for (const key of keys) this.keys.set(key, UNREAD);
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
