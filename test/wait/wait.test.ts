// Held waits end to end, through the client library, against real qconfd child processes on
// loopback: a wait is met once a quorum holds the condition and not before; it survives a
// daemon restart and lossy links; held-wait limits answer `busy`; shutdown answers every held
// wait; `watch` yields each change once, in serial order; and the `wait` op's own rules
// (bad_argument, the hold cap).
import dgram, { type Socket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import type { Reply, Request } from '../../client/types.js';
import type { WaitCondition, WaitResult, WatchEvent } from '../../client/wait-for.js';
import { etagOf } from '../../shared/canonical-json.js';
import type { Peer } from '../../shared/peers.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { freePort } from '../../testkit/fixtures.js';
import { sampleDoc, withMaster } from '../support/sample-doc.js';
import { trackEach, type ClientOptions } from '../support/tracked.js';
import { until, within } from '../support/until.js';
import { decodeReply, fetchStats, request } from '../support/raw-client.js';
import { startRelay } from '../support/relay.js';

/** The deliberate "still not resolved" margin after a minority change has been loaded. */
const MARGIN_MS = 1000;
/** How soon after the quorum's change a wait must be met (generous: a loaded 2-core box). */
const SOON_MS = 5000;

const owned = trackEach();
const client = (peers: string[], extra: Partial<ClientOptions> = {}) => owned.client(peers, extra);
const serve = (docs: unknown[], args: string[] = []) => owned.serve(docs, 'w', args);

/**
 * Replace a daemon's document atomically and resolve once it logged serving that serial or a
 * later one (a daemon inside its reload rate limit may skip straight to a later document).
 */
async function publish(d: TestDaemon, document: Record<string, unknown>): Promise<void> {
  const from = d.output.length;
  d.writeDoc(document);
  const serial = document.serial_no as number;
  await d.waitForLog((l) => l.event === 'reload' && typeof l.serial === 'number' && l.serial >= serial, 30_000, from);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Tracked<T> {
  promise: Promise<T>;
  settled: boolean;
  at: number;
}

function track<T>(promise: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { promise, settled: false, at: 0 };
  promise.then(
    () => {
      t.settled = true;
      t.at = Date.now();
    },
    () => {
      t.settled = true;
      t.at = Date.now();
    },
  );
  return t;
}

/** Wait requests each daemon has received so far (from its `stats`). */
async function waitCounts(ds: TestDaemon[]): Promise<number[]> {
  return Promise.all(ds.map(async (d) => (await fetchStats(d.port)).requests.qcf1.wait ?? 0));
}

/** Resolve once every daemon has received at least `n` more wait requests than `base`. */
async function waitsArrived(ds: TestDaemon[], base: number[], n = 1, deadlineMs = 30_000): Promise<void> {
  await until(async () => (await waitCounts(ds)).every((c, i) => c >= base[i] + n), `${n} wait request(s) at every daemon`, deadlineMs);
}

/**
 * The shape every quorum-change test shares: start the wait, change a minority (1 of 3), check
 * it is still waiting well after that daemon serves the change, change the second daemon, and
 * check the wait is met soon after.
 */
async function minorityThenQuorum(
  ds: TestDaemon[],
  start: () => Promise<WaitResult>,
  next: Record<string, unknown>,
): Promise<{ result: WaitResult; latencyMs: number }> {
  const w = track(start());
  await publish(ds[0], next);
  await sleep(MARGIN_MS);
  expect(w.settled, 'the wait was met after a change on 1 of 3 daemons').toBe(false);
  const t0 = Date.now();
  await publish(ds[1], next);
  const result = await within(w.promise, SOON_MS + 30_000, 'the wait');
  const latencyMs = w.at - t0;
  expect(result.met, JSON.stringify(result)).toBe(true);
  expect(latencyMs, 'met long after the quorum changed').toBeLessThan(SOON_MS);
  return { result, latencyMs };
}

describe('waitFor is met once a quorum (2 of 3) holds the condition, and not before', () => {
  it('changed: resolves with the new value and serial', async () => {
    const ds = await serve([0, 1, 2].map(() => withMaster(1, 'node1.example.com')));
    const c = client(ds.map((d) => d.peer));
    const now = await c.get<string>('/cluster/master', { timeoutMs: 10_000 });
    expect(now.status).toBe(0);
    const cond: WaitCondition = { path: '/cluster/master', changedFrom: now.etag as string };
    const { result } = await minorityThenQuorum(ds, () => c.waitFor(cond, { timeoutMs: 60_000 }), withMaster(2, 'node2.example.com'));
    expect(result.answer).toBe('node2.example.com');
    expect(result.serial).toBe(2);
    expect(result.status).toBe(0);
    expect(result.etag).toBe(etagOf('node2.example.com'));
    expect(result.timedOut).toBe(false);
  });

  it('exists: resolves when the path appears, with its value', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const c = client(ds.map((d) => d.peer));
    const { result } = await minorityThenQuorum(
      ds,
      () => c.waitFor({ path: '/flags/ready', exists: true }, { timeoutMs: 60_000 }),
      sampleDoc(2, { flags: { ready: { by: 'node2' } } }),
    );
    expect(result.status).toBe(0);
    expect(result.answer).toEqual({ by: 'node2' });
    expect(result.serial).toBe(2);
  });

  it('absent: resolves when the path is gone', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1, { locks: { upgrade: 'node1' } })));
    const c = client(ds.map((d) => d.peer));
    const { result } = await minorityThenQuorum(ds, () => c.waitFor({ path: '/locks/upgrade', absent: true }, { timeoutMs: 60_000 }), sampleDoc(2, { locks: {} }));
    expect(result.status).not.toBe(0);
    expect(result.error?.code).toBe('not_found');
    expect(result.answer).toBeUndefined();
    expect(result.serial).toBe(2);
  });

  it('equals: ignores other changes; resolves once a quorum holds the value', async () => {
    const ds = await serve([0, 1, 2].map(() => withMaster(1, 'node1.example.com')));
    const c = client(ds.map((d) => d.peer));
    const w = () => c.waitFor({ path: '/cluster/master', equals: 'node9.example.com' }, { timeoutMs: 60_000 });
    // A change everywhere to some other value does not meet it.
    const tracked = track(w());
    await Promise.all(ds.map((d) => publish(d, withMaster(2, 'node5.example.com'))));
    await sleep(MARGIN_MS);
    expect(tracked.settled, 'equals was met by a different value').toBe(false);
    const { result } = await minorityThenQuorum(ds, () => tracked.promise, withMaster(3, 'node9.example.com'));
    expect(result.answer).toBe('node9.example.com');
    expect(result.serial).toBe(3);
    expect(result.etag).toBe(etagOf('node9.example.com'));
  });

  it('equals with an object value (key order does not matter)', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const c = client(ds.map((d) => d.peer));
    const { result } = await minorityThenQuorum(
      ds,
      () => c.waitFor({ path: '/nodes/node3.example.com', equals: { drained: true, primary_ip: '192.0.2.13' } }, { timeoutMs: 60_000 }),
      sampleDoc(2, { nodes: { 'node3.example.com': { primary_ip: '192.0.2.13', drained: true } } }),
    );
    expect(result.answer).toEqual({ primary_ip: '192.0.2.13', drained: true });
  });

  it('minSerial: a lower serial everywhere does not meet it; resolves once a quorum serves it', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const c = client(ds.map((d) => d.peer));
    const tracked = track(c.waitFor({ minSerial: 4 }, { timeoutMs: 60_000 }));
    await Promise.all(ds.map((d) => publish(d, sampleDoc(3))));
    await sleep(MARGIN_MS);
    expect(tracked.settled, 'minSerial 4 was met at serial 3').toBe(false);
    const { result } = await minorityThenQuorum(ds, () => tracked.promise, sampleDoc(4));
    expect(result.serial).toBe(4);
    expect(result.status).toBe(0);
    expect(result.answer).toBe(4); // the default path is /serial_no
  });

  it('is answered at once when the condition already holds on a quorum', async () => {
    const ds = await serve([0, 1, 2].map(() => withMaster(5, 'node1.example.com')));
    const c = client(ds.map((d) => d.peer));
    const t0 = Date.now();
    const r = await c.waitFor({ minSerial: 5 }, { timeoutMs: 30_000 });
    expect(r.met).toBe(true);
    expect(r.serial).toBe(5);
    const e = await c.waitFor({ path: '/cluster/master', equals: 'node1.example.com' }, { timeoutMs: 30_000 });
    expect(e.met).toBe(true);
    expect(e.answer).toBe('node1.example.com');
    const x = await c.waitFor({ path: '/cluster/master', changedFrom: etagOf('someone-else') }, { timeoutMs: 30_000 });
    expect(x.met).toBe(true);
    expect(x.answer).toBe('node1.example.com');
    expect(Date.now() - t0).toBeLessThan(10_000);
    await until(() => c.outstanding === 0, 'no outstanding request after met waits', 5000);
  });

  it('a lagging daemon does not stand in for the quorum: changedFrom is met only when 2 daemons serve the change', async () => {
    // w2 lags at serial 1 ("a"); w0 and w1 serve serial 2 ("b"), which the client reads.
    const ds = await serve([withMaster(2, 'b'), withMaster(2, 'b'), withMaster(1, 'a')]);
    const c = client(ds.map((d) => d.peer));
    const now = await c.get<string>('/cluster/master', { coverage: -1, all: true, timeoutMs: 10_000 });
    expect(now.answer).toBe('b');
    expect(now.serial).toBe(2);
    const cond: WaitCondition = { path: '/cluster/master', changedFrom: now.etag as string };
    // Only w0 serves the change to "c": one daemon of three has it, so the wait must go on.
    const { result } = await minorityThenQuorum(ds, () => c.waitFor(cond, { timeoutMs: 60_000 }), withMaster(3, 'c'));
    expect(result.answer).toBe('c');
    expect(result.serial).toBe(3);
  });

  it('learns the baseline from every daemon first: a changed and a lagging daemon answering before the one holding the old value are no quorum', async () => {
    // w0 has already moved on to "c" (3), w2 lags at "a" (1); only w1 holds the old "b" (2), and
    // its replies come 1.5 s late. Both early replies differ from "b": without the baseline they
    // would pass for a quorum of changes.
    const ds = await serve([withMaster(3, 'c'), withMaster(2, 'b'), withMaster(1, 'a')]);
    const slow = await startRelay({ ...ds[1].front(), seed: 7, toClient: { delayMs: [1500, 1500] } });
    owned.relays.push(slow);
    const c = client([ds[0].peer, slow.peer, ds[2].peer]);
    const w = track(c.waitFor({ path: '/cluster/master', changedFrom: etagOf('b') }, { timeoutMs: 60_000 }));
    await until(() => slow.stats.toClient.forwarded > 0, 'the held-back reply of the daemon holding "b"');
    await sleep(MARGIN_MS);
    expect(w.settled, 'a changed and a lagging daemon were taken for a quorum').toBe(false);
    await publish(ds[1], withMaster(3, 'c'));
    const r = await within(w.promise, 30_000, 'the wait');
    expect(r.met, JSON.stringify(r)).toBe(true);
    expect(r.answer).toBe('c');
    expect(r.serial).toBe(3);
  });
});

