import type { SubscriberLog } from './Subscribers';

export interface Entry {
  offset: number;
  eventIds: string[];
}

export interface CheckInput {
  /** event id → recipient, for every acked event. */
  acked: ReadonlyMap<string, string>;
  /** event id → recipient, for every event ever sent (acked or not). */
  generated: ReadonlyMap<string, string>;
  /** user → every entry of the timeline, in the order the server paged them (newest first). */
  timelines: ReadonlyMap<string, Entry[]>;
  subscribers: SubscriberLog[];
}

export interface CheckResult {
  acked: number;
  entries: number;
  /** Acked event ids with no timeline entry at their recipient. */
  lost: number;
  /** Event ids found in more than one entry (counted once per extra entry). */
  duplicated: number;
  /** Offsets missing from 1..max per user (offsets must be exactly 1..N). */
  gaps: number;
  /** Adjacent entries of the newest-first page walk whose offset does not fall (a repeat or a reordering). */
  nonMonotonic: number;
  /** Entries on the wrong user's timeline, or for an event id never sent. */
  misplaced: number;
  /** Entries of events sent but never acked (allowed: a failed publish may have been applied). */
  appliedUnacked: number;
  recoveredFalse: number;
  /** Offsets a subscriber never got although it got a later one (excluding offsets skipped after recovered:false). */
  subscriberGaps: number;
  /** Notifications a subscriber got twice. */
  subscriberDuplicates: number;
  /** A notification whose event ids differ from the timeline entry at that offset. */
  subscriberMismatch: number;
  /** Subscribers whose last offset is below their timeline's newest one at the end, and by how many in total. */
  subscribersBehind: number;
  subscriberTailMissing: number;
  subscriberJumps: number;
  subscriberEpochChanges: number;
  samples: { lost: string[]; duplicated: string[]; gaps: string[]; subscriberGaps: string[] };
}

const SAMPLE = 5;

/** Compares what was acked with what the timelines hold, and what subscribers received with the timelines. */
export function check(input: CheckInput): CheckResult {
  const r: CheckResult = {
    acked: input.acked.size,
    entries: 0,
    lost: 0,
    duplicated: 0,
    gaps: 0,
    nonMonotonic: 0,
    misplaced: 0,
    appliedUnacked: 0,
    recoveredFalse: 0,
    subscriberGaps: 0,
    subscriberDuplicates: 0,
    subscriberMismatch: 0,
    subscribersBehind: 0,
    subscriberTailMissing: 0,
    subscriberJumps: 0,
    subscriberEpochChanges: 0,
    samples: { lost: [], duplicated: [], gaps: [], subscriberGaps: [] },
  };
  const sample = (list: string[], s: string) => list.length < SAMPLE && list.push(s);

  /** event id → where it was found ("user@offset"). */
  const found = new Map<string, string[]>();
  for (const [user, entries] of input.timelines) {
    r.entries += entries.length;
    const offsets = new Set<number>();
    let max = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (i > 0 && !(e.offset < entries[i - 1].offset)) r.nonMonotonic++;
      offsets.add(e.offset);
      max = Math.max(max, e.offset);
      for (const id of e.eventIds) {
        const at = found.get(id);
        if (at) at.push(`${user}@${e.offset}`);
        else found.set(id, [`${user}@${e.offset}`]);
        const to = input.generated.get(id);
        if (to !== user) r.misplaced++;
        else if (!input.acked.has(id)) r.appliedUnacked++;
      }
    }
    for (let o = 1; o <= max; o++) {
      if (!offsets.has(o)) {
        r.gaps++;
        sample(r.samples.gaps, `${user}@${o}`);
      }
    }
  }
  for (const [id, at] of found) {
    if (at.length > 1) {
      r.duplicated += at.length - 1;
      sample(r.samples.duplicated, `${id}: ${at.join(', ')}`);
    }
  }
  for (const [id, user] of input.acked) {
    if (!found.get(id)?.some((a) => a.startsWith(`${user}@`))) {
      r.lost++;
      sample(r.samples.lost, `${id} → ${user}`);
    }
  }

  for (const s of input.subscribers) {
    r.recoveredFalse += s.recoveredFalse;
    r.subscriberDuplicates += s.duplicates;
    r.subscriberJumps += s.jumps;
    r.subscriberEpochChanges += Math.max(0, s.epochs.size - 1);
    const byOffset = new Map((input.timelines.get(s.user) ?? []).map((e) => [e.offset, e.eventIds.join(',')]));
    const newest = Math.max(0, ...byOffset.keys());
    let lastReceived = 0;
    for (const [offset, ids] of s.received) {
      lastReceived = Math.max(lastReceived, offset);
      if (byOffset.get(offset) !== ids.join(',')) r.subscriberMismatch++;
    }
    for (let o = 1; o <= lastReceived; o++) {
      if (!s.received.has(o) && !s.skipped.has(o)) {
        r.subscriberGaps++;
        sample(r.samples.subscriberGaps, `${s.user}@${o}`);
      }
    }
    const last = Math.max(lastReceived, ...s.skipped, 0);
    if (last < newest) {
      r.subscribersBehind++;
      r.subscriberTailMissing += newest - last;
    }
  }
  return r;
}

/** Reads a user's whole timeline over HTTP with an admin token, 100 at a time, paging with `before` = `next`. */
export async function readTimeline(http: string, adminToken: string, user: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  let before: number | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const url = `${http}/v1/users/${encodeURIComponent(user)}/timeline?limit=100${before === undefined ? '' : `&before=${before}`}`;
    const page = await getJson<{ items: Entry[]; next?: number }>(url, adminToken);
    for (const item of page.items) entries.push({ offset: item.offset, eventIds: item.eventIds });
    if (page.next === undefined) return entries;
    before = page.next;
  }
  throw new Error(`timeline of ${user}: too many pages`);
}

/** GET with a Bearer token; retries 5xx and network errors a few times (the checker runs on a settled cluster). */
export async function getJson<T>(url: string, token: string, attempts = 5): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.json();
      if (res.ok) return body as T;
      last = new Error(`GET ${url}: ${res.status} ${JSON.stringify(body)}`);
      if (res.status < 500) break;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200 * (i + 1)));
  }
  throw last;
}
