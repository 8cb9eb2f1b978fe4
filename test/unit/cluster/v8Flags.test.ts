import { afterEach, describe, expect, it } from 'vitest';
import { inheritV8Flags, v8Flags } from '../../../cluster/V8Flags';

describe('V8 flags', () => {
  const saved = [...process.execArgv];
  afterEach(() => {
    process.execArgv.splice(0, process.execArgv.length, ...saved);
  });

  it("adds herald's flags to what forked processes inherit, once, and keeps a value given on the command line", () => {
    expect(v8Flags()).toEqual(['--max-semi-space-size=32', '--initial-old-space-size=128']);
    process.execArgv.splice(0, process.execArgv.length, '--max-semi-space-size=8');
    inheritV8Flags();
    inheritV8Flags();
    expect(process.execArgv).toEqual(['--max-semi-space-size=8', ...v8Flags().filter((f) => !f.startsWith('--max-semi-space-size'))]);
    process.execArgv.splice(0, process.execArgv.length);
    inheritV8Flags();
    inheritV8Flags();
    expect(process.execArgv).toEqual([...v8Flags()]);
  });
});
