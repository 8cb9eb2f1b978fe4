/**
 * Event ids that carry their intended send time, `L<seq>.<µs>` (µs on this process's performance clock): a
 * subscriber reads the latency of a notification from the id of its newest event, with no table of send times,
 * and a stalled sender shows as latency (no coordinated omission).
 */

/** The timed id of event `seq` intended at `intendedMs`. */
export const timedId = (seq: number, intendedMs: number) => `L${seq}.${Math.round(intendedMs * 1000)}`;

/** The sequence number of a timed id. */
export const seqOf = (id: string) => Number(id.slice(1, id.indexOf('.')));

/** The intended send time (ms) of a timed id, or undefined for another id. */
export function intendedOf(id: string): number | undefined {
  if (id.charCodeAt(0) !== 76 /* L */) return undefined;
  const dot = id.indexOf('.');
  return dot < 0 ? undefined : Number(id.slice(dot + 1)) / 1000;
}
