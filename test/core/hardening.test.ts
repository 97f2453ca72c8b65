// One datagram must never crash, freeze or bloat a daemon: the cases a review found, each on
// real daemons. Crashes: the daemon is alive and answering after. Freezes: another client's ping
// is answered within 300 ms throughout. Bloat: the daemon's resident memory stays under a bound.
import { afterAll, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring } from '../../shared/keyring.js';
import { TestDaemon, runCli } from '../../testkit/daemons.js';
import { KEY_A, KEY_B } from '../../testkit/fixtures.js';
import { probeLiveness } from '../support/liveness.js';
import { cpuMs, rssMB } from '../../testkit/proc-stats.js';
import { RawClient, decodeReply, fetchStats, request } from '../support/raw-client.js';
import { startRelay, type UdpRelay } from '../support/relay.js';

/** The bound for a freeze: no ping to another client waits longer than this. */
const FREEZE_MS = 300;

const daemons: TestDaemon[] = [];
const clients: ConfdClient[] = [];
const relays: UdpRelay[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(relays.map((r) => r.close()));
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

async function daemon(doc: unknown, args: string[] = [], keys = [KEY_A]): Promise<TestDaemon> {
  const d = new TestDaemon({ doc, args, keys });
  daemons.push(d);
  return d.start();
}

function client(peers: string[], keys = [KEY_A]): ConfdClient {
  const c = new ConfdClient({ keyring: Keyring.fromStrings(keys), peers });
  clients.push(c);
  return c;
}

function alive(d: TestDaemon): void {
  expect(d.child.exitCode, d.output.slice(-3000)).toBeNull();
  expect(d.child.signalCode).toBeNull();
}

/** An object of `n` keys: no MessagePack map16 can carry it, no reply has room for it. */
function manyKeys(n: number, prefix = 'k'): Record<string, number> {
  const o: Record<string, number> = {};
  for (let i = 0; i < n; i++) o[`${prefix}${i}`] = i;
  return o;
}

/** About `mb` megabytes of JSON in many small objects (the shape of real configs). */
function bulk(mb: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const n = Math.ceil((mb * 1024 * 1024) / 140);
  for (let i = 0; i < n; i++) o[`node${i}.example.com`] = { ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, tags: ['a', 'b'], drained: i % 7 === 0, n: i };
  return o;
}

describe('crash: a value no reply can carry', () => {
  it('a held wait on it ends (hold expired, reload, shutdown) with too_large and its etag; get says too_large; the daemon lives', async () => {
    const d = await daemon({ serial_no: 1, m: manyKeys(70_000), x: 1 });
    const c = client([d.peer]);
    const get = await c.get('/m', { timeoutMs: 10_000 });
    expect(get.error?.code).toBe('too_large');
    // Hold expiring: the reply is built in the hold's timer.
    const expired = await c.query({ op: 'wait', path: '/m', etag: 'no-such-etag-at-all', timeoutMs: 300 }, { timeoutMs: 10_000 });
    expect(expired.error?.code).toBe('too_large');
    const etag = expired.etag as string;
    expect(typeof etag).toBe('string');
    const held = await c.query({ op: 'wait', path: '/m', etag, timeoutMs: 500 }, { timeoutMs: 10_000 });
    expect(held.holdTimedOut).toBe(true);
    expect(held.etag).toBe(etag);
    // A reload re-checks held waits: the changed value is too large again, and its etag changed.
    const changed = c.query({ op: 'wait', path: '/m', etag, timeoutMs: 20_000 }, { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 300));
    d.writeDoc({ serial_no: 2, m: manyKeys(70_001), x: 1 });
    const r = await changed;
    expect(r.error?.code).toBe('too_large');
    expect(r.holdTimedOut).toBe(false);
    expect(r.etag).not.toBe(etag);
    // The CLI's ordinary wait on it: a timeout, not a dead daemon.
    const cli = await runCli(['wait', '/m', '--changed', '--timeout', '1500', '--peers', d.peer, '--key-file', d.keyFile]);
    expect([1, 4]).toContain(cli.code);
    alive(d);
    expect((await c.get('/x', { timeoutMs: 10_000 })).answer).toBe(1);
    // Shutdown answers a held wait on it too, and exits cleanly.
    const atStop = c.query({ op: 'wait', path: '/m', etag: r.etag as string, timeoutMs: 20_000 }, { timeoutMs: 30_000 });
    await new Promise((res) => setTimeout(res, 300));
    const exit = await d.stop('SIGTERM');
    expect(exit.code).toBe(0);
    expect((await atStop).error?.code).toBe('too_large');
  });
});

describe('freeze and bloat: the work of a request is bounded before it is done', () => {
  it('get "", mget of 64 × "", decoy paths and list "" at depth 16 on an 8 MB document: pings stay answered, memory and CPU per request bounded', async () => {
    const d = await daemon({ serial_no: 1, big: bulk(8), m: manyKeys(70_000) });
    const c = await RawClient.open(d.port);
    const to = d.peer;
    const before = rssMB(d.child.pid as number).rss;
    const probe = await probeLiveness(d.port);
    const cpu0 = cpuMs(d.child.pid as number);
    let n = 0;
    const kinds = new Map<string, number>();
    try {
      for (let round = 0; round < 40; round++) {
        // Every request differs (an extra key, a decoy path), so no reply cache can help.
        const bodies = [
          { op: 'get', path: '', n: round },
          { op: 'get', path: '/big', n: round },
          { op: 'get', path: '/m', n: round },
          { op: 'mget', paths: [...Array.from({ length: 63 }, () => ''), `/decoy${round}`] },
          { op: 'mget', paths: Array.from({ length: 64 }, (_, i) => (i % 2 ? '/big' : '/m')), n: round },
          { op: 'list', path: '', depth: 16, n: round },
          { op: 'list', path: '/big', depth: 2, n: round },
          { op: 'list', path: '/m', n: round },
          { op: 'get', path: `/big/node${round}.example.com`, n: round },
        ];
        for (const b of bodies) {
          const r = await c.exchange(request(b, { to }), 10_000);
          expect(r, `no reply to ${JSON.stringify(b).slice(0, 80)}`).toBeDefined();
          const code = (r?.body.error as { code?: string } | undefined)?.code ?? 'ok';
          kinds.set(code, (kinds.get(code) ?? 0) + 1);
          n++;
        }
      }
    } finally {
      c.close();
    }
    const cpu = cpuMs(d.child.pid as number) - cpu0;
    console.log(`worst-case requests: ${n}, daemon CPU ${cpu} ms (${(cpu / n).toFixed(3)} ms each), RSS ${before.toFixed(0)} → ${rssMB(d.child.pid as number).rss.toFixed(0)} MB`);
    const live = await probe.stop();
    const after = rssMB(d.child.pid as number).rss;
    expect(kinds.get('too_large')).toBeGreaterThan(n / 2);
    expect(live.lost, JSON.stringify(live)).toBe(0);
    expect(live.maxMs, JSON.stringify(live)).toBeLessThan(FREEZE_MS);
    // docs/limits.md: a request costs at most its reply's room, whatever the document's size.
    // The pings of the probe are included; the bound is loose for a loaded machine.
    expect(cpu / n, `CPU per request, ms (${n} requests)`).toBeLessThan(5);
    expect(after - before, `RSS grew from ${before.toFixed(0)} to ${after.toFixed(0)} MB`).toBeLessThan(100);
    alive(d);
  });

  it('the per-snapshot reply caches are bounded in bytes: 8,192 distinct mgets of a 40 KB value', async () => {
    const d = await daemon({ serial_no: 1, v: 'x'.repeat(40_000) });
    const c = client([d.peer]);
    expect((await c.get('/serial_no', { timeoutMs: 10_000 })).answer).toBe(1);
    const before = rssMB(d.child.pid as number).rss;
    for (let i = 0; i < 8192; i += 8) {
      const batch = Array.from({ length: 8 }, (_, j) => c.mget(['/v', `/nope${i + j}`], { timeoutMs: 20_000 }));
      for (const r of await Promise.all(batch)) expect(r.status).toBe(0);
    }
    const after = rssMB(d.child.pid as number).rss;
    // Without a byte bound this held 8,192 × 40 KB = 320 MB. The QCF1 caches hold at most 80 MB
    // (docs/limits.md); the rest is the allocator's and the collector's slack.
    expect(after - before, `RSS grew from ${before.toFixed(0)} to ${after.toFixed(0)} MB`).toBeLessThan(200);
    alive(d);
  });
});

describe('held waits', () => {
  it('2,000 waits on "" of an 8 MB document settle at the next reload in slices: pings answered throughout, every wait answered once', { timeout: 300_000 }, async () => {
    // Holds long enough that none ends before the reload, however long a loaded machine takes to
    // take the 2,000 waits in.
    const d = await daemon({ serial_no: 1, big: bulk(8) }, ['--max-waits-per-source', '5000', '--max-wait', '300000']);
    const c = client([d.peer]);
    const first = await c.query({ op: 'wait', path: '', etag: 'x', timeoutMs: 1 }, { timeoutMs: 20_000 });
    const etag = first.etag as string;
    expect(first.error?.code).toBe('too_large');
    const peer = c.peerList[0];
    const held = Array.from({ length: 2000 }, (_, i) =>
      // Retransmitted (each copy replaces the held one, by its rid) if a reply is lost in the burst.
      c.requestOne(peer, { op: 'wait', path: '', etag, timeoutMs: 240_000, rid: `w${i}` }, { timeoutMs: 240_000, retransmitMs: 2000, maxRetransmitMs: 2000 }).reply,
    );
    const deadline = Date.now() + 30_000;
    while ((await fetchStats(d.port)).heldWaits < 2000) {
      if (Date.now() > deadline) throw new Error('the 2,000 waits were not all held');
      await new Promise((r) => setTimeout(r, 100));
    }
    const probe = await probeLiveness(d.port);
    await new Promise((r) => setTimeout(r, 200));
    const doc = { serial_no: 2, big: bulk(8) };
    (doc.big as Record<string, unknown>)['node0.example.com'] = 'changed';
    d.writeDoc(doc);
    const replies = await Promise.all(held);
    const live = await probe.stop();
    for (const r of replies) {
      expect(r?.error?.code).toBe('too_large');
      expect(r?.timedOut).toBe(false);
      expect(r?.serial).toBe(2);
    }
    expect(new Set(replies.map((r) => r?.etag)).size).toBe(1);
    expect(live.lost, JSON.stringify(live)).toBe(0);
    expect(live.maxMs, JSON.stringify(live)).toBeLessThan(FREEZE_MS);
    expect((await fetchStats(d.port)).heldWaits).toBe(0);
    alive(d);
  });

  it('a wait from an address that has not shown it receives replies is never held (it is told to come back with a cookie)', async () => {
    const d = await daemon({ serial_no: 1, a: 1 });
    const c = await RawClient.open(d.port);
    try {
      const r = await c.exchange(request({ op: 'wait', path: '/a', minSerial: 5, timeoutMs: 20_000 }, { to: d.peer }), 5000);
      expect((r?.body.error as { code: string }).code).toBe('retry');
      expect(Buffer.isBuffer(r?.body.cookie)).toBe(true);
      expect((await fetchStats(d.port)).heldWaits).toBe(0);
      // With the cookie, the same wait is held.
      const again = request({ op: 'wait', path: '/a', minSerial: 5, timeoutMs: 20_000, cookie: r?.body.cookie }, { to: d.peer });
      await c.send(again);
      const deadline = Date.now() + 10_000;
      while ((await fetchStats(d.port)).heldWaits < 1) {
        if (Date.now() > deadline) throw new Error('the wait with the cookie was not held');
        await new Promise((res) => setTimeout(res, 50));
      }
    } finally {
      c.close();
    }
  });

  it('--max-waits-per-key: one key cannot take every slot; another key still gets its waits held', async () => {
    const d = await daemon({ serial_no: 1, a: 1 }, ['--max-waits-per-key', '3', '--max-waits-per-source', '100'], [KEY_A, KEY_B]);
    const ca = client([d.peer], [KEY_A]);
    const cb = client([d.peer], [KEY_B]);
    const wait = (c: ConfdClient, i: number) => c.requestOne(c.peerList[0], { op: 'wait', path: '/a', minSerial: 2, timeoutMs: 20_000, rid: `r${i}` }, { timeoutMs: 30_000, retransmitMs: 0 }).reply;
    const heldA = [0, 1, 2].map((i) => wait(ca, i));
    const deadline = Date.now() + 10_000;
    while ((await fetchStats(d.port)).heldWaits < 3) {
      if (Date.now() > deadline) throw new Error('three waits not held');
      await new Promise((res) => setTimeout(res, 50));
    }
    const fourth = await wait(ca, 3);
    expect(fourth?.error?.code).toBe('busy');
    const heldB = wait(cb, 0);
    while ((await fetchStats(d.port)).heldWaits < 4) {
      if (Date.now() > deadline) throw new Error('the other key’s wait was not held');
      await new Promise((res) => setTimeout(res, 50));
    }
    d.writeDoc({ serial_no: 2, a: 2 });
    for (const r of await Promise.all([...heldA, heldB])) expect(r?.answer).toBe(2);
  });
});

describe('one daemon is one daemon; a request is for one daemon', () => {
  it('a daemon reached at a second address (a relay, or localhost beside 127.0.0.1) is counted once', async () => {
    const d = await daemon({ serial_no: 3, a: 'x' });
    const relay = await startRelay(d.front());
    relays.push(relay);
    for (const peers of [[d.peer, relay.peer], [d.peer, `localhost:${d.port}`]]) {
      const c = client(peers);
      // Both addresses answer: the query ends then (no quorum), not at its timeout (far beyond this test's).
      const r = await c.get('/a', { timeoutMs: 600_000, coverage: 2, strict: true });
      expect(r.timedOut, JSON.stringify(r)).toBe(true);
      expect(r.replies).toBe(1);
      expect(r.error?.code).toBe('no_quorum');
    }
  });

  it('a request captured on its way to one daemon and sent to another, with no key, gets nothing there', async () => {
    const a = await daemon({ serial_no: 1, big: 'y'.repeat(50_000) });
    const b = await daemon({ serial_no: 1, big: 'y'.repeat(50_000) });
    const ca = await RawClient.open(a.port);
    const cb = await RawClient.open(b.port);
    try {
      const before = await fetchStats(b.port);
      const captured = request({ op: 'get', path: '/big' }, { to: a.peer });
      expect(await cb.exchange(captured, 1500)).toBeUndefined();
      const after = await fetchStats(b.port);
      expect((after.drops.wrong_destination ?? 0) - (before.drops.wrong_destination ?? 0)).toBe(1);
      // Meant for a, it is answered there (a retry, or the answer: no larger than the request).
      const r = await ca.exchange(captured, 5000);
      expect(r).toBeDefined();
      expect((r as { raw: Buffer }).raw.length).toBeLessThanOrEqual(captured.length);
    } finally {
      ca.close();
      cb.close();
    }
  });
});

describe('amplification', () => {
  it('a key holder sending from an address the daemon has not validated gets no reply larger than its request', async () => {
    const d = await daemon({ serial_no: 9, big: 'z'.repeat(60_000), list: Array.from({ length: 3000 }, (_, i) => i), m: manyKeys(2000) });
    const c = await RawClient.open(d.port);
    let worst = 0;
    try {
      const bodies: object[] = [
        { op: 'ping' },
        { op: 'stats' },
        { op: 'get', path: '' },
        { op: 'get', path: '/big' },
        { op: 'get', path: '/list' },
        { op: 'mget', paths: ['/big', '/list', '/m'] },
        { op: 'list', path: '/m' },
        { op: 'list', path: '', depth: 16 },
        { op: 'wait', path: '/big', etag: 'x', timeoutMs: 100 },
        { op: 'wait', path: '/big', minSerial: 99, timeoutMs: 100 },
      ];
      for (const padTo of [0, 200, 1200]) {
        for (const b of bodies) {
          const q = request(b, { to: d.peer, padTo });
          await c.send(q);
          for (const raw of await c.collect(300)) {
            worst = Math.max(worst, raw.length / q.length);
            expect(raw.length, `${JSON.stringify(b)} padded to ${padTo}`).toBeLessThanOrEqual(q.length);
            decodeReply(raw);
          }
        }
      }
    } finally {
      c.close();
    }
    console.log(`largest reply/request ratio to an address not validated: ${worst.toFixed(3)}`);
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(1);
    alive(d);
  });

  it('without the key there is no reply at all, to any of the above', async () => {
    const d = await daemon({ serial_no: 9, big: 'z'.repeat(60_000) });
    const c = await RawClient.open(d.port);
    try {
      for (const b of [{ op: 'get', path: '/big' }, { op: 'stats' }, { op: 'ping' }]) {
        await c.send(request(b, { to: d.peer, key: Keyring.fromStrings([KEY_B]).signer }));
      }
      expect(await c.collect(1000)).toEqual([]);
    } finally {
      c.close();
    }
  });
});