describe('waitFor survives restarts and lossy links', () => {
  it.each(['SIGTERM', 'SIGKILL'] as const)('a restarted daemon (%s) that the quorum needs takes part again on the same port', async (signal) => {
    // 2 daemons: needed 2, so the wait cannot be met without the one that restarts.
    const ds = await serve([0, 1].map(() => withMaster(1, 'node1.example.com')));
    const c = client(ds.map((d) => d.peer));
    const now = await c.get<string>('/cluster/master', { timeoutMs: 10_000 });
    const base = await waitCounts(ds);
    const w = track(c.waitFor({ path: '/cluster/master', changedFrom: now.etag as string }, { timeoutMs: 90_000 }));
    await waitsArrived(ds, base);
    const port = ds[1].port;
    const stopped = await ds[1].stop(signal);
    if (signal === 'SIGTERM') expect(stopped.code).toBe(0);
    // The survivor changes alone: 1 of the 2 needed.
    await publish(ds[0], withMaster(2, 'node2.example.com'));
    await ds[1].start();
    expect(ds[1].port).toBe(port);
    await sleep(MARGIN_MS);
    expect(w.settled, 'met without the restarted daemon').toBe(false);
    await publish(ds[1], withMaster(2, 'node2.example.com'));
    const r = await within(w.promise, 30_000, 'the wait after the restart');
    expect(r.met, JSON.stringify(r)).toBe(true);
    expect(r.answer).toBe('node2.example.com');
    expect(r.serial).toBe(2);
    expect(r.replies).toBe(2);
  });

  it('a restarted daemon that comes back already changed counts at once', async () => {
    const ds = await serve([0, 1].map(() => sampleDoc(1)));
    const c = client(ds.map((d) => d.peer));
    const base = await waitCounts(ds);
    const w = track(c.waitFor({ minSerial: 2 }, { timeoutMs: 90_000 }));
    await waitsArrived(ds, base);
    await ds[1].stop('SIGKILL');
    await publish(ds[0], sampleDoc(2));
    ds[1].writeDoc(sampleDoc(2));
    await ds[1].start();
    const r = await within(w.promise, 30_000, 'the wait after the restart');
    expect(r.met).toBe(true);
    expect(r.serial).toBe(2);
  });

  it('40% loss each way (and duplicates) in front of every daemon: the wait is still met after the change', async () => {
    const ds = await serve([0, 1, 2].map(() => withMaster(1, 'node1.example.com')));
    const fault = { drop: 0.4, duplicate: 0.2 };
    const rs = await Promise.all(
      ds.map((d, i) => startRelay({ ...d.front(), seed: 1000 + i, toDaemon: fault, toClient: fault })),
    );
    owned.relays.push(...rs);
    const c = client(rs.map((r) => r.peer));
    const now = await c.get<string>('/cluster/master', { timeoutMs: 20_000 });
    expect(now.status, JSON.stringify(now)).toBe(0);
    const changed = track(c.waitFor({ path: '/cluster/master', changedFrom: now.etag as string }, { timeoutMs: 90_000 }));
    const serial = track(c.waitFor({ minSerial: 2 }, { timeoutMs: 90_000 }));
    await sleep(MARGIN_MS);
    expect(changed.settled).toBe(false);
    expect(serial.settled).toBe(false);
    await Promise.all(ds.map((d) => publish(d, withMaster(2, 'node2.example.com'))));
    const [a, b] = await within(Promise.all([changed.promise, serial.promise]), 60_000, 'the waits over lossy links');
    expect(a.met, JSON.stringify(a)).toBe(true);
    expect(a.answer).toBe('node2.example.com');
    expect(a.serial).toBe(2);
    expect(b.met, JSON.stringify(b)).toBe(true);
    expect(b.serial).toBe(2);
    // The relays did lose datagrams in both directions.
    const dropped = rs.reduce((n, r) => n + r.stats.toDaemon.dropped, 0);
    const droppedBack = rs.reduce((n, r) => n + r.stats.toClient.dropped, 0);
    expect(dropped).toBeGreaterThan(0);
    expect(droppedBack).toBeGreaterThan(0);
    await until(() => c.outstanding === 0, 'no outstanding request after the waits', 5000);
  });
});

