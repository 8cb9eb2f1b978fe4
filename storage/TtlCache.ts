/**
 * A short-lived cache for hot reads: entries expire after `ttlMs`, at most `max` are kept (the oldest inserted
 * go first), and writers `delete` what they change. Reads within the TTL may be that old; nothing else.
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { value: V; expires: number }>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

  get(key: K, load: () => V, now = Date.now()): V {
    const hit = this.entries.get(key);
    if (hit && hit.expires > now) {
      this.hits++;
      return hit.value;
    }
    this.misses++;
    const value = load();
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as K);
    this.entries.delete(key);
    this.entries.set(key, { value, expires: now + this.ttlMs });
    return value;
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
