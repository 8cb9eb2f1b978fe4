import type { NodeStore } from '../../storage/NodeStore';
import { ABSENT, READ } from './KnownKeys';

/** Fingerprints one filter holds at most (a table of 64 KB); past this it gives up and every lookup reads. */
const FILTER_MAX = 8192;
/** The table's first size; it doubles while more than half full. */
const FIRST_SLOTS = 64;

/**
 * The set of one user's keys of one kind whose values are not kept in memory (dedupe keys, aggregate keys), as
 * 32-bit fingerprints, so that the usual new event (its key absent) costs no LevelDB read: a fingerprint not in the
 * set means the key certainly does not exist; one in it means read it (a duplicate, a liked tweet's aggregate, or,
 * about once in 500,000 lookups of a full table, another key with the same fingerprint).
 *
 * Why not KnownKeys: every event adds a dedupe key (and, for a like of a new tweet, an aggregate key), and a Map of
 * key strings keeps each one, with its Map table regrowing behind it, alive through the scavenges: ~40 % of what
 * survived a node's scavenges at 5,000 events/s (docs/benchmarks.md, sixth session). Here a key adds one number to
 * a typed array outside V8's heap. Deletes (the actor's, or the dedupe sweep's behind its back) leave the
 * fingerprint: a lookup then reads and finds nothing.
 */
export class KeyFilter {
  private state: 'idle' | 'loading' | 'complete' | 'overflow' = 'idle';
  private table = new Uint32Array(FIRST_SLOTS);
  private size = 0;

  constructor(
    /** The user's range of that kind. */
    private readonly range: { gt: string; lt: string },
  ) {}

  /** ABSENT: the key certainly does not exist; READ: read it from LevelDB. */
  lookup(key: string): typeof ABSENT | typeof READ {
    return this.state === 'complete' && !this.has(fingerprint(key)) ? ABSENT : READ;
  }

  /** The key was read from LevelDB: nothing to keep (values are not kept). */
  read(_key: string, _value: unknown): void {}

  /** The actor committed a put (a value) or a delete (undefined) of `key`; at any time, loaded or not. */
  changed(key: string, value: unknown): void {
    if (value !== undefined) this.add(fingerprint(key));
  }

  /** Starts the scan (once); until it is done, every key must be read. Puts committed meanwhile are already in. */
  load(store: NodeStore): void {
    if (this.state !== 'idle') return;
    this.state = 'loading';
    store.db
      .keys({ ...this.range, limit: FILTER_MAX + 1 })
      .all()
      .then(
        (keys) => {
          if (this.state !== 'loading') return;
          for (const key of keys) this.add(fingerprint(key));
          if (this.state === 'loading') this.state = 'complete';
        },
        () => this.giveUp(),
      );
  }

  private has(fp: number): boolean {
    const mask = this.table.length - 1;
    for (let i = fp & mask; ; i = (i + 1) & mask) {
      const at = this.table[i];
      if (at === fp) return true;
      if (at === 0) return false;
    }
  }

  private add(fp: number): void {
    if (this.state === 'overflow' || this.has(fp)) return;
    if (this.size >= FILTER_MAX) return this.giveUp();
    if (2 * (this.size + 1) > this.table.length) this.grow();
    insert(this.table, fp);
    this.size++;
  }

  private grow(): void {
    const old = this.table;
    this.table = new Uint32Array(old.length * 2);
    for (const fp of old) if (fp !== 0) insert(this.table, fp);
  }

  private giveUp(): void {
    this.state = 'overflow';
    this.table = new Uint32Array(0);
    this.size = 0;
  }
}

/** Linear probing; 0 marks an empty slot (no fingerprint is 0). */
function insert(table: Uint32Array, fp: number): void {
  const mask = table.length - 1;
  let i = fp & mask;
  while (table[i] !== 0) i = (i + 1) & mask;
  table[i] = fp;
}

/** FNV-1a over the key's UTF-16 code units, never 0. */
export function fingerprint(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}