/** A raw QCF1 endpoint bound to a chosen loopback address (another "source" for the daemon). */
async function rawSocket(address: string): Promise<Socket> {
  const s = dgram.createSocket('udp4');
  owned.sockets.push(s);
  s.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, address, () => {
      s.off('error', reject);
      resolve();
    });
  });
  return s;
}

/**
 * Send one signed request from `s` (no retransmission) and resolve with its reply body, or
 * undefined. A `retry` (the daemon asks this address for its cookie first) is followed once.
 */
function rawRequest(s: Socket, port: number, body: object, deadlineMs: number): Promise<Record<string, unknown> | undefined> {
  const to = `127.0.0.1:${port}`;
  let dg = request(body, { to });
  return new Promise((resolve) => {
    const onMessage = (m: Buffer) => {
      try {
        const r = decodeReply(m);
        if (!r.salt.equals(dg.subarray(20, 36))) return;
        const cookie = r.body.cookie;
        if ((r.body.error as { code?: string } | undefined)?.code === 'retry' && Buffer.isBuffer(cookie)) {
          dg = request({ ...body, cookie }, { to });
          s.send(dg, port, '127.0.0.1');
          return;
        }
        finish(r.body);
      } catch {
        /* not ours */
      }
    };
    const timer = setTimeout(() => finish(undefined), deadlineMs);
    const finish = (b: Record<string, unknown> | undefined) => {
      clearTimeout(timer);
      s.off('message', onMessage);
      resolve(b);
    };
    s.on('message', onMessage);
    s.send(dg, port, '127.0.0.1');
  });
}

