// The library as a long-lived agent uses it: cancellation and lifetime (close, abort, dispose),
// typed results, monotonic reads, quorum health in watches, tracing — on real daemons.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { QUERY_CHANNEL, type QueryTrace } from '../../client/tracing.js';
import type { WatchEvent } from '../../client/wait-for.js';
import { Keyring } from '../../shared/keyring.js';
import { TestDaemon, startDaemons, stopAll } from '../../testkit/daemons.js';
import { KEY_A, freePort } from '../../testkit/fixtures.js';
import { sampleDoc } from '../support/sample-doc.js';

const clients: ConfdClient[] = [];
let daemons: TestDaemon[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
process.on('unhandledRejection', onUnhandled);

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await stopAll(daemons.splice(0));
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

function client(peers: string[]): ConfdClient {
  const c = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers });
  clients.push(c);
  return c;
}

async function serve(docs: unknown[]): Promise<TestDaemon[]> {
  const ds = await startDaemons(docs.length, (i) => ({ doc: docs[i] }));
  daemons.push(...ds);
  return ds;
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('lifetime', () => {
  it('close() while a watch is iterated ends it at once with a QconfError closed, and nothing rejects unhandled later', async () => {
    const ds = await serve([sampleDoc(1), sampleDoc(1), sampleDoc(1)]);
    const c = client(ds.map((d) => d.peer));
    const seen: WatchEvent[] = [];
    const iterating = (async () => {
      try {
        for await (const ev of c.watch('/cluster/master')) seen.push(ev);
        return 'ended';
      } catch (e) {
        return (e as { code?: string }).code;
      }
    })();
    await until(() => seen.length === 1, 'the first watch event');
    const t0 = Date.now();
    c.close();
    expect(await iterating).toBe('closed');
    expect(Date.now() - t0).toBeLessThan(2000);
    // The old client died of an unhandled "client is closed" about a minute later; give any
    // straggler a few hold-and-retransmit rounds to show itself.
    await new Promise((r) => setTimeout(r, 3000));
    expect(unhandled).toEqual([]);
  });

  it('every call takes a signal: an abort rejects with its reason, never as a timeout', async () => {
    const ds = await serve([sampleDoc(1)]);
    const dead = `127.0.0.1:${await freePort()}`;
    const c = client([ds[0].peer, dead]);
    for (const call of [
      (signal: AbortSignal) => c.get('/cluster/master', { coverage: -1, timeoutMs: 30_000, signal }),
      (signal: AbortSignal) => c.mget(['/cluster/master'], { coverage: -1, timeoutMs: 30_000, signal }),
      (signal: AbortSignal) => c.list('/nodes', 1, { coverage: -1, timeoutMs: 30_000, signal }),
      (signal: AbortSignal) => c.ping({ coverage: -1, timeoutMs: 30_000, signal }),
      (signal: AbortSignal) => c.waitFor({ minSerial: 99 }, { timeoutMs: 30_000, signal }),
    ]) {
      const ac = new AbortController();
      const p = call(ac.signal);
      setTimeout(() => ac.abort(), 200);
      const t0 = Date.now();
      await expect(p).rejects.toMatchObject({ name: 'AbortError' });
      expect(Date.now() - t0).toBeLessThan(5000);
      // Already aborted: rejects before sending anything.
      await expect(call(AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
    }
    await until(() => c.outstanding === 0, 'no request left outstanding');
  });

  it('`await using` closes the client at the end of its block', async () => {
    const ds = await serve([sampleDoc(1)]);
    let escaped: ConfdClient | undefined;
    {
      await using c = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers: [ds[0].peer] });
      escaped = c;
      expect((await c.get('/cluster/master', { timeoutMs: 10_000 })).kind).toBe('ok');
    }
    expect(() => escaped?.sendRequest({ op: 'ping' })).toThrow(/closed/);
  });
});

describe('typed results', () => {
  it('a result says its kind, and parse checks and types the answer', async () => {
    const ds = await serve([sampleDoc(4)]);
    const c = client([ds[0].peer]);
    const ok = await c.get('/cluster/master', { timeoutMs: 10_000, parse: (v) => (typeof v === 'string' ? v : Number.NaN) });
    expect(ok.kind).toBe('ok');
    if (ok.kind === 'ok') expect(ok.answer.toUpperCase()).toBe('NODE1.EXAMPLE.COM');
    const missing = await c.get('/nope', { timeoutMs: 10_000 });
    expect(missing.kind).toBe('not_found');
    const bad = await c.list('/cluster/master', 1, { timeoutMs: 10_000 });
    expect([bad.kind, bad.error?.code]).toEqual(['error', 'bad_argument']);
    const refused = await c.get('/list', {
      timeoutMs: 10_000,
      parse: (v) => {
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new TypeError('expected strings');
        return v as string[];
      },
    });
    expect([refused.kind, refused.error?.code]).toEqual(['error', 'invalid_answer']);
    const dead = client([`127.0.0.1:${await freePort()}`]);
    const none = await dead.get('/cluster/master', { timeoutMs: 500 });
    expect([none.kind, none.error?.code, none.timedOut]).toEqual(['no_quorum', 'no_quorum', true]);
  });
});

describe('monotonic reads', () => {
  it('a client never returns an answer older than one it has returned: it reports no quorum instead', async () => {
    const ds = await serve([sampleDoc(5), sampleDoc(3), sampleDoc(3)]);
    const c = client(ds.map((d) => d.peer));
    const first = await c.get('/serial_no', { coverage: -1, all: true, timeoutMs: 10_000 });
    expect(first.serial).toBe(5);
    await ds[0].stop('SIGKILL');
    const after = await c.get('/serial_no', { coverage: -1, timeoutMs: 1500 });
    expect(after.kind).toBe('no_quorum');
    expect(after.error?.message).toMatch(/older than serial 5/);
  });
});

describe('waits against a cluster that goes away', () => {
  it('a path absent at the start (no etag) is not "changed" by an unrelated publish, only by appearing', async () => {
    const ds = await serve([sampleDoc(1), sampleDoc(1), sampleDoc(1)]);
    const c = client(ds.map((d) => d.peer));
    const r0 = await c.get('/later', { timeoutMs: 10_000 });
    expect(r0.kind).toBe('not_found');
    const w = c.waitFor({ path: '/later', changedFrom: r0.etag, afterSerial: r0.serial }, { timeoutMs: 30_000 });
    let settled = false;
    void w.then(() => (settled = true));
    for (const d of ds) d.writeDoc(sampleDoc(2));
    await new Promise((r) => setTimeout(r, 1500));
    expect(settled, 'met by a publish that left the path absent').toBe(false);
    for (const d of ds) d.writeDoc(sampleDoc(3, { later: 'here' }));
    const r = await w;
    expect([r.met, r.kind, r.answer]).toEqual([true, 'ok', 'here']);
  });

  it('a wait whose daemons all stop reports no quorum, not a timeout', async () => {
    const ds = await serve([sampleDoc(1), sampleDoc(1), sampleDoc(1)]);
    const c = client(ds.map((d) => d.peer));
    const w = c.waitFor({ minSerial: 999 }, { timeoutMs: 6000, holdMs: 2000 });
    await new Promise((r) => setTimeout(r, 500));
    await stopAll(ds);
    const r = await w;
    expect(r.met).toBe(false);
    expect(r.kind, JSON.stringify(r)).toBe('no_quorum');
  });

  it('a watch against dead peers says so (status events), and says when the quorum is back', async () => {
    const ds = await serve([sampleDoc(1), sampleDoc(1), sampleDoc(1)]);
    const c = client(ds.map((d) => d.peer));
    const events: WatchEvent[] = [];
    const ac = new AbortController();
    const run = (async () => {
      try {
        for await (const ev of c.watch('/cluster/master', { checkEveryMs: 1500, signal: ac.signal })) events.push(ev);
      } catch {
        /* aborted */
      }
    })();
    await until(() => events.length === 1, 'the first value');
    await Promise.all([ds[1].stop('SIGKILL'), ds[2].stop('SIGKILL')]);
    await until(() => events.some((e) => e.type === 'status' && !e.quorum), 'a lost-quorum status', 15_000);
    await Promise.all([ds[1].start(), ds[2].start()]);
    await until(() => events.some((e) => e.type === 'status' && e.quorum), 'a quorum-back status', 15_000);
    ac.abort();
    await run;
    const lost = events.find((e) => e.type === 'status' && !e.quorum);
    expect(lost).toMatchObject({ type: 'status', quorum: false, needed: 2 });
  });
});

describe('tracing', () => {
  it('every query and wait is traced on the qconf:query channel, with what it asked and what came of it', async () => {
    const ds = await serve([sampleDoc(7)]);
    const c = client([ds[0].peer]);
    const ends: QueryTrace[] = [];
    const onEnd = (m: unknown) => ends.push({ ...(m as QueryTrace) });
    subscribe(`tracing:${QUERY_CHANNEL}:asyncEnd`, onEnd);
    try {
      await c.get('/cluster/master', { timeoutMs: 10_000 });
      await c.waitFor({ minSerial: 7 }, { timeoutMs: 10_000 });
    } finally {
      unsubscribe(`tracing:${QUERY_CHANNEL}:asyncEnd`, onEnd);
    }
    expect(ends).toHaveLength(2);
    expect(ends[0]).toMatchObject({ op: 'get', path: '/cluster/master', peers: 1, sent: 1, replies: 1, serial: 7, outcome: 'ok' });
    expect(ends[0].durationMs).toBeGreaterThan(0);
    expect(ends[1]).toMatchObject({ op: 'wait', serial: 7, outcome: 'ok' });
  });
});
