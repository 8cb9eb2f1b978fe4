/**
 * A small typed event emitter that works in browsers and Node alike. A listener that throws does not stop the
 * others; its error goes to `onListenerError` (errors of `error` listeners are dropped, to avoid a loop).
 */
export class Listeners<Events extends Record<string, unknown[]>> {
  private readonly byName: { [K in keyof Events]?: Set<(...args: Events[K]) => void> } = {};

  constructor(private readonly onListenerError: (err: unknown) => void) {}

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof Events>(name: K, listener: (...args: Events[K]) => void): () => void {
    const set = (this.byName[name] ??= new Set());
    set.add(listener);
    return () => void set.delete(listener);
  }

  emit<K extends keyof Events>(name: K, ...args: Events[K]): void {
    for (const listener of [...(this.byName[name] ?? [])]) {
      try {
        listener(...args);
      } catch (err) {
        if (name !== 'error') this.onListenerError(err);
      }
    }
  }
}