/**
 * A held wait sent once, never retransmitted: a retransmission would be held as another wait
 * (it carries a fresh salt) and take another slot.
 */
function holdRaw(c: ConfdClient, peer: Peer, req: Request, timeoutMs = 20_000): { id: string; reply: Promise<Reply | undefined> } {
  return c.requestOne(peer, req, { timeoutMs, retransmitMs: 0 });
}

describe('held-wait limits', () => {
  it('--max-waits-per-source 2: a third held wait from the same address is busy; another address is not', async () => {
    const [d] = await serve([withMaster(1, 'node1.example.com')], ['--max-waits-per-source', '2']);
    const c = client([d.peer]);
    const peer = c.peerList[0];
    const etag = etagOf('node1.example.com');
    const req: Request = { op: 'wait', path: '/cluster/master', etag, timeoutMs: 10_000 };
    const base = (await waitCounts([d]))[0];
    const w1 = track(holdRaw(c, peer, req).reply);
    const w2 = track(holdRaw(c, peer, req).reply);
    await until(async () => (await waitCounts([d]))[0] >= base + 2, 'two held waits');
    const r3 = await within(holdRaw(c, peer, req, 10_000).reply, 15_000, 'the third wait');
    expect(r3, 'no reply to the third wait').toBeDefined();
    expect(r3?.status).toBe(1);
    expect(r3?.error?.code).toBe('busy');
    expect(r3?.serial).toBe(1);
    expect(w1.settled || w2.settled, 'a held wait was answered before any change').toBe(false);
    // The limit is per source address: 127.0.0.2 still gets its wait held.
    const other = await rawSocket('127.0.0.2');
    const held = track(rawRequest(other, d.port, req, 20_000));
    await until(async () => (await waitCounts([d]))[0] >= base + 4, 'the other source’s wait');
    await sleep(300);
    expect(held.settled, 'the other source was not held').toBe(false);
    const st = await fetchStats(d.port);
    expect(st.waitsBusy).toBe(1);
    expect(st.errors.busy).toBe(1);
    // A change answers every held wait, and frees the slots.
    await publish(d, withMaster(2, 'node2.example.com'));
    for (const r of await within(Promise.all([w1.promise, w2.promise]), 10_000, 'the held waits')) {
      expect(r?.status).toBe(0);
      expect(r?.answer).toBe('node2.example.com');
      expect(r?.timedOut).toBe(false);
    }
    const o = await held.promise;
    expect(o?.status).toBe(0);
    expect(o?.answer).toBe('node2.example.com');
    const again = { ...req, etag: etagOf('node2.example.com') };
    const w4 = track(holdRaw(c, peer, again).reply);
    const w5 = track(holdRaw(c, peer, again).reply);
    await until(async () => (await waitCounts([d]))[0] >= base + 6, 'two new held waits');
    await sleep(300);
    expect(w4.settled || w5.settled, 'freed slots were not reused').toBe(false);
    expect((await fetchStats(d.port)).waitsBusy).toBe(1);
  });

  it('--max-waits 3: the fourth held wait is busy whatever its source', async () => {
    const [d] = await serve([sampleDoc(1)], ['--max-waits', '3']);
    const c = client([d.peer]);
    const peer = c.peerList[0];
    const req: Request = { op: 'wait', path: '', minSerial: 2, timeoutMs: 10_000 };
    const base = (await waitCounts([d]))[0];
    const held: Tracked<Reply | Record<string, unknown> | undefined>[] = [track(holdRaw(c, peer, req).reply), track(holdRaw(c, peer, req).reply)];
    const other = await rawSocket('127.0.0.2');
    held.push(track(rawRequest(other, d.port, req, 20_000)));
    await until(async () => (await waitCounts([d]))[0] >= base + 3, 'three held waits');
    const r4 = await within(rawRequest(other, d.port, req, 10_000), 15_000, 'the fourth wait');
    expect(r4?.status).toBe(1);
    expect((r4?.error as { code: string } | undefined)?.code).toBe('busy');
    const r5 = await within(holdRaw(c, peer, req, 10_000).reply, 15_000, 'the fifth wait');
    expect(r5?.error?.code).toBe('busy');
    expect(held.some((h) => h.settled), 'a held wait was answered early').toBe(false);
    const st = await fetchStats(d.port);
    expect(st.waitsBusy).toBe(2);
    await publish(d, sampleDoc(2));
    const answers = await within(Promise.all(held.map((h) => h.promise)), 10_000, 'the held waits');
    for (const a of answers) expect((a as { status?: number } | undefined)?.status).toBe(0);
  });

  it('stats.heldWaits reports the waits held right now', async () => {
    const [d] = await serve([sampleDoc(1)]);
    const c = client([d.peer]);
    const peer = c.peerList[0];
    const req: Request = { op: 'wait', path: '', minSerial: 3, timeoutMs: 15_000 };
    const base = (await waitCounts([d]))[0];
    const held = [track(holdRaw(c, peer, req).reply), track(holdRaw(c, peer, req).reply)];
    await until(async () => (await waitCounts([d]))[0] >= base + 2, 'two held waits');
    expect((await fetchStats(d.port)).heldWaits).toBe(2);
    // A reload that meets neither leaves both held...
    await publish(d, sampleDoc(2));
    expect((await fetchStats(d.port)).heldWaits).toBe(2);
    // ...and one that meets both leaves none.
    await publish(d, sampleDoc(3));
    await within(Promise.all(held.map((h) => h.promise)), 10_000, 'the held waits');
    expect((await fetchStats(d.port)).heldWaits).toBe(0);
  });
});

