import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HeraldConfig } from '../../core/config';
import { ClusterProcess } from '../../scripts/ClusterProcess';
import { Auth } from '../../gateway/Auth';
import { ShardTable } from '../../cluster/ShardTable';
import { shardOf } from '../../storage/Keyspace';

export { ClusterProcess };

/** A temp data dir and helpers bound to it: tokens signed with the cluster's secret, owners of users. */
export class TestData {
  readonly dir = mkdtempSync(join(tmpdir(), 'herald-test-'));

  token(user: string, role: 'user' | 'producer' | 'admin' = 'user', ttlSec = 3600): string {
    return Auth.fromDataDir(this.dir).sign(user, role, ttlSec);
  }

  ownerOf(user: string): string {
    const table = ShardTable.load(join(this.dir, 'cluster.json'))!;
    return table.ownerOf(shardOf(user, table.shardCount));
  }

  /** `count` user ids (prefix + n) that live on pairwise different nodes. */
  usersOnDistinctNodes(prefix: string, count: number): string[] {
    const byNode = new Map<string, string>();
    for (let i = 0; byNode.size < count && i < 10_000; i++) {
      const u = `${prefix}${i}`;
      const node = this.ownerOf(u);
      if (!byNode.has(node)) byNode.set(node, u);
    }
    return [...byNode.values()];
  }

  /** Calls the admin API of the cluster at `http` with an admin token: status and JSON body. */
  async admin(http: string, method: string, path: string, body?: object): Promise<{ status: number; body: any }> {
    const res = await fetch(http + path, {
      method,
      headers: { authorization: `Bearer ${this.token('ops', 'admin')}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  /** Starts a cluster on this data dir; `config`, typed against the schema, goes in a config file it is given. */
  startCluster(extra: string[] = [], config?: Partial<HeraldConfig>): Promise<ClusterProcess> {
    const file = join(this.dir, 'test-config.json');
    if (config) writeFileSync(file, JSON.stringify(config));
    return ClusterProcess.start(['--data', this.dir, '--port', '0', ...(config ? ['--config', file] : []), ...extra]);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
