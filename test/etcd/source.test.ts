// qconfd mirroring a prefix of a real etcd cluster: convergence, staleness, restarts, the
// snapshot cache, compaction, and keys skipped identically on every replica.
import { describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { TestDaemon, runCli } from '../../testkit/daemons.js';
import { tempDir, writeAtomic } from '../../testkit/fixtures.js';
import { EtcdSource } from '../../daemon/source/etcd.js';
import { trackEach } from '../support/tracked.js';
import { untilValue } from '../support/until.js';
import { join } from 'node:path';

const PREFIX = '/qconf/test';
const owned = trackEach();
/** This test's daemons (released after it). */
const daemons = owned.daemons;

function etcdDaemon(endpoints: string[], extra: string[] = [], name?: string): TestDaemon {
  return new TestDaemon({ noFile: true, nodeName: name, args: ['--etcd', endpoints.join(','), '--etcd-prefix', PREFIX, ...extra] });
}

function clientFor(d: TestDaemon): ConfdClient {
  return owned.client([d.peer], { retransmitMs: 100 });
}

async function docOf(d: TestDaemon): Promise<{ serial: number; doc: unknown; stale: boolean }> {
  const c = clientFor(d);
  const [g, p] = await Promise.all([c.get('', { timeoutMs: 2000 }), c.ping({ timeoutMs: 2000 })]);
  c.close();
  return { serial: g.serial, doc: g.answer, stale: (p.answer as { stale?: boolean } | undefined)?.stale ?? true };
}

const cliEnv = (ds: TestDaemon[]) => ({ QCONF_PEERS: ds.map((d) => d.peer).join(','), QCONF_KEY_FILE: ds[0].keyFile });

describe('etcd replica source', () => {
  it('daemons on one etcd converge on publish, change and delete; quorum reads see it', async () => {
    const cluster = await owned.etcd();
    daemons.push(...(await Promise.all([0, 1, 2].map(() => etcdDaemon(cluster.endpoints).start()))));
    const dir = tempDir();
    const file = join(dir, 'doc.json');
    writeAtomic(file, { cluster: { master: 'n1', name: 'c1' }, nodes: { n1: { ip: '10.0.0.1' }, n2: { ip: '10.0.0.2' } } });
    const pub = await runCli(['publish', file, '--etcd', cluster.endpoints.join(','), '--etcd-prefix', PREFIX]);
    expect(pub.code, pub.stderr).toBe(0);
    const serial = Number(pub.stdout.trim());
    expect(serial).toBeGreaterThan(0);
    const w = await runCli(['wait', '--serial', String(serial), '--timeout', '30000', '--coverage', 'all'], cliEnv(daemons));
    expect(w.code, w.stderr).toBe(0);
    const g = await runCli(['get', '/nodes/n2/ip'], cliEnv(daemons));
    expect(g.stdout.trim()).toBe('10.0.0.2');

    // A change and a delete made directly with etcdctl.
    await cluster.etcdctl(['put', `${PREFIX}/cluster/master`, '"n2"']);
    await cluster.etcdctl(['del', `${PREFIX}/nodes/n1/ip`]);
    const rev = await cluster.revision();
    const states = await Promise.all(daemons.map((d) => untilValue(() => docOf(d), (s) => s.serial === rev, `serial ${rev} on ${d.nodeName}`)));
    for (const s of states) expect(s.doc).toEqual({ cluster: { master: 'n2', name: 'c1' }, nodes: { n2: { ip: '10.0.0.2' } } });
    expect(new Set(states.map((s) => JSON.stringify(s))).size).toBe(1);
    const m = await runCli(['get', '/cluster/master', '--strict'], cliEnv(daemons));
    expect(m.stdout.trim()).toBe('n2');

    // Publishing again deletes what vanished, in one transaction (one new serial).
    writeAtomic(file, { cluster: { master: 'n3' } });
    const pub2 = await runCli(['publish', file, '--etcd', cluster.endpoints[0], '--etcd-prefix', PREFIX]);
    expect(pub2.code, pub2.stderr).toBe(0);
    const serial2 = Number(pub2.stdout.trim());
    expect(serial2).toBe(await cluster.revision());
    const w2 = await runCli(['wait', '--serial', String(serial2), '--timeout', '30000'], cliEnv(daemons));
    expect(w2.code, w2.stderr).toBe(0);
    const whole = await runCli(['get', '', '--strict', '--coverage', 'all'], cliEnv(daemons));
    expect(JSON.parse(whole.stdout)).toEqual({ cluster: { master: 'n3' } });
  });

  it('a daemon started later reports the same serial for the same document', async () => {
    const cluster = await owned.etcd();
    await cluster.etcdctl(['put', `${PREFIX}/a`, '1']);
    await cluster.etcdctl(['put', `${PREFIX}/b`, '2']);
    await cluster.etcdctl(['del', `${PREFIX}/b`]);
    const lastChange = await cluster.revision();
    await cluster.etcdctl(['put', '/elsewhere/x', '1']); // outside the prefix: not a change
    const early = await etcdDaemon(cluster.endpoints).start();
    daemons.push(early);
    await cluster.etcdctl(['put', '/elsewhere/y', '2']);
    const late = await etcdDaemon(cluster.endpoints).start();
    daemons.push(late);
    for (const d of daemons) {
      const s = await untilValue(() => docOf(d), (v) => v.serial === lastChange, `serial ${lastChange}`);
      expect(s.doc).toEqual({ a: 1 });
    }
  });

  it('keeps answering while etcd is down (stale), then catches up on changes made meanwhile', async () => {
    const cluster = await owned.etcd({ clusterSize: 3 });
    await cluster.etcdctl(['put', `${PREFIX}/v`, '"before"'], 1);
    // The daemons know only member 0; the other members stay up and take writes.
    daemons.push(...(await Promise.all([0, 1].map(() => etcdDaemon(cluster.memberEndpoints(0)).start()))));
    for (const d of daemons) await untilValue(() => docOf(d), (s) => (s.doc as { v?: string } | undefined)?.v === 'before' && !s.stale, 'initial read');
    await cluster.stopMember(0);
    for (const d of daemons) {
      const s = await untilValue(() => docOf(d), (v) => v.stale, 'stale after etcd stopped');
      expect(s.doc).toEqual({ v: 'before' });
    }
    await cluster.waitHealthy(1);
    await cluster.etcdctl(['put', `${PREFIX}/v`, '"during"'], 1);
    await cluster.etcdctl(['put', `${PREFIX}/w`, '7'], 2);
    const rev = await cluster.revision(1);
    await cluster.startMember(0);
    for (const d of daemons) {
      const s = await untilValue(() => docOf(d), (v) => v.serial === rev && !v.stale, `catch-up to ${rev}`, 60_000);
      expect(s.doc).toEqual({ v: 'during', w: 7 });
    }
  });

  it('a daemon restarted while etcd is down serves its cached snapshot, marked stale', async () => {
    const cluster = await owned.etcd();
    await cluster.etcdctl(['put', `${PREFIX}/cluster/master`, '"n1"']);
    const cacheDir = tempDir();
    const d = etcdDaemon(cluster.endpoints, ['--cache-dir', cacheDir]);
    daemons.push(d);
    await d.start();
    const rev = await cluster.revision();
    const first = await untilValue(() => docOf(d), (s) => s.serial === rev, 'initial read');
    await d.waitForLog((l) => l.event === 'cache_written', 30_000);
    await d.stop();
    await cluster.stopMember(0);
    const again = etcdDaemon(cluster.endpoints, ['--cache-dir', cacheDir], d.nodeName);
    daemons.push(again);
    await again.start();
    const s = await docOf(again);
    expect(s.doc).toEqual(first.doc);
    expect(s.serial).toBe(first.serial);
    expect(s.stale).toBe(true);
    // Without a cache it would not be ready.
    const bare = etcdDaemon(cluster.endpoints);
    daemons.push(bare);
    await bare.start();
    const c = clientFor(bare);
    const r = await c.get('/cluster/master', { timeoutMs: 2000 });
    expect(r.error?.code).toBe('not_ready');
  });

  it('re-reads and converges after the history it needs was compacted', async () => {
    const cluster = await owned.etcd({ clusterSize: 3 });
    await cluster.etcdctl(['put', `${PREFIX}/k`, '1'], 1);
    const d = etcdDaemon(cluster.memberEndpoints(0));
    daemons.push(d);
    await d.start();
    await untilValue(() => docOf(d), (s) => (s.doc as { k?: number } | undefined)?.k === 1, 'initial read');
    await cluster.stopMember(0);
    await cluster.waitHealthy(1);
    for (let i = 2; i <= 5; i++) await cluster.etcdctl(['put', `${PREFIX}/k`, String(i)], 1);
    await cluster.etcdctl(['del', `${PREFIX}/k`], 1);
    await cluster.etcdctl(['put', `${PREFIX}/z`, '"new"'], 1);
    const rev = await cluster.revision(1);
    await cluster.compact(rev);
    await cluster.startMember(0);
    const s = await untilValue(() => docOf(d), (v) => !v.stale && JSON.stringify(v.doc) === JSON.stringify({ z: 'new' }), 'converged after compaction', 60_000);
    expect(s.serial).toBeGreaterThanOrEqual(rev);
  });

  it('skips bad values and leaf/parent conflicts identically on every replica, and counts them', async () => {
    const cluster = await owned.etcd();
    await cluster.etcdctl(['put', `${PREFIX}/good`, '{"x":1}']);
    await cluster.etcdctl(['put', `${PREFIX}/bad`, 'not json']);
    await cluster.etcdctl(['put', `${PREFIX}/a`, '1']);
    await cluster.etcdctl(['put', `${PREFIX}/a/b`, '2']);
    const rev = await cluster.revision();
    daemons.push(...(await Promise.all([0, 1, 2].map(() => etcdDaemon(cluster.endpoints).start()))));
    const states = await Promise.all(daemons.map((d) => untilValue(() => docOf(d), (s) => s.serial === rev, 'read')));
    for (const s of states) expect(s.doc).toEqual({ a: { b: 2 }, good: { x: 1 } });
    for (const d of daemons) {
      const c = clientFor(d);
      const st = await c.query({ op: 'stats' }, { timeoutMs: 2000 });
      expect((st.answer as { skippedKeys?: number }).skippedKeys).toBe(2);
      const line = await d.waitForLog((l) => l.event === 'keys_skipped');
      expect(line.keys).toEqual([
        { key: `${PREFIX}/a`, reason: 'leaf_parent_conflict' },
        { key: `${PREFIX}/bad`, reason: 'not_json' },
      ]);
    }
  });

  it('skips a key of 10,000 segments (too_deep) watched or read, stays alive and serves the other keys', async () => {
    const cluster = await owned.etcd();
    const deep = (tag: string) => `${PREFIX}/${tag}/` + Array.from({ length: 10_000 }, () => 'd').join('/');
    await cluster.etcdctl(['put', `${PREFIX}/good`, '{"x":1}']);
    const rev = await cluster.revision();
    const d = await etcdDaemon(cluster.endpoints).start();
    daemons.push(d);
    await untilValue(() => docOf(d), (s) => s.serial === rev && !s.stale, 'first read');
    // Watched: the flush after the event builds the document, the key skipped.
    await cluster.etcdctl(['put', deep('watched'), '2']);
    await cluster.etcdctl(['put', `${PREFIX}/later`, '"y"']);
    const rev2 = await cluster.revision();
    const s = await untilValue(() => docOf(d), (v) => v.serial === rev2, 'watched change');
    expect(s.doc).toEqual({ good: { x: 1 }, later: 'y' });
    const expectSkipped = async (t: TestDaemon, n: number) => {
      const st = await clientFor(t).query({ op: 'stats' }, { timeoutMs: 2000 });
      expect((st.answer as { skippedKeys?: number }).skippedKeys).toBe(n);
      const line = await t.waitForLog((l) => l.event === 'keys_skipped' && (l.keys as unknown[]).length === n);
      for (const k of line.keys as Array<{ key: string; reason: string }>) {
        expect(k.reason).toBe('too_deep');
        expect(k.key).toMatch(/… \(\d+ characters\)$/);
      }
      expect(t.child.exitCode).toBeNull();
      expect(t.logLines().filter((l) => l.event === 'internal_error')).toEqual([]);
    };
    await expectSkipped(d, 1);
    // Read: a daemon started now finds two such keys at once.
    await cluster.etcdctl(['put', deep('read'), '1']);
    const rev3 = await cluster.revision();
    const later = await etcdDaemon(cluster.endpoints).start();
    daemons.push(later);
    for (const t of [d, later]) expect(await untilValue(() => docOf(t), (v) => v.serial === rev3 && !v.stale, 'read')).toMatchObject({ doc: { good: { x: 1 }, later: 'y' } });
    await expectSkipped(later, 2);
    await expectSkipped(d, 2);
  });

  it('refuses a replica larger than --max-document-bytes (too_large); the last good one keeps serving', async () => {
    const cluster = await owned.etcd();
    await cluster.etcdctl(['put', `${PREFIX}/a`, '1']);
    const d = await etcdDaemon(cluster.endpoints, ['--max-document-bytes', '2000']).start();
    daemons.push(d);
    const rev = await cluster.revision();
    await untilValue(() => docOf(d), (s) => s.serial === rev && !s.stale, 'first read');
    const mark = d.output.length;
    await cluster.etcdctl(['put', `${PREFIX}/big`, JSON.stringify('x'.repeat(3000))]);
    const line = await d.waitForLog((l) => l.event === 'refused' && l.reason === 'too_large', 30_000, mark);
    expect(line).toMatchObject({ source: 'etcd', servingSerial: rev });
    expect(String(line.msg)).toMatch(/larger than 2000 bytes \(--max-document-bytes\)/);
    expect(await docOf(d)).toMatchObject({ serial: rev, doc: { a: 1 } });
    await cluster.etcdctl(['del', `${PREFIX}/big`]);
    const rev2 = await cluster.revision();
    expect(await untilValue(() => docOf(d), (s) => s.serial === rev2, 'back under the limit')).toMatchObject({ doc: { a: 1 } });
  });

  it('an error in a callback is reported, never thrown out of it; the source carries on', async () => {
    const cluster = await owned.etcd();
    await cluster.etcdctl(['put', `${PREFIX}/a`, '1']);
    const snaps: Array<{ serial: number; doc: unknown }> = [];
    const internal: string[] = [];
    let failNext = false;
    const src = new EtcdSource({
      endpoints: cluster.endpoints,
      prefix: PREFIX,
      batchMs: 5,
      onSnapshot: (snap) => {
        if (failNext) {
          failNext = false;
          throw new TypeError('a bug in a consumer');
        }
        snaps.push({ serial: snap.serial, doc: snap.doc });
      },
      onSkipped: () => undefined,
      onRefusal: () => undefined,
      onState: () => undefined,
      onError: () => undefined,
      onInternalError: (where, err) => internal.push(`${where}: ${(err as Error).name}`),
    });
    try {
      await src.start();
      expect(snaps.at(-1)?.doc).toEqual({ a: 1 });
      failNext = true;
      await cluster.etcdctl(['put', `${PREFIX}/b`, '2']);
      await untilValue(async () => internal.length, (n) => n > 0, 'the error reported');
      expect(internal).toEqual(['flush: TypeError']);
      await cluster.etcdctl(['put', `${PREFIX}/c`, '3']);
      const rev = await cluster.revision();
      await untilValue(async () => snaps.at(-1)?.serial, (v) => v === rev, 'the next change served');
      expect(snaps.at(-1)?.doc).toEqual({ a: 1, b: 2, c: 3 });
    } finally {
      src.stop();
    }
  });

  it('refuses bad etcd flags with a clear message and exit 2', async () => {
    const d = new TestDaemon({ noFile: true, waitReady: false, args: ['--etcd', 'localhost:2379', '--etcd-prefix', PREFIX] });
    daemons.push(d);
    await d.start();
    const r = await d.exited;
    expect(r.code).toBe(2);
    expect(d.output).toMatch(/not an http:\/\/ or https:\/\/ endpoint/);
    const both = new TestDaemon({ doc: { serial_no: 1 }, waitReady: false, args: ['--etcd', 'http://127.0.0.1:1', '--etcd-prefix', PREFIX] });
    daemons.push(both);
    await both.start();
    expect((await both.exited).code).toBe(2);
    expect(both.output).toMatch(/--file and --etcd/);
  });
});
