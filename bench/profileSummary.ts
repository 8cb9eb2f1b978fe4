import { readFileSync } from 'node:fs';
import { parseOptions } from './harness/args';
import { parseOrExit } from './harness/main';

/**
 * `node dist/bench/profileSummary.js FILE.cpuprofile [N]`: the N functions with the most self time, and the
 * self time per package/module, from a V8 CPU profile (such as `triggered --profile DIR` writes).
 */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

const [file, top = '25'] = parseOrExit('profileSummary', () => parseOptions(process.argv.slice(2), {}, { positionals: true })).positionals;
if (!file) {
  console.error('usage: node dist/bench/profileSummary.js FILE.cpuprofile [N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const fnTime = new Map<string, number>();
const modTime = new Map<string, number>();
for (const [id, us] of self) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const short = url
    .replace(/^.*node_modules\//, '')
    .replace(/^.*\/dist\//, 'dist/')
    .replace(/^file:\/\//, '');
  const fn = `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`;
  fnTime.set(fn, (fnTime.get(fn) ?? 0) + us);
  const mod = !url
    ? functionName || '(native)'
    : url.includes('node_modules/')
      ? short
          .split('/')
          .slice(0, short.startsWith('@') ? 2 : 1)
          .join('/')
      : url.startsWith('node:')
        ? 'node:*'
        : short;
  modTime.set(mod, (modTime.get(mod) ?? 0) + us);
}
// Inclusive time of herald's own functions (dist/), each counted once per stack: where each stage's CPU goes.
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map<string, number>();
const labelOf = (n: Node) => {
  const { functionName, url, lineNumber } = n.callFrame;
  return url.includes('/dist/') && !url.includes('/node_modules/')
    ? `${functionName || '(anonymous)'} ${url.replace(/^.*\/dist\//, '')}:${lineNumber + 1}`
    : undefined;
};
for (const [id, us] of self) {
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const label = labelOf(byId.get(at)!);
    if (label && !seen.has(label)) {
      seen.add(label);
      inclusive.set(label, (inclusive.get(label) ?? 0) + us);
    }
  }
}
const show = (m: Map<string, number>, n: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`)
    .join('\n');
console.log(
  `${file}: ${(total / 1000).toFixed(0)} ms sampled\n\nby module:\n${show(modTime, 15)}\n\nby function (self):\n${show(fnTime, Number(top))}\n\nherald functions (inclusive):\n${show(inclusive, Number(top))}`,
);