describe('shutdown', () => {
  it('SIGTERM answers every held wait (timedOut: true) before the daemon exits 0', async () => {
    const [d] = await serve([withMaster(1, 'node1.example.com')]);
    const c = client([d.peer]);
    const peer = c.peerList[0];
    const base = (await waitCounts([d]))[0];
    const held = [
      holdRaw(c, peer, { op: 'wait', path: '/cluster/master', etag: etagOf('node1.example.com'), timeoutMs: 25_000 }, 30_000).reply,
      holdRaw(c, peer, { op: 'wait', path: '/cluster/master', etag: etagOf('node1.example.com'), timeoutMs: 25_000 }, 30_000).reply,
      holdRaw(c, peer, { op: 'wait', path: '', minSerial: 9, timeoutMs: 25_000 }, 30_000).reply,
      holdRaw(c, peer, { op: 'wait', path: '/missing', etag: '', timeoutMs: 25_000 }, 30_000).reply,
    ];
    await until(async () => (await waitCounts([d]))[0] >= base + 4, 'four held waits');
    const t0 = Date.now();
    const exit = await d.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    const replies = await within(Promise.all(held), 5000, 'the replies to the held waits');
    expect(Date.now() - t0).toBeLessThan(10_000);
    for (const r of replies.slice(0, 2)) {
      expect(r, 'a held wait got no reply at shutdown').toBeDefined();
      expect(r?.timedOut).toBe(true);
      expect(r?.status).toBe(0);
      expect(r?.answer).toBe('node1.example.com');
      expect(r?.serial).toBe(1);
    }
    expect(replies[2]?.timedOut).toBe(true);
    expect(replies[2]?.serial).toBe(1);
    expect(replies[3]?.timedOut).toBe(true);
    expect(replies[3]?.error?.code).toBe('not_found');
    expect(d.logLines().some((l) => l.event === 'shutdown')).toBe(true);
  });
});

