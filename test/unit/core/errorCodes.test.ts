import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../core/HeraldError';

interface DocRow {
  code: string;
  http: string;
  retryable: string;
}

/**
 * Every row of the tables under docs/protocol.md's "## Error codes" (up to the next `## ` heading). A table row
 * that is neither a `| code | HTTP | retryable | meaning |` header, a separator nor a code row fails the parse, so a
 * malformed row cannot drop out of the comparison unseen.
 */
function documentedCodes(markdown: string): DocRow[] {
  const lines = markdown.split('\n');
  const start = lines.indexOf('## Error codes');
  if (start < 0) throw new Error('docs/protocol.md has no "## Error codes" section');
  const rows: DocRow[] = [];
  for (let i = start + 1; i < lines.length && !lines[i].startsWith('## '); i++) {
    const line = lines[i].trim();
    if (!line.startsWith('|')) continue;
    const cells = line
      .slice(1, line.endsWith('|') ? -1 : undefined)
      .split('|')
      .map((c) => c.trim());
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    if (cells[0] === 'code') {
      expect(cells, `header at docs/protocol.md:${i + 1}`).toEqual(['code', 'HTTP', 'retryable', 'meaning']);
      continue;
    }
    const code = /^`(HERALD_[A-Z_]+)`$/.exec(cells[0])?.[1];
    if (!code || cells.length !== 4 || !cells[3]) throw new Error(`docs/protocol.md:${i + 1}: not a code row: ${line}`);
    rows.push({ code, http: cells[1], retryable: cells[2] });
  }
  return rows;
}

describe('docs/protocol.md error codes', () => {
  const rows = documentedCodes(readFileSync(join(__dirname, '../../../docs/protocol.md'), 'utf8'));

  it('lists every code of the registry once, and no other', () => {
    const listed = rows.map((r) => r.code);
    const twice = listed.filter((c, i) => listed.indexOf(c) !== i);
    expect(twice, 'listed twice').toEqual([]);
    expect([...listed].sort()).toEqual(Object.keys(ErrorCodes).sort());
  });

  it('gives each code the HTTP status and retryable of the registry', () => {
    const documented = Object.fromEntries(rows.map((r) => [r.code, { http: r.http, retryable: r.retryable }]));
    const asDocumented = ({ status, retryable }: { status: number | null; retryable: boolean }) => ({
      http: status === null ? '—' : String(status),
      retryable: retryable ? 'yes' : 'no',
    });
    const registry = Object.fromEntries(Object.entries(ErrorCodes).map(([code, entry]) => [code, asDocumented(entry)]));
    expect(documented).toEqual(registry);
  });
});
