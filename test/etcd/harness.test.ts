/**
 * Proves the real-etcd harness works (start, stop, restart with the same data dir and ports,
 * writes through a second member while one is down, compaction), and holds the etcd3 client
 * spike: range read -> header revision, watch from revision + 1, and what surfaces when a
 * watch (or a read) asks for a compacted revision.
 *
 * No mocks. If etcd is not installed these tests FAIL (they are not skipped): run
 * `bash test/etcd/install-etcd.sh`.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeEach, describe, expect, test } from 'vitest';
import { Etcd3, type IKeyValue, type IWatchResponse, type Watcher } from 'etcd3';
import { documentToKvs, etcdKeyPrefix, kvsToDocument, serialFromRevision } from '../../shared/etcd-mapping.js';
import { etcdBinary, etcdctlBinary, INSTALL_HINT } from '../../testkit/etcd/member.js';
import { startEtcd, type EtcdCluster } from '../../testkit/etcd/cluster.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually<T>(what: string, fn: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${timeoutMs} ms: ${String(last)}`);
    await sleep(100);
  }
}

/** The revision etcdctl reports for a write (`put -w json` gives the response header). */
async function putRev(c: EtcdCluster, key: string, value: string, member?: number): Promise<number> {
  const out = await c.etcdctl(['put', key, value, '-w', 'json'], member);
  return Number((JSON.parse(out) as { header: { revision: number } }).header.revision);
}

/**
 * Starts the cluster on first use, inside a test (not in beforeAll), so that a missing etcd
 * makes EVERY test fail with the install hint instead of being reported as skipped.
 */
function lazyCluster(label: string, opts: Parameters<typeof startEtcd>[0]): { get: () => Promise<EtcdCluster>; stop: () => Promise<void> } {
  let p: Promise<EtcdCluster> | undefined;
  return {
    get: () => {
      p ??= (async () => {
        const t0 = Date.now();
        const c = await startEtcd(opts);
        console.log(`[timing] ${label} healthy in ${Date.now() - t0} ms`);
        return c;
      })();
      return p;
    },
    stop: async () => {
      const c = await p?.catch(() => undefined);
      await c?.stop();
    },
  };
}

test('etcd and etcdctl are installed (otherwise: bash test/etcd/install-etcd.sh)', () => {
  let etcd = '';
  let etcdctl = '';
  try {
    etcd = etcdBinary();
    etcdctl = etcdctlBinary();
  } catch (e) {
    throw new Error(`real etcd is required for test/etcd: ${(e as Error).message}`);
  }
  expect(existsSync(etcd), INSTALL_HINT).toBe(true);
  expect(existsSync(etcdctl), INSTALL_HINT).toBe(true);
});