describe('watch', () => {
  it('yields each change once, in serial order; breaking out ends it cleanly', async () => {
    const ds = await serve([0, 1, 2].map(() => withMaster(1, 'm1')));
    const c = client(ds.map((d) => d.peer));
    const events: WatchEvent<string>[] = [];
    const publishing: Promise<void>[] = [];
    const run = (async () => {
      for await (const ev of c.watch<string>('/cluster/master')) {
        events.push(ev);
        if (ev.serial >= 6) break;
        // The next change goes out only after this one was seen.
        const next = ev.serial + 1;
        publishing.push(Promise.all(ds.map((d) => publish(d, withMaster(next, `m${next}`)))).then(() => undefined));
      }
    })();
    await within(run, 90_000, 'the watch');
    await Promise.all(publishing);
    expect(events.map((e) => e.serial)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(events.map((e) => e.value)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    for (const e of events) {
      expect(e.exists).toBe(true);
      expect(e.etag).toBe(etagOf(e.value));
    }
    await until(() => c.outstanding === 0, 'no outstanding request after the watch ended', 3000);
    // The client is still usable.
    expect((await c.get('/cluster/master', { timeoutMs: 10_000 })).answer).toBe('m6');
  });

  it('reports a value disappearing and coming back, and never repeats an unchanged value', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1, { flag: 'on' })));
    const c = client(ds.map((d) => d.peer));
    const all = (d: Record<string, unknown>) => Promise.all(ds.map((x) => publish(x, d))).then(() => undefined);
    const events: WatchEvent[] = [];
    const publishing: Promise<void>[] = [];
    for await (const ev of c.watch('/flag')) {
      events.push(ev);
      if (ev.serial >= 5 || events.length > 6) break;
      if (ev.serial === 1) publishing.push(all(sampleDoc(2))); // gone
      if (ev.serial === 2) publishing.push(all(sampleDoc(3, { flag: 'on' }))); // back
      if (ev.serial === 3) {
        // Serial 4 changes only another path: the watch must not report /flag again.
        publishing.push(all(sampleDoc(4, { flag: 'on', other: 1 })).then(() => sleep(MARGIN_MS)).then(() => all(sampleDoc(5, { flag: 'off' }))));
      }
    }
    await Promise.all(publishing);
    expect(events.map((e) => [e.serial, e.exists, e.value])).toEqual([
      [1, true, 'on'],
      [2, false, undefined],
      [3, true, 'on'],
      [5, true, 'off'],
    ]);
    await until(() => c.outstanding === 0, 'no outstanding request', 3000);
  });

  it('an abort signal ends a watch that is waiting', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const c = client(ds.map((d) => d.peer));
    const ac = new AbortController();
    const seen: WatchEvent[] = [];
    const base = await waitCounts(ds);
    const run = track(
      (async () => {
        try {
          for await (const ev of c.watch('/cluster/master', { signal: ac.signal })) seen.push(ev);
          return 'ended';
        } catch (e) {
          return (e as Error).name;
        }
      })(),
    );
    // The first event, then the watch holds waits for the next change.
    await waitsArrived(ds, base, 2);
    expect(seen).toHaveLength(1);
    ac.abort();
    // Cancelled, not ended: the iterator throws the signal's reason (an AbortError).
    expect(await within(run.promise, 5000, 'the aborted watch')).toBe('AbortError');
    await until(() => c.outstanding === 0, 'no outstanding request after the abort', 3000);
  });
});

