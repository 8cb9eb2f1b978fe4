/**
 * Polls until a condition holds, and fails loudly when it does not in time: a test waits for the state it needs,
 * never a fixed time, and a timeout says what was awaited and what was last seen instead of falling through.
 *
 * `waitFor(what, condition, patience?)` resolves with the first truthy value `condition` returns.
 * `waitFor(what, read, accept, patience?)` resolves with the first value of `read` that `accept` holds for.
 * A read or condition that throws counts as "not yet" (a node restarting refuses its stats); its error is reported
 * as the last value seen if time runs out.
 */
export function waitFor<T>(what: string, condition: () => T | Promise<T>, patience?: Patience): Promise<NonNullable<T>>;
export function waitFor<T>(what: string, read: () => T | Promise<T>, accept: (value: T) => boolean, patience?: Patience): Promise<T>;
export async function waitFor<T>(
  what: string,
  read: () => T | Promise<T>,
  acceptOrPatience?: ((value: T) => boolean) | Patience,
  patience?: Patience,
): Promise<T> {
  const accept = typeof acceptOrPatience === 'function' ? acceptOrPatience : (v: T) => !!v;
  const given = typeof acceptOrPatience === 'function' ? patience : acceptOrPatience;
  const { timeoutMs = 10_000, everyMs } = typeof given === 'number' ? { timeoutMs: given } : (given ?? {});
  const deadline = Date.now() + timeoutMs;
  let last: { value: T } | { error: unknown } | undefined;
  // Quick first looks, then every 100 ms: a short wait ends early without hammering an HTTP endpoint on a long one.
  for (let pause = everyMs ?? 5; ; pause = everyMs ?? Math.min(pause * 2, 100)) {
    try {
      const value = await read();
      if (accept(value)) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${describe(last)}`);
    await new Promise((r) => setTimeout(r, pause));
  }
}

/** How long to wait (ms), or that and how often to look (ms; default: backing off from 5 to 100). */
export type Patience = number | { timeoutMs?: number; everyMs?: number };

function describe(last: { value: unknown } | { error: unknown } | undefined): string {
  if (!last) return 'nothing';
  if ('error' in last) return `error ${last.error instanceof Error ? last.error.message : String(last.error)}`;
  try {
    return (JSON.stringify(last.value) ?? String(last.value)).slice(0, 2000);
  } catch {
    return String(last.value);
  }
}
