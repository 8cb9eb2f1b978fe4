import { parseArgs } from 'node:util';

/**
 * Command-line options of every benchmark and script: node:util's parseArgs, with each `--name value` turned into a
 * typed number, string, boolean or number list, its default filled in, and a bad value refused with an
 * `OptionError` that names the option (the main wrappers print it and exit 2).
 */

/** One option. A number without `default` is `undefined` when absent; a boolean is `false`. */
export type OptionSpec =
  | {
      type: 'number';
      default?: number;
      /** Smallest value allowed. */ min?: number;
      /** Values must be above this. */ above?: number;
      integer?: boolean;
      short?: string;
    }
  | { type: 'string'; default?: string; choices?: readonly string[]; short?: string }
  | { type: 'boolean'; short?: string }
  | { type: 'numbers'; default?: readonly number[]; above?: number };

export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S extends { type: 'number' }
  ? number
  : S extends { type: 'string'; choices: readonly (infer C)[] }
    ? C
    : S extends { type: 'string' }
      ? string
      : S extends { type: 'boolean' }
        ? boolean
        : number[];

/** The parsed values: an option with a default (or a boolean) always has a value. */
export type OptionValues<T extends OptionSpecs> = {
  -readonly [K in keyof T]: T[K] extends { type: 'boolean' } ? boolean : T[K] extends { default: unknown } ? ValueOf<T[K]> : ValueOf<T[K]> | undefined;
};

/** A bad command line: `option` is the option at fault (without `--`), or '' when none is; `usage` is shown with it. */
export class OptionError extends Error {
  override readonly name = 'OptionError';
  constructor(
    readonly option: string,
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}

/** Parses `args` against `specs`; throws OptionError on an unknown option or a bad value. */
export function parseOptions<const T extends OptionSpecs>(
  args: readonly string[],
  specs: T,
  how: { usage?: string; positionals?: boolean } = {},
): { values: OptionValues<T>; positionals: string[] } {
  const raw = rawOptions(args, specs, how);
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) values[name] = valueOf(name, spec, raw.values[name], how.usage);
  return { values: values as OptionValues<T>, positionals: raw.positionals };
}

function rawOptions(args: readonly string[], specs: OptionSpecs, how: { usage?: string; positionals?: boolean }) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string', ...('short' in spec && spec.short ? { short: spec.short } : {}) };
  }
  try {
    return parseArgs({ args: [...args], options, allowPositionals: !!how.positionals, strict: true });
  } catch (err) {
    // parseArgs names the option in its message ("Unknown option '--x'", "Option '--x <value>' argument missing").
    const option = /'(-{1,2}[^' ]+)/.exec((err as Error).message)?.[1]?.replace(/^-+/, '') ?? '';
    throw new OptionError(option, (err as Error).message, how.usage);
  }
}

function valueOf(name: string, spec: OptionSpec, raw: string | boolean | undefined, usage?: string): unknown {
  const bad = (why: string) => new OptionError(name, `--${name} ${why} (got ${JSON.stringify(raw)})`, usage);
  if (spec.type === 'boolean') return raw === true;
  if (raw === undefined) return spec.type === 'numbers' ? spec.default && [...spec.default] : spec.default;
  const text = String(raw);
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(text)) throw bad(`must be one of ${spec.choices.join(', ')}`);
    return text;
  }
  if (spec.type === 'numbers') {
    const list = text.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
    if (list.some((n) => !Number.isFinite(n) || (spec.above !== undefined && !(n > spec.above))))
      throw bad(`must be numbers${spec.above !== undefined ? ` above ${spec.above}` : ''}, comma-separated`);
    return list;
  }
  const n = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(n)) throw bad('must be a number');
  if (spec.integer && !Number.isInteger(n)) throw bad('must be an integer');
  if (spec.min !== undefined && n < spec.min) throw bad(`must be a number >= ${spec.min}`);
  if (spec.above !== undefined && !(n > spec.above)) throw bad(`must be a number above ${spec.above}`);
  return n;
}
