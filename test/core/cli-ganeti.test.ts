// `qconf ganeti` on a Ganeti node needs no flags, as Ganeti's own client: the key from
// /var/lib/ganeti/hmac.key and the peers from ssconf_master_candidates_ips (under
// GANETI_ROOTDIR here), unless a flag or variable says otherwise.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, runCli } from '../../testkit/daemons.js';
import { freePort, tempDir } from '../../testkit/fixtures.js';
import { ROOT } from '../../testkit/paths.js';

let d: TestDaemon;
let root: string;
let lib: string;

beforeAll(async () => {
  root = tempDir('qconf-ganeti-node-');
  lib = join(root, 'var/lib/ganeti');
  mkdirSync(lib, { recursive: true });
  // A Ganeti-style key: hex digits and a newline (read raw, newline included).
  writeFileSync(join(lib, 'hmac.key'), randomBytes(20).toString('hex') + '\n', { mode: 0o400 });
  writeFileSync(join(lib, 'ssconf_master_candidates_ips'), '127.0.0.1\n');
  d = await new TestDaemon({ file: join(ROOT, 'examples/ganeti/config.data'), args: ['--ganeti-key-file', join(lib, 'hmac.key')] }).start();
});

afterAll(async () => {
  await d.stop('SIGKILL');
});

/** `qconf ganeti …` on this "node": nothing set but the root and the daemon's port. */
const onNode = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['ganeti', ...args], { GANETI_ROOTDIR: root, QCONF_PORT: String(d.port), QCONF_GANETI_KEY_FILE: '', ...env });

describe('qconf ganeti on a Ganeti node', () => {
  it("needs no flags: Ganeti's hmac.key and master candidates", async () => {
    const r = await onNode(['cluster-master']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('node1.example.com\n');
    const q = await onNode(['config-query', '/cluster/cluster_name']);
    expect([q.code, q.stdout], q.stderr).toEqual([0, 'cluster.name.example.com\n']);
  });

  it('a flag or variable wins over what the node says', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const viaEnv = await onNode(['cluster-master', '--timeout', '1000'], { QCONF_PEERS: dead });
    expect(viaEnv.code).toBe(4);
    expect(viaEnv.stderr).toContain(dead);
    const viaFlag = await onNode(['cluster-master', '--timeout', '1000', '--peers', dead]);
    expect(viaFlag.code).toBe(4);
    const otherKey = join(tempDir(), 'other.key');
    writeFileSync(otherKey, 'another key 0123456789\n', { mode: 0o600 });
    // Another key: the daemon stays silent.
    expect((await onNode(['cluster-master', '--timeout', '1000', '--key-file', otherKey])).code).toBe(4);
    expect((await onNode(['cluster-master', '--timeout', '1000'], { QCONF_GANETI_KEY_FILE: otherKey })).code).toBe(4);
  });

  it('off a Ganeti node, says which file is missing', async () => {
    const bare = tempDir('qconf-not-ganeti-');
    const r = await runCli(['ganeti', 'cluster-master'], { GANETI_ROOTDIR: bare, QCONF_GANETI_KEY_FILE: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(bare, 'var/lib/ganeti')}/ssconf_master_candidates_ips does not exist`);
    const noKey = await runCli(['ganeti', 'cluster-master', '--peers', d.peer], { GANETI_ROOTDIR: bare, QCONF_GANETI_KEY_FILE: '' });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain(`${join(bare, 'var/lib/ganeti')}/hmac.key does not exist`);
    rmSync(bare, { recursive: true, force: true });
  });
});
