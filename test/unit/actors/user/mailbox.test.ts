import { describe, expect, it } from 'vitest';
import { Mailbox } from '../../../../actors/user/Mailbox';
import { waitFor } from '../../../support/waitFor';

/** A task that takes time: the behaviour under test (a slow task holds the ones behind it). */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Mailbox', () => {
  it('runs tasks one at a time in post order, even when earlier tasks wait longer', async () => {
    const mb = new Mailbox();
    const log: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const task = (name: string, ms: number) => async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      running--;
      return name;
    };
    const results = await Promise.all([mb.post(task('a', 30)), mb.post(task('b', 10)), mb.post(task('c', 0)), mb.post(() => 'd')]);
    expect(results).toEqual(['a', 'b', 'c', 'd']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(maxRunning).toBe(1);
  });

  it('a failing task rejects only its own promise; later tasks still run', async () => {
    const mb = new Mailbox();
    const ran: number[] = [];
    const p1 = mb.post(async () => {
      ran.push(1);
      return 1;
    });
    const p2 = mb.post(async () => {
      await sleep(5);
      throw new Error('boom');
    });
    const p3 = mb.post(() => {
      throw new Error('sync boom');
    });
    const p4 = mb.post(async () => {
      ran.push(4);
      return 4;
    });
    await expect(p1).resolves.toBe(1);
    await expect(p2).rejects.toThrow('boom');
    await expect(p3).rejects.toThrow('sync boom');
    await expect(p4).resolves.toBe(4);
    expect(ran).toEqual([1, 4]);
  });

  it('size counts tasks posted and not yet finished', async () => {
    const mb = new Mailbox();
    expect(mb.size).toBe(0);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let firstRunning = false;
    const p1 = mb.post(() => ((firstRunning = true), gate));
    const p2 = mb.post(() => 2);
    const p3 = mb.post(async () => {
      throw new Error('x');
    });
    p3.catch(() => {});
    expect(mb.size).toBe(3);
    await waitFor('the first task running', () => firstRunning);
    expect(mb.size).toBe(3); // the first runs, the others are blocked behind the gate
    release();
    await p1;
    await p2;
    await p3.catch(() => {});
    await waitFor(
      'the mailbox empty',
      () => mb.size,
      (n) => n === 0,
    );
  });
});
