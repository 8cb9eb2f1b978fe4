import { OptionError } from './args';

/**
 * What every benchmark's `main` does around its run: progress lines on stderr, the one JSON line with every figure
 * last on stdout, and the exit code (0 done, 2 a bad command line, 1 a failure).
 */

/** A benchmark's entry: its command-line arguments in, its figures written out. */
export type BenchMain = (args: string[]) => Promise<void>;

/** Progress on stderr, each line prefixed `[name]`: stdout is kept for the result line. */
export function progressLog(name: string): (line: string) => void {
  return (line) => process.stderr.write(`[${name}] ${line}\n`);
}

/** Writes the result line: one JSON object, the last line on stdout (what docs/benchmarks.md quotes). */
export function printResult(line: object): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

/**
 * Runs `main` and exits: 0 when it resolves, 2 on an OptionError (printed with its usage), 1 on anything else
 * (printed with `failed` before the stack).
 */
export function runMain(main: BenchMain, args = process.argv.slice(2), failed = 'bench failed'): void {
  main(args).then(
    () => process.exit(0),
    (err) => {
      if (err instanceof OptionError) {
        console.error(err.usage ? `${err.message}\n\n${err.usage}` : err.message);
        process.exit(2);
      }
      console.error(`${failed}: ${err?.stack ?? err}`);
      process.exit(1);
    },
  );
}

/**
 * A command line tool's options: `parse()`'s result, or, on an OptionError, `<name>: <message>` (and the usage it
 * carries) on stderr and exit 2, so that the tool itself only ever sees valid options.
 */
export function parseOrExit<T>(name: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof OptionError)) throw err;
    console.error(`${name}: ${err.message}${err.usage ? `\n\n${err.usage}` : ''}`);
    process.exit(2);
  }
}

/** `runMain` when `module` is the entry point (`node dist/bench/<name>.js [options]`), nothing when it is imported. */
export function runIfEntry(module: NodeModule, main: BenchMain): void {
  if (require.main === module) runMain(main);
}