/** Live timers of this process (the test worker); clients' timers show up here. */
function liveTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('no timer is left behind', () => {
  it('an aborted waitFor leaves no timer running', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const c = client(ds.map((d) => d.peer));
    await c.ping({ timeoutMs: 10_000 });
    await sleep(100);
    const before = liveTimers();
    const ac = new AbortController();
    const base = await waitCounts(ds);
    const w = c.waitFor({ minSerial: 9 }, { timeoutMs: 120_000, signal: ac.signal });
    await waitsArrived(ds, base);
    ac.abort();
    // An aborted wait is not a timeout: it rejects with the signal's reason.
    await expect(within(w, 5000, 'the aborted wait')).rejects.toMatchObject({ name: 'AbortError' });
    await until(() => c.outstanding === 0, 'no outstanding request', 3000);
    // Whatever the wait armed is gone soon after it returned (not after its 120 s deadline).
    await until(() => liveTimers() <= before, `timers back to ${before} (now ${liveTimers()})`, 3000);
  });
});

describe('the wait op', () => {
  it('needs etag or minSerial (bad_argument), and checks their types', async () => {
    const [d] = await serve([sampleDoc(3)]);
    const c = client([d.peer]);
    const peer = c.peerList[0];
    const ask = (req: Request) => within(c.requestOne(peer, req, { timeoutMs: 10_000 }).reply, 15_000, JSON.stringify(req));
    for (const req of [
      { op: 'wait', path: '/cluster/master' },
      { op: 'wait', path: '/cluster/master', timeoutMs: 100 },
      { op: 'wait', path: '/cluster/master', etag: null },
      { op: 'wait', path: '/cluster/master', etag: 5 },
      { op: 'wait', path: '/cluster/master', minSerial: -1 },
      { op: 'wait', path: '/cluster/master', minSerial: 'x' },
      { op: 'wait', path: '/cluster/master', minSerial: 1, timeoutMs: -5 },
      { op: 'wait', path: 'no-slash', minSerial: 1 },
      { op: 'wait', minSerial: 1 },
    ] as Request[]) {
      const r = await ask(req);
      expect(r, JSON.stringify(req)).toBeDefined();
      expect(r?.status, JSON.stringify(req)).toBe(1);
      expect(r?.error?.code, JSON.stringify(req)).toBe('bad_argument');
      expect(r?.serial).toBe(3);
    }
    const st = await fetchStats(d.port);
    expect(st.waitsBusy).toBe(0);
  });

  it('answers at once when the condition already holds; a missing path has the empty etag', async () => {
    const [d] = await serve([withMaster(3, 'node1.example.com')]);
    const c = client([d.peer]);
    const peer = c.peerList[0];
    const ask = (req: Request) => within(c.requestOne(peer, req, { timeoutMs: 10_000, retransmitMs: 0 }).reply, 15_000, JSON.stringify(req));
    const a = await ask({ op: 'wait', path: '/cluster/master', etag: 'stale-etag', timeoutMs: 20_000 });
    expect(a).toMatchObject({ status: 0, serial: 3, answer: 'node1.example.com', etag: etagOf('node1.example.com'), timedOut: false });
    const b = await ask({ op: 'wait', path: '', minSerial: 3, timeoutMs: 20_000 });
    expect(b?.status).toBe(0);
    expect(b?.timedOut).toBe(false);
    expect((b?.answer as Record<string, unknown>).serial_no).toBe(3);
    const m = await ask({ op: 'wait', path: '/nope', etag: 'x', timeoutMs: 20_000 });
    expect(m).toMatchObject({ status: 1, serial: 3, etag: '', timedOut: false });
    expect(m?.error?.code).toBe('not_found');
  });

  it('caps the hold at --max-wait: asking 10 s with --max-wait 1000 times out after about 1 s', async () => {
    const [d] = await serve([withMaster(1, 'node1.example.com')], ['--max-wait', '1000']);
    const c = client([d.peer]);
    const peer = c.peerList[0];
    const t0 = Date.now();
    const r = await within(
      holdRaw(c, peer, { op: 'wait', path: '/cluster/master', etag: etagOf('node1.example.com'), timeoutMs: 10_000 }, 15_000).reply,
      20_000,
      'the capped wait',
    );
    const elapsed = Date.now() - t0;
    expect(r?.timedOut).toBe(true);
    expect(r?.status).toBe(0);
    expect(r?.answer).toBe('node1.example.com');
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(5000);
    // No timeoutMs at all: the cap is the hold.
    const t1 = Date.now();
    const s = await within(holdRaw(c, peer, { op: 'wait', path: '', minSerial: 7 }, 15_000).reply, 20_000, 'the uncapped wait');
    expect(s?.timedOut).toBe(true);
    expect(Date.now() - t1).toBeLessThan(5000);
  });

  it('a short hold times out with the current value', async () => {
    const [d] = await serve([withMaster(1, 'node1.example.com')]);
    const c = client([d.peer]);
    const t0 = Date.now();
    const r = await within(
      holdRaw(c, c.peerList[0], { op: 'wait', path: '/cluster/master', etag: etagOf('node1.example.com'), timeoutMs: 300 }, 10_000).reply,
      15_000,
      'the short wait',
    );
    expect(r).toMatchObject({ status: 0, serial: 1, answer: 'node1.example.com', timedOut: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });
});

describe('waitFor timing out', () => {
  it('an unmet wait with every daemon up ends as a timeout, not as "no quorum"', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const c = client(ds.map((d) => d.peer));
    const t0 = Date.now();
    const r = await c.waitFor({ minSerial: 9 }, { timeoutMs: 2000 });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.met).toBe(false);
    expect(r.timedOut).toBe(true);
    // Three live daemons held the wait: they count as replies, and the error says timeout.
    expect(r.replies, JSON.stringify(r)).toBeGreaterThanOrEqual(2);
    expect(r.error?.code, JSON.stringify(r)).toBe('timeout');
    await until(() => c.outstanding === 0, 'no outstanding request', 3000);
  });

  it('with 2 of 3 daemons dead it reports no quorum', async () => {
    const ds = await serve([sampleDoc(1)]);
    const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const c = client([ds[0].peer, ...dead]);
    const r = await c.waitFor({ path: '/cluster/master', equals: 'never' }, { timeoutMs: 2000 });
    expect(r.met).toBe(false);
    expect(r.replies).toBe(1);
    expect(r.error?.code).toBe('no_quorum');
  });
});
