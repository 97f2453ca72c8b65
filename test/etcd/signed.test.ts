// Signed documents on the etcd source, with a real etcd: qconf publish --etcd --sign-key writes
// the document and its signature in one transaction; daemons given the public key serve it
// under the signed serial with proofs; anything else written under the prefix (an unsigned
// publish, a key changed by hand) is refused, the last good document serving on.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TestDaemon, runCli } from '../../testkit/daemons.js';
import { tempDir, writeAtomic } from '../../testkit/fixtures.js';
import { fetchStats } from '../support/raw-client.js';
import { trackEach } from '../support/tracked.js';
import { until } from '../support/until.js';

const PREFIX = '/qconf/signed';
const owned = trackEach();

describe('a signed document in etcd', () => {
  it('is published with its signature in one transaction, served verified under the signed serial; unsigned or tampered writes are refused', async () => {
    const cluster = await owned.etcd();
    const dir = tempDir();
    const key = join(dir, 'publisher.key');
    expect((await runCli(['keygen', '--signing', '--out', key])).code).toBe(0);
    const ds = await Promise.all(
      [0, 1, 2].map(() => new TestDaemon({ noFile: true, args: ['--etcd', cluster.endpoints.join(','), '--etcd-prefix', PREFIX, '--trust-key', `${key}.pub`], waitReady: false }).start()),
    );
    owned.daemons.push(...ds);
    const file = join(dir, 'doc.json');
    const endpoints = ['--etcd', cluster.endpoints.join(','), '--etcd-prefix', PREFIX];
    const flags = ['--peers', ds.map((d) => d.peer).join(','), '--key-file', ds[0].keyFile, '--trust-key', `${key}.pub`, '--coverage', 'all'];

    // Keys in an order etcd will not keep: the signature must be over the document as rebuilt.
    writeAtomic(file, { zeta: 1, cluster: { name: 'c1', master: 'n1' }, alpha: [1, 2, { b: 2, a: 1 }] });
    const p1 = await runCli(['publish', file, ...endpoints, '--sign-key', key]);
    expect(p1.code, p1.stderr).toBe(0);
    const s1 = Number(p1.stdout.trim());
    const w1 = await runCli(['wait', '--serial', String(s1), ...flags, '--timeout', '30000']);
    expect(w1.code, w1.stderr).toBe(0);
    const g1 = await runCli(['get', '/cluster/master', ...flags, '--json']);
    expect(g1.code, g1.stderr).toBe(0);
    expect(JSON.parse(g1.stdout)).toMatchObject({ answer: 'n1', verified: true, serial: s1 });

    // A second signed publish: a higher signed serial, verified.
    writeAtomic(file, { zeta: 1, cluster: { name: 'c1', master: 'n2' }, alpha: [1, 2, { b: 2, a: 1 }] });
    const p2 = await runCli(['publish', file, ...endpoints, '--sign-key', key]);
    expect(p2.code, p2.stderr).toBe(0);
    const s2 = Number(p2.stdout.trim());
    expect(s2).toBeGreaterThan(s1);
    expect((await runCli(['wait', '--serial', String(s2), ...flags, '--timeout', '30000'])).code).toBe(0);
    const list = await runCli(['list', '/alpha/2', ...flags]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toBe('a\nb\n');

    // A key changed by hand under the prefix: the signature no longer holds; refused everywhere.
    const before = await Promise.all(ds.map((d) => fetchStats(d.port)));
    await cluster.etcdctl(['put', `${PREFIX}/cluster/master`, '"intruder"']);
    await until(async () => (await Promise.all(ds.map((d) => fetchStats(d.port)))).every((st, i) => st.refusals > before[i].refusals), 'the tampered replica refused by every daemon');
    for (const d of ds) expect(d.output).toMatch(/"reason":"signature"/);
    const g2 = await runCli(['get', '/cluster/master', ...flags]);
    expect(g2.code, g2.stderr).toBe(0);
    expect(g2.stdout).toBe('n2\n');

    // An unsigned publish over it: refused too; a signed one makes it right again.
    const p3 = await runCli(['publish', file, ...endpoints]);
    expect(p3.code, p3.stderr).toBe(0);
    const p4 = await runCli(['publish', file, ...endpoints, '--sign-key', key]);
    expect(p4.code, p4.stderr).toBe(0);
    const s4 = Number(p4.stdout.trim());
    expect(s4).toBeGreaterThan(s2);
    expect((await runCli(['wait', '--serial', String(s4), ...flags, '--timeout', '30000'])).code).toBe(0);
    expect((await runCli(['get', '/cluster/master', ...flags])).stdout).toBe('n2\n');
  });
});
