import { parseOrExit } from '../bench/harness/main';
import { importGraph } from './import/importGraph';
import { HELP, parseImportArgs } from './import/options';

/**
 * `npm run import -- --data DIR (--generate [options] | --file graph.jsonl | --edges graph.csv)`: writes a social
 * graph straight into the node LevelDBs of a STOPPED cluster's data dir (scripts/import/: the options, the graph
 * sources and generator, the LevelDB writer and the worker threads). Progress goes to stderr; the last stdout line
 * is one JSON object with the counts and the rate.
 */
async function main(): Promise<void> {
  const opts = parseOrExit('herald import', () => parseImportArgs(process.argv.slice(2)));
  if (!opts) {
    console.log(HELP);
    return;
  }
  const result = await importGraph(opts);
  opts.log(`${result.edges} edges (${result.followers} followers) in ${result.seconds}s: ${result.edges_per_s} edges/s, ${result.keys_per_s} keys/s`);
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`herald import: ${err?.message ?? err}`);
    process.exit(1);
  });
}
