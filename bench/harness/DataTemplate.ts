import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A benchmark's data kept between runs (`--template DIR`): `make` fills `dataDir` and returns what describes it;
 * the first run saves both in DIR, later runs with the same `key` copy them instead of making them again (an
 * import of a million users costs a minute; a copy, seconds).
 */
export async function fromTemplate<T>(
  template: string | undefined,
  key: string,
  dataDir: string,
  make: () => Promise<T>,
): Promise<{ made: T; copied: boolean }> {
  const file = template ? join(template, 'bench-data.json') : '';
  if (template && existsSync(file)) {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { key?: string; made: T };
    if (kept.key === key) {
      rmSync(dataDir, { recursive: true, force: true });
      cpSync(template, dataDir, { recursive: true });
      return { made: kept.made, copied: true };
    }
  }
  const made = await make();
  if (template) {
    rmSync(template, { recursive: true, force: true });
    cpSync(dataDir, template, { recursive: true });
    writeFileSync(file, JSON.stringify({ key, made }));
  }
  return { made, copied: false };
}
