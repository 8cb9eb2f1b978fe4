import { parseArgs } from 'node:util';
import { Auth, ROLES, type Role } from '../gateway/Auth';
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

const { values } = parseArgs({
  options: {
    user: { type: 'string' },
    role: { type: 'string', default: 'user' },
    ttl: { type: 'string', default: '86400' },
    data: { type: 'string', default: './data' },
    rotate: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
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
  if (!ROLES.includes(values.role as Role)) throw new Error(`role must be one of ${ROLES.join(', ')}`);
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new Error('ttl must be a positive integer');
  console.log(Auth.fromDataDir(values.data).sign(values.user, values.role as Role, ttl));
} catch (err) {
  console.error(`token: ${(err as Error).message}`);
  process.exit(2);
}