describe('single member', () => {
  const cluster = lazyCluster('1-member cluster', { name: 'single' });
  let c: EtcdCluster;
  beforeEach(async () => {
    c = await cluster.get();
  });
  afterAll(() => cluster.stop());

  test('serves reads and writes on its loopback client URL', async () => {
    expect(c.endpoints).toHaveLength(1);
    expect(c.endpoints[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(c.memberEndpoints(0)).toEqual(c.endpoints);
    const r1 = await putRev(c, '/h/a', 'one');
    expect(await c.etcdctl(['get', '/h/a', '--print-value-only'])).toBe('one\n');
    expect(await c.revision()).toBe(r1);
    const r2 = await putRev(c, '/h/a', 'two');
    expect(r2).toBe(r1 + 1);
  });

  test('compaction makes older revisions unreadable', async () => {
    const r1 = await putRev(c, '/h/compact', 'v1');
    const r2 = await putRev(c, '/h/compact', 'v2');
    expect(await c.etcdctl(['get', '/h/compact', '--rev', String(r1), '--print-value-only'])).toBe('v1\n');
    await c.compact(r2);
    await expect(c.etcdctl(['get', '/h/compact', '--rev', String(r1)])).rejects.toThrow(/required revision has been compacted/);
    expect(await c.etcdctl(['get', '/h/compact', '--rev', String(r2), '--print-value-only'])).toBe('v2\n');
    // Compacting again at (or below) the compacted revision is an error too.
    await expect(c.compact(r1)).rejects.toThrow(/required revision has been compacted/);
  });

  test('restart keeps the data dir and the port; stop() kills the process and removes the temp dir', async () => {
    const pid = c.members[0].pid!;
    const url = c.memberEndpoints(0)[0];
    await putRev(c, '/h/persist', 'kept');
    await c.stopMember(0, { signal: 'SIGKILL' });
    expect(isAlive(pid)).toBe(false);
    expect(c.members[0].running).toBe(false);
    await expect(c.etcdctl(['get', '/h/persist', '--dial-timeout=1s', '--command-timeout=2s'])).rejects.toThrow();
    const t0 = Date.now();
    await c.startMember(0);
    console.log(`[timing] 1-member restart healthy in ${Date.now() - t0} ms`);
    expect(c.memberEndpoints(0)).toEqual([url]);
    expect(c.members[0].pid).not.toBe(pid);
    expect(await c.etcdctl(['get', '/h/persist', '--print-value-only'])).toBe('kept\n');

    const pid2 = c.members[0].pid!;
    const dir = c.baseDir;
    expect(existsSync(dir)).toBe(true);
    await c.stop();
    expect(isAlive(pid2)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('three members', () => {
  const cluster = lazyCluster('3-member cluster', { name: 'trio', clusterSize: 3 });
  let c: EtcdCluster;
  beforeEach(async () => {
    c = await cluster.get();
  });
  afterAll(() => cluster.stop());

  test('distinct loopback ports per member, writes replicate', async () => {
    const urls = [0, 1, 2].flatMap((i) => c.memberEndpoints(i));
    expect(new Set(urls).size).toBe(3);
    expect(new Set(c.members.map((m) => m.peerUrl)).size).toBe(3);
    await putRev(c, '/t/x', '1', 0);
    expect(await c.etcdctl(['get', '/t/x', '--print-value-only'], 2)).toBe('1\n');
    const members = JSON.parse(await c.etcdctl(['member', 'list', '-w', 'json'], 1)) as { members: unknown[] };
    expect(members.members).toHaveLength(3);
  });

  test('changes made through another member while one is stopped reach it after restart', async () => {
    const pid0 = c.members[0].pid!;
    const url0 = c.memberEndpoints(0)[0];
    const t0 = Date.now();
    await c.stopMember(0); // graceful SIGTERM: a leader hands over leadership
    console.log(`[timing] member 0 stopped (SIGTERM) in ${Date.now() - t0} ms`);
    expect(isAlive(pid0)).toBe(false);
    await expect(c.etcdctl(['get', '/t/x', '--dial-timeout=1s', '--command-timeout=2s'], 0)).rejects.toThrow();

    // Quorum (2 of 3) remains: write and delete through member 1.
    const rWrite = await eventually('write through member 1', () => putRev(c, '/t/while-down', 'yes', 1));
    await c.etcdctl(['del', '/t/x'], 1);

    const t1 = Date.now();
    await c.startMember(0);
    console.log(`[timing] member 0 restarted (same data dir/ports) healthy in ${Date.now() - t1} ms`);
    expect(c.memberEndpoints(0)).toEqual([url0]);
    // A serializable read answers from member 0's local store: it has caught up.
    await eventually('member 0 caught up', async () => {
      expect(await c.etcdctl(['get', '/t/while-down', '--consistency=s', '--print-value-only'], 0)).toBe('yes\n');
      expect(await c.etcdctl(['get', '/t/x', '--consistency=s'], 0)).toBe(''); // deleted while down
    });
    expect(await c.revision(0)).toBeGreaterThanOrEqual(rWrite + 1);
  });

  test('a SIGKILLed member (possibly the leader) comes back too', async () => {
    const status = JSON.parse(await c.etcdctl(['endpoint', 'status', '-w', 'json'])) as Array<{
      Endpoint: string;
      Status: { leader: number | string; header: { member_id: number | string } };
    }>;
    const leader = status.find((s) => String(s.Status.leader) === String(s.Status.header.member_id));
    const li = leader ? c.endpoints.indexOf(leader.Endpoint) : 2;
    const other = (li + 1) % 3;
    const t0 = Date.now();
    await c.stopMember(li, { signal: 'SIGKILL' });
    // Wait for the survivors to elect a leader first: a write sent to a follower that still
    // believes in the dead leader blocks for etcd's request timeout (5 s + 2 x election timeout).
    await c.waitHealthy();
    console.log(`[timing] survivors healthy ${Date.now() - t0} ms after SIGKILLing member ${li} (was leader: ${!!leader})`);
    await eventually('write after member loss', () => putRev(c, '/t/after-kill', 'ok', other), 20_000);
    console.log(`[timing] write accepted ${Date.now() - t0} ms after SIGKILLing member ${li}`);
    await c.startMember(li);
    await eventually('restarted member caught up', async () => {
      expect(await c.etcdctl(['get', '/t/after-kill', '--consistency=s', '--print-value-only'], li)).toBe('ok\n');
    });
  });
});

describe('etcd3 client spike (range read, watch from header revision + 1, compaction)', () => {
  const cluster = lazyCluster('spike cluster', { name: 'spike' });
  let c: EtcdCluster;
  let client: Etcd3;
  const P = '/spike/';
  beforeEach(async () => {
    c = await cluster.get();
    if (!client) client = new Etcd3({ hosts: c.endpoints, dialTimeout: 5_000 });
  });
  afterAll(async () => {
    client?.close();
    await cluster.stop();
  });

  test('range read returns the header revision; a watch from revision + 1 sees every later put/delete', async () => {
    await client.put(`${P}a`).value('1');
    await client.put(`${P}b`).value('2');
    await client.put('/elsewhere').value('x'); // outside the prefix, still bumps the store revision

    const res = await client.getAll().prefix(P).exec();
    const rev = Number(res.header.revision);
    expect(typeof res.header.revision).toBe('string'); // int64 -> decimal string
    expect(rev).toBe(await c.revision());
    expect(res.kvs.map((kv) => kv.key.toString())).toEqual([`${P}a`, `${P}b`]);
    expect(res.kvs.map((kv) => kv.value.toString())).toEqual(['1', '2']);
    expect(Number(res.kvs[1].mod_revision)).toBeLessThan(rev); // /elsewhere came later
    // The convenience form loses the header: getAll().prefix(P).strings() -> { key: value }.
    expect(await client.getAll().prefix(P).strings()).toEqual({ [`${P}a`]: '1', [`${P}b`]: '2' });

    // A write that lands between the read and the watch creation is NOT lost.
    const gap = await client.put(`${P}gap`).value('g').exec();

    const events: Array<{ type: string; key: string; value: string; mod: number }> = [];
    const responses: IWatchResponse[] = [];
    const watcher = await client.watch().prefix(P).startRevision(String(rev + 1)).create();
    watcher.on('data', (r) => responses.push(r));
    watcher.on('put', (kv: IKeyValue) => events.push({ type: 'put', key: kv.key.toString(), value: kv.value.toString(), mod: Number(kv.mod_revision) }));
    watcher.on('delete', (kv: IKeyValue) => events.push({ type: 'delete', key: kv.key.toString(), value: kv.value.toString(), mod: Number(kv.mod_revision) }));

    await client.put('/elsewhere').value('y'); // not delivered (outside prefix)
    const put = await client.put(`${P}c`).value('3').exec();
    const del = await client.delete().key(`${P}a`).exec();
    await eventually('3 events', async () => expect(events).toHaveLength(3), 10_000);

    expect(events).toEqual([
      { type: 'put', key: `${P}gap`, value: 'g', mod: Number(gap.header.revision) },
      { type: 'put', key: `${P}c`, value: '3', mod: Number(put.header.revision) },
      // delete events carry the key and the DELETION revision as mod_revision; value is empty
      { type: 'delete', key: `${P}a`, value: '', mod: Number(del.header.revision) },
    ]);
    // lastRevision() is typed number|null but returns the NEXT revision to watch, as a string.
    expect(String(watcher.lastRevision())).toBe(String(Number(del.header.revision) + 1));
    for (const r of responses) expect(Number(r.header.revision)).toBeGreaterThanOrEqual(Number(r.events.at(-1)?.kv.mod_revision ?? 0));
    await watcher.cancel();
  });

  test('transactions: client.if(...).then(...).else(...).commit()', async () => {
    const ok = await client.if(`${P}txn`, 'Create', '==', 0).then(client.put(`${P}txn`).value('first')).commit();
    expect(ok.succeeded).toBe(true);
    const again = await client
      .if(`${P}txn`, 'Create', '==', 0)
      .then(client.put(`${P}txn`).value('second'))
      .else(client.get(`${P}txn`))
      .commit();
    expect(again.succeeded).toBe(false);
    expect(again.responses[0].response_range?.kvs[0].value.toString()).toBe('first');
    // Multi-op publish-style txn: puts and deletes at one revision.
    const before = Number((await client.getAll().prefix(P).exec()).header.revision);
    const t = await client
      .if(`${P}txn`, 'Value', '==', 'first')
      .then(client.put(`${P}x/y`).value('1'), client.put(`${P}x/z`).value('2'), client.delete().key(`${P}txn`))
      .commit();
    expect(t.succeeded).toBe(true);
    expect(Number(t.header.revision)).toBe(before + 1); // one revision for the whole txn

    // Publish guard via the raw KV client: a Compare over a key RANGE (range_end) succeeds only
    // if no key in the range was modified/created after the read revision H. (The builder form
    // client.if(key, ...) takes a single key only.) Deletions are not seen by such a compare.
    const rangeEnd = Buffer.from('/spike0'); // prefix end of '/spike/' ('/' + 1 = '0')
    const H = Number((await client.getAll().prefix(P).exec()).header.revision);
    const guard = (h: number) => ({ key: Buffer.from(P), range_end: rangeEnd, target: 'Mod' as const, result: 'Less' as const, mod_revision: h + 1 });
    const put = (k: string, v: string) => ({ request_put: { key: Buffer.from(k), value: Buffer.from(v) } });
    const ok1 = await client.kv.txn({ compare: [guard(H)], success: [put(`${P}x/y`, '10')] });
    expect(ok1.succeeded).toBe(true);
    const stale = await client.kv.txn({ compare: [guard(H)], success: [put(`${P}x/y`, '11')] });
    expect(stale.succeeded).toBe(false); // x/y changed after H

    // Deleting the prefix and putting keys under it in ONE txn is rejected by etcd.
    const overlap = await client.kv
      .txn({ success: [{ request_delete_range: { key: Buffer.from(P), range_end: rangeEnd } }, put(`${P}x/y`, '12')] })
      .then(() => 'ok', (e: Error) => `${e.constructor.name}: ${e.message}`);
    console.log(`[spike] delete-prefix + put in one txn -> ${overlap}`);
    expect(overlap).toMatch(/duplicate key given in txn request/);

    // STM: single-key reads/writes only (no prefix ranges), retried on conflict.
    const n = await client.stm({ retries: 3 }).transact(async (tx) => {
      const v = Number(await tx.get(`${P}x/z`).string());
      await tx.put(`${P}x/z`).value(String(v + 1));
      return v + 1;
    });
    expect(n).toBe(3);
    expect(await client.get(`${P}x/z`).string()).toBe('3');
  });

  test('mapping end to end: documentToKvs -> one etcd txn -> prefix range read -> kvsToDocument', async () => {
    const prefix = '/spike-map/app';
    const doc = {
      db: { host: 'db1', port: 5432 },
      'a/b': { '~x': [1, { z: 1, y: null }] },
      empty: {},
      odd: { '': 1, '\uD800': 2 }, // unencodable names: stored whole, survives UTF-8
      uni: { 'é😀': 'ü' },
    };
    const kvs = documentToKvs(prefix, doc);
    const put = await client.kv.txn({
      success: [...kvs].map(([key, value]) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } })),
    });
    const res = await client.getAll().prefix(etcdKeyPrefix(prefix)).exec();
    const back = kvsToDocument(prefix, res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() })));
    expect(back.skipped).toEqual([]);
    expect(back.doc).toEqual(doc);
    expect(serialFromRevision(res.header.revision)).toBe(Number(put.header.revision));
  });

  test('ErrCompacted: what the etcd3 client surfaces for reads and watches below the compact revision', async () => {
    const r0 = Number((await client.put(`${P}cmp`).value('0').exec()).header.revision);
    await client.put(`${P}cmp`).value('1');
    const r2 = Number((await client.put(`${P}cmp`).value('2').exec()).header.revision);
    await c.compact(r2);

    // 1. Range read at a compacted revision: the promise rejects.
    const readErr = await client.getAll().prefix(P).revision(r0).exec().then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(readErr).not.toBeNull();
    console.log(`[spike] range read at compacted rev -> ${readErr!.constructor.name}: ${readErr!.message}`);
    expect(readErr!.message).toMatch(/required revision has been compacted/);

    // 2. Watch from a compacted revision: etcd 3.4 first answers created=true (so create()
    //    RESOLVES), then sends canceled=true with compact_revision set and an empty
    //    cancel_reason. etcd3 1.1.2 turns that into an 'error' event carrying an EtcdError
    //    "Watcher canceled: " and DROPS compact_revision; only the raw stream shows it.
    const t0 = Date.now();
    const outcome = await new Promise<{ created: boolean; error?: Error; data: IWatchResponse[] }>((resolve) => {
      const data: IWatchResponse[] = [];
      const w: Watcher = client.watch().prefix(P).startRevision(String(r0)).watcher();
      let created = false;
      w.on('connected', () => { created = true; });
      w.on('data', (r) => data.push(r));
      w.on('error', (error) => resolve({ created, error, data }));
      setTimeout(() => resolve({ created, data }), 5_000);
    });
    console.log(`[spike] watch from compacted rev -> created=${outcome.created} error=${outcome.error?.constructor.name}: ${JSON.stringify(outcome.error?.message)} after ${Date.now() - t0} ms; data events=${outcome.data.length}`);
    expect(outcome.error).toBeDefined();
    expect(outcome.error!.constructor.name).toBe('EtcdError');
    expect(outcome.error!.message).toMatch(/^Watcher canceled/);
    expect(outcome.data).toHaveLength(0);

    // With create() the same case: it resolves (the 'created' response arrives first) and the
    // error comes as an 'error' event afterwards, so a source must attach 'error' at once.
    const w2 = await client.watch().prefix(P).startRevision(String(r0)).create();
    const err2 = await new Promise<Error>((resolve) => w2.on('error', resolve));
    expect(err2.message).toMatch(/^Watcher canceled/);

    // 3. Raw gRPC watch stream: the cancel response carries compact_revision.
    const stream = await client.watchClient.watch();
    const raw = await new Promise<IWatchResponse[]>((resolve) => {
      const got: IWatchResponse[] = [];
      stream.on('data', (r: IWatchResponse) => {
        got.push(r);
        if (r.canceled) resolve(got);
      });
      stream.write({ create_request: { key: Buffer.from(P), range_end: Buffer.from('/spike0'), start_revision: r0 } });
    });
    stream.end();
    console.log(`[spike] raw watch responses: ${JSON.stringify(raw.map((r) => ({ created: r.created, canceled: r.canceled, compact_revision: r.compact_revision, cancel_reason: r.cancel_reason, header_rev: r.header.revision })))}`);
    const cancel = raw.find((r) => r.canceled)!;
    expect(Number(cancel.compact_revision)).toBe(r2);

    // 4. Watching from exactly the compact revision (or later) still works.
    const w3 = await client.watch().prefix(P).startRevision(String(r2)).create();
    const first = await new Promise<IKeyValue>((resolve) => w3.on('put', resolve));
    expect(first.value.toString()).toBe('2');
    expect(Number(first.mod_revision)).toBe(r2);
    await w3.cancel();
  });
});
