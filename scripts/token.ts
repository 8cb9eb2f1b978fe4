import { parseOptions } from '../bench/harness/args';
import { parseOrExit } from '../bench/harness/main';
import { Auth, ROLES } from '../gateway/Auth';
import { UserIdSchema, validator } from '../gateway/Schema';

const HELP = `Prints a token signed with the cluster's secret.

Usage: npm run token -- --user ID [--role user|producer|admin] [--ttl SECONDS] [--data DIR]
       npm run token -- --rotate [--data DIR]

  --user ID     the token's subject (a UserId)
  --role R      user (default): publish as itself, read its own timeline; producer: publish for anyone; admin
  --ttl S       lifetime in seconds (default 86400)
  --data DIR    data directory holding the secret (default ./data)
  --rotate      make a new secret; the current one stays valid as the previous one until the next rotation.
                Send SIGHUP to a running cluster so it reads them (kill -HUP <pid>).`;

const OPTIONS = {
  user: { type: 'string' },
  role: { type: 'string', default: 'user', choices: ROLES },
  ttl: { type: 'number', default: 86_400, min: 1, integer: true },
  data: { type: 'string', default: './data' },
  rotate: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const { values } = parseOrExit('token', () => parseOptions(process.argv.slice(2), OPTIONS));
if (values.rotate) {
  Auth.rotate(values.data);
  console.log(`new secret in ${values.data}/secret; the previous one still verifies. Send SIGHUP to the cluster.`);
  process.exit(0);
}
if (values.help || !values.user) {
  console.log(HELP);
  process.exit(values.help ? 0 : 2);
}
try {
  validator(UserIdSchema)(values.user);
  console.log(Auth.fromDataDir(values.data).sign(values.user, values.role, values.ttl));
} catch (err) {
  console.error(`token: ${(err as Error).message}`);
  process.exit(2);
}
