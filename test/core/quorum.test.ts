// Quorum reads over real UDP on loopback against real qconfd child processes: the needed-reply
// rule, newest serial wins, inconsistency, dead daemons, strict mode, hedging to a spare peer,
// and the Ganeti-style API (sendRequest, upcalls, waitForReply, callbacks, close).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CountingCallback, FilterCallback, StoreResultCallback } from '../../client/callbacks.js';
import type { ExpireUpcall, ReplyUpcall, Upcall } from '../../client/types.js';
import { Keyring } from '../../shared/keyring.js';
import { neededReplies } from '../../client/quorum-rule.js';
import { TestDaemon, runCli, startDaemons, stopAll } from '../../testkit/daemons.js';
import { KEY_A, freePort, tempDir, writeKeyFile } from '../../testkit/fixtures.js';
import { sampleDoc, withMaster } from '../support/sample-doc.js';
import { trackEach, type ClientOptions } from '../support/tracked.js';
import { until } from '../support/until.js';
import { startRelay, type UdpRelay } from '../support/relay.js';

const owned = trackEach();
const client = (peers: string[], extra: Partial<ClientOptions> = {}) => owned.client(peers, extra);
/** Daemons serving the given documents (one per daemon), released after each test. */
const serve = (docs: unknown[]) => owned.serve(docs, 'd');

/** A peer address where nothing listens (a port that was free a moment ago). */
async function deadPeer(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

describe('needed replies against 1 to 7 live daemons', () => {
  let seven: TestDaemon[] = [];
  beforeAll(async () => {
    seven = await startDaemons(7, (i) => ({ doc: sampleDoc(5), nodeName: `q${i}` }));
  });
  afterAll(async () => {
    await stopAll(seven);
  });

  it('matches neededReplies for 1, 2, 3, 4, 5 and 7 peers with coverage all', async () => {
    const expected: Record<number, number> = { 1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 7: 4 };
    for (const [n, needed] of Object.entries(expected).map(([k, v]) => [Number(k), v])) {
      expect(neededReplies(n)).toBe(needed);
      const peers = seven.slice(0, n).map((d) => d.peer);
      const r = await client(peers).get<string>('/cluster/master', { coverage: -1, timeoutMs: 10_000 });
      expect(r.timedOut, `n=${n}: ${JSON.stringify(r)}`).toBe(false);
      expect(r.needed, `n=${n}`).toBe(needed);
      expect(r.sent, `n=${n}`).toBe(n);
      expect(r.replies).toBeGreaterThanOrEqual(needed);
      expect(r.replies).toBeLessThanOrEqual(n);
      expect(r.peers).toHaveLength(r.replies);
      expect(new Set(r.peers.map((p) => p.peer)).size).toBe(r.replies);
      expect(r.status).toBe(0);
      expect(r.answer).toBe('node1.example.com');
      expect(r.serial).toBe(5);
      expect(r.consistent).toBe(true);
      expect(r.agreeing).toBe(r.replies);
    }
  });

  it('uses the default coverage min(peers, 6): 1..5 peers ask all of them, 7 peers ask 6 and need 4', async () => {
    for (const n of [1, 2, 3, 4, 5]) {
      const peers = seven.slice(0, n).map((d) => d.peer);
      const r = await client(peers).ping({ timeoutMs: 10_000, retransmitMs: 3000 });
      expect(r.timedOut).toBe(false);
      expect(r.needed).toBe(neededReplies(n));
      expect(r.sent).toBe(n);
    }
    // A long first retransmission keeps the client from hedging to the 7th peer, so `sent`
    // is exactly the coverage.
    const r = await client(seven.map((d) => d.peer)).ping({ timeoutMs: 10_000, retransmitMs: 5000 });
    expect(r.timedOut).toBe(false);
    expect(r.needed).toBe(4);
    expect(r.sent).toBe(6);
    expect(r.replies).toBeGreaterThanOrEqual(4);
    expect(r.replies).toBeLessThanOrEqual(6);
    expect(new Set(r.peers.map((p) => p.peer)).size).toBe(r.replies);
  });

  it('refuses a coverage larger than the peer list', async () => {
    const c = client(seven.slice(0, 3).map((d) => d.peer));
    await expect(c.get('/cluster/master', { coverage: 4 })).rejects.toMatchObject({ code: 'usage' });
  });
});

describe('newest serial and consistency', () => {
  it('prefers the newest serial when one replica is behind (2 peers, both heard)', async () => {
    const ds = await serve([withMaster(7, 'node2.example.com'), withMaster(6, 'node1.example.com')]);
    for (let i = 0; i < 5; i++) {
      const r = await client(ds.map((d) => d.peer)).get<string>('/cluster/master', { timeoutMs: 10_000 });
      expect(r.timedOut).toBe(false);
      expect(r.replies).toBe(2);
      expect(r.serial).toBe(7);
      expect(r.answer).toBe('node2.example.com');
      expect(r.agreeing).toBe(1);
      // Different serials are not an inconsistency.
      expect(r.consistent).toBe(true);
      expect(r.peers.map((p) => p.serial).sort()).toEqual([6, 7]);
    }
  });

  it('prefers the newest serial with 3 replicas, one behind (any quorum of 2 includes a new one)', async () => {
    const ds = await serve([withMaster(7, 'node2.example.com'), withMaster(7, 'node2.example.com'), withMaster(6, 'node1.example.com')]);
    for (let i = 0; i < 10; i++) {
      const r = await client(ds.map((d) => d.peer)).get<string>('/cluster/master', { timeoutMs: 10_000 });
      expect(r.timedOut).toBe(false);
      expect(r.needed).toBe(2);
      expect(r.serial).toBe(7);
      expect(r.answer).toBe('node2.example.com');
      expect(r.consistent).toBe(true);
    }
  });

  it('reports consistent: false for two replicas of one serial with different documents, and the CLI warns', async () => {
    const ds = await serve([withMaster(9, 'node1.example.com'), withMaster(9, 'node2.example.com')]);
    const r = await client(ds.map((d) => d.peer)).get<string>('/cluster/master', { timeoutMs: 10_000 });
    expect(r.timedOut).toBe(false);
    expect(r.replies).toBe(2);
    expect(r.serial).toBe(9);
    expect(r.consistent).toBe(false);
    expect(r.agreeing).toBe(1);
    expect(['node1.example.com', 'node2.example.com']).toContain(r.answer);

    // A path where the documents agree stays consistent.
    const same = await client(ds.map((d) => d.peer)).get('/cluster/name', { timeoutMs: 10_000 });
    expect(same.consistent).toBe(true);
    expect(same.agreeing).toBe(2);

    const keyFile = writeKeyFile(tempDir(), [KEY_A]);
    const cli = await runCli(['get', '/cluster/master', '--peers', ds.map((d) => d.peer).join(','), '--key-file', keyFile, '--timeout', '10000']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/disagree/);
    expect(cli.stderr).toMatch(/consistent: false/);
    expect(['node1.example.com\n', 'node2.example.com\n']).toContain(cli.stdout);
    const quiet = await runCli(['get', '/cluster/name', '--peers', ds.map((d) => d.peer).join(','), '--key-file', keyFile, '--timeout', '10000']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toMatch(/disagree/);
  });
});

describe('dead daemons', () => {
  it('answers with 2 of 5 daemons killed (needed 3), honestly reporting sent 5 and replies 3', async () => {
    const ds = await serve(Array.from({ length: 5 }, () => sampleDoc(5)));
    await Promise.all([ds[1].stop('SIGKILL'), ds[3].stop('SIGKILL')]);
    const alive = new Set([ds[0].peer, ds[2].peer, ds[4].peer]);
    for (let i = 0; i < 3; i++) {
      const r = await client(ds.map((d) => d.peer)).get<string>('/cluster/master', { coverage: -1, timeoutMs: 10_000 });
      expect(r.timedOut).toBe(false);
      expect(r.answer).toBe('node1.example.com');
      expect(r.needed).toBe(3);
      expect(r.sent).toBe(5);
      expect(r.replies).toBe(3);
      for (const p of r.peers) expect(alive.has(p.peer)).toBe(true);
    }
  });

  it('answers with 1 of 3 daemons killed under the default coverage', async () => {
    const ds = await serve([sampleDoc(5), sampleDoc(5), sampleDoc(5)]);
    await ds[0].stop('SIGKILL');
    const r = await client(ds.map((d) => d.peer)).get<string>('/cluster/master', { timeoutMs: 10_000 });
    expect(r.timedOut).toBe(false);
    expect(r.answer).toBe('node1.example.com');
    expect(r.sent).toBe(3);
    expect(r.replies).toBe(2);
    expect(r.peers.map((p) => p.peer)).not.toContain(ds[0].peer);
  });

  it('times out below quorum (3 of 5 killed) within the timeout, with honest sent and replies', async () => {
    const ds = await serve(Array.from({ length: 5 }, () => sampleDoc(5)));
    await Promise.all([ds[0].stop('SIGKILL'), ds[1].stop('SIGKILL'), ds[2].stop('SIGKILL')]);
    const timeoutMs = 2000;
    const t0 = Date.now();
    const r = await client(ds.map((d) => d.peer)).get('/cluster/master', { coverage: -1, timeoutMs });
    const elapsed = Date.now() - t0;
    expect(r.timedOut).toBe(true);
    expect(r.needed).toBe(3);
    expect(r.sent).toBe(5);
    expect(r.replies).toBe(2);
    expect(r.peers.map((p) => p.peer).sort()).toEqual([ds[3].peer, ds[4].peer].sort());
    expect(r.error?.code).toBe('no_quorum');
    // Gave up at its timeout rather than hanging (generous slack for a loaded machine).
    expect(elapsed).toBeLessThan(timeoutMs + 5000);
  });

  it('times out with replies 0 when every daemon is dead', async () => {
    const peers = [await deadPeer(), await deadPeer(), await deadPeer()];
    const r = await client(peers).get('/cluster/master', { timeoutMs: 1500 });
    expect(r.timedOut).toBe(true);
    expect(r.status).toBeNull();
    expect(r.sent).toBe(3);
    expect(r.replies).toBe(0);
    expect(r.peers).toEqual([]);
  });
});

describe('strict mode', () => {
  it('waits until agreeing >= needed: two serial-5 replicas agree, one is behind', async () => {
    const ds = await serve([withMaster(5, 'node2.example.com'), withMaster(4, 'node1.example.com'), withMaster(5, 'node2.example.com')]);
    for (let i = 0; i < 8; i++) {
      const r = await client(ds.map((d) => d.peer)).get<string>('/cluster/master', { strict: true, timeoutMs: 10_000 });
      expect(r.timedOut, JSON.stringify(r)).toBe(false);
      expect(r.agreeing).toBeGreaterThanOrEqual(2);
      expect(r.serial).toBe(5);
      expect(r.answer).toBe('node2.example.com');
    }
  });

  it('times out when no two replicas agree, while a non-strict query answers', async () => {
    // Every pair of replies disagrees in serial or answer: agreeing can never reach 2.
    const ds = await serve([withMaster(5, 'node2.example.com'), withMaster(4, 'node1.example.com'), withMaster(3, 'node3.example.com')]);
    const peers = ds.map((d) => d.peer);
    const timeoutMs = 3000;
    const t0 = Date.now();
    const strict = await client(peers).get<string>('/cluster/master', { strict: true, timeoutMs });
    expect(Date.now() - t0).toBeLessThan(timeoutMs + 5000);
    expect(strict.timedOut).toBe(true);
    expect(strict.agreeing).toBe(1);
    expect(strict.replies).toBe(3);
    expect(strict.sent).toBe(3);
    expect(strict.error?.code).toBe('no_quorum');

    const loose = await client(peers).get<string>('/cluster/master', { timeoutMs: 10_000 });
    expect(loose.timedOut).toBe(false);
    expect(loose.agreeing).toBe(1);
  });

  it('times out when agreement would need a dead daemon', async () => {
    const ds = await serve([withMaster(5, 'node2.example.com'), withMaster(4, 'node1.example.com'), withMaster(5, 'node2.example.com')]);
    await ds[2].stop('SIGKILL');
    const timeoutMs = 2000;
    const t0 = Date.now();
    const r = await client(ds.map((d) => d.peer)).get<string>('/cluster/master', { strict: true, timeoutMs });
    expect(Date.now() - t0).toBeLessThan(timeoutMs + 5000);
    expect(r.timedOut).toBe(true);
    expect(r.sent).toBe(3);
    expect(r.replies).toBe(2);
    expect(r.agreeing).toBe(1);
    // The same query without strict mode has its quorum of replies.
    const loose = await client(ds.map((d) => d.peer)).get<string>('/cluster/master', { timeoutMs: 10_000 });
    expect(loose.timedOut).toBe(false);
    expect(loose.serial).toBe(5);
  });
});

describe('hedging to a spare peer', () => {
  // Every peer sits behind a transparent relay so the test sees exactly which peers the client
  // contacted; a relay with no target is a dead daemon (a black hole).
  async function setup(live: number, dead: number): Promise<{ peers: string[]; relays: UdpRelay[]; deadRelays: UdpRelay[] }> {
    const ds = await serve(Array.from({ length: live }, () => sampleDoc(5)));
    const liveRelays = await Promise.all(ds.map((d) => startRelay(d.front())));
    const deadRelays = await Promise.all(Array.from({ length: dead }, () => startRelay({})));
    const all = [...liveRelays, ...deadRelays];
    owned.relays.push(...all);
    return { peers: all.map((r) => r.peer), relays: all, deadRelays };
  }

  async function contacted(rs: UdpRelay[], sent: number): Promise<number> {
    // The client sends synchronously before it resolves; let the relay drain its socket.
    const count = () => rs.filter((r) => r.stats.toDaemon.received > 0).length;
    await until(() => count() >= sent, 'the relays to see every transmission', 5000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    return count();
  }

  it('4 peers, coverage 3, 2 dead: every query reaches quorum well before its timeout by asking the spare', async () => {
    const { peers, relays: rs, deadRelays } = await setup(2, 2);
    const c = client(peers);
    let hedged = 0;
    for (let i = 0; i < 16; i++) {
      for (const r of rs) r.resetStats();
      const t0 = Date.now();
      const r = await c.get<string>('/cluster/master', { coverage: 3, timeoutMs: 5000 });
      expect(r.timedOut, JSON.stringify(r)).toBe(false);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(r.needed).toBe(2);
      expect(r.replies).toBe(2);
      expect(r.answer).toBe('node1.example.com');
      const n = await contacted(rs, r.sent);
      // `sent` is exactly the number of distinct peers the client contacted.
      expect(r.sent).toBe(n);
      const deadAsked = deadRelays.filter((d) => d.stats.toDaemon.received > 0).length;
      // Both dead peers among the three targets: only the spare could make the quorum.
      if (deadAsked === 2) {
        expect(r.sent).toBe(4);
        hedged++;
      }
    }
    // Each query picks both dead peers with probability 1/2; 16 tries.
    expect(hedged).toBeGreaterThan(0);
  });

  it('4 peers, coverage 3, 1 dead: succeeds with an honest `sent` whether or not the dead one was chosen', async () => {
    const { peers, relays: rs, deadRelays } = await setup(3, 1);
    const c = client(peers);
    let deadChosen = 0;
    for (let i = 0; i < 12; i++) {
      for (const r of rs) r.resetStats();
      const r = await c.get<string>('/cluster/master', { coverage: 3, timeoutMs: 5000 });
      expect(r.timedOut).toBe(false);
      expect(r.replies).toBeGreaterThanOrEqual(2);
      expect(r.sent).toBeGreaterThanOrEqual(3);
      expect(r.sent).toBeLessThanOrEqual(4);
      expect(r.sent).toBe(await contacted(rs, r.sent));
      if (deadRelays[0].stats.toDaemon.received > 0) deadChosen++;
    }
    expect(deadChosen).toBeGreaterThan(0);
  });

  it('4 peers, coverage 2, 2 dead: a query whose two daemons are both dead asks two spares at its first retransmission', async () => {
    const { peers, relays: rs, deadRelays } = await setup(2, 2);
    const c = client(peers);
    // The first retransmission comes after 240–360 ms, the second 480–720 ms later: past the
    // timeout, so a query gets one round of spares. A dead daemon asked first receives the
    // request twice (sent, then retransmitted); one asked as a spare, once.
    const RETRANSMIT_MS = 300;
    const TIMEOUT_MS = 650;
    let bothDeadFirst = 0;
    for (let i = 0; i < 60 && bothDeadFirst < 3; i++) {
      for (const r of rs) r.resetStats();
      const r = await c.get<string>('/cluster/master', { coverage: 2, timeoutMs: TIMEOUT_MS, retransmitMs: RETRANSMIT_MS });
      await contacted(rs, r.sent);
      if (!deadRelays.every((d) => d.stats.toDaemon.received === 2)) continue;
      bothDeadFirst++;
      // One spare a round would have found one reply of the two needed by the timeout.
      expect(r.timedOut, JSON.stringify(r)).toBe(false);
      expect(r.sent).toBe(4);
      expect(r.answer).toBe('node1.example.com');
    }
    // Each query asks both dead daemons first with probability 1/6.
    expect(bothDeadFirst).toBeGreaterThan(0);
  });

  it('a query whose daemons are all dead asks at most three spares per daemon first asked', async () => {
    const peers = await Promise.all(Array.from({ length: 8 }, () => deadPeer()));
    const c = client(peers);
    // Retransmissions at about 0.2, 0.6, 1.4, 2.4, 3.4 and 4.4 s: each would ask another spare.
    const r = await c.get('/cluster/master', { coverage: 1, timeoutMs: 5000 });
    expect(r.timedOut).toBe(true);
    expect(r.sent).toBe(4);
  });
});

describe('Ganeti-style API', () => {
  it('sendRequest: one reply upcall per peer, then an expire upcall with sent and received', async () => {
    const ds = await serve([sampleDoc(5), sampleDoc(5), sampleDoc(5)]);
    const upcalls: Upcall[] = [];
    const c = client(ds.map((d) => d.peer), { callback: (u) => upcalls.push(u) });
    const id = c.sendRequest({ op: 'get', path: '/cluster/master' }, { coverage: -1, expireMs: 1500, args: { tag: 'x' } });
    const w = await c.waitForReply(id, 1500);
    expect(w.timedOut).toBe(false);
    expect(w.sent).toBe(3);
    expect(w.received).toBeGreaterThanOrEqual(2);
    await until(() => upcalls.some((u) => u.type === 'expire'), 'the expire upcall');
    const replies = upcalls.filter((u): u is ReplyUpcall => u.type === 'reply');
    const expires = upcalls.filter((u): u is ExpireUpcall => u.type === 'expire');
    expect(replies).toHaveLength(3);
    expect(new Set(replies.map((u) => u.peer.label))).toEqual(new Set(ds.map((d) => d.peer)));
    for (const u of replies) {
      expect(u.id).toBe(id);
      expect(u.args).toEqual({ tag: 'x' });
      expect(u.request).toEqual({ op: 'get', path: '/cluster/master' });
      expect(u.reply.status).toBe(0);
      expect(u.reply.answer).toBe('node1.example.com');
      expect(u.reply.serial).toBe(5);
    }
    expect(expires).toHaveLength(1);
    expect(expires[0]).toMatchObject({ id, sent: 3, received: 3, args: { tag: 'x' } });
    expect(c.outstanding).toBe(0);
    // Expired: waiting on it again reports a timeout with nothing sent.
    expect(await c.waitForReply(id, 100)).toEqual({ timedOut: true, sent: 0, received: 0 });
  });

  it('waitForReply times out below quorum and the expire upcall reports what happened', async () => {
    const ds = await serve([sampleDoc(5)]);
    const peers = [ds[0].peer, await deadPeer(), await deadPeer()];
    const upcalls: Upcall[] = [];
    const c = client(peers, { callback: (u) => upcalls.push(u) });
    const id = c.sendRequest({ op: 'ping' }, { coverage: -1, expireMs: 500 });
    const w = await c.waitForReply(id, 1000);
    expect(w).toEqual({ timedOut: true, sent: 3, received: 1 });
    const expires = upcalls.filter((u): u is ExpireUpcall => u.type === 'expire');
    expect(expires).toHaveLength(1);
    expect(expires[0]).toMatchObject({ id, sent: 3, received: 1 });
    expect(upcalls.filter((u) => u.type === 'reply')).toHaveLength(1);
    expect(c.outstanding).toBe(0);
  });

  it('chains Counting → Filter → Store against daemons with different serials', async () => {
    const ds = await serve([withMaster(3, 'node-old.example.com'), withMaster(5, 'node-new.example.com'), withMaster(4, 'node-mid.example.com')]);
    const store = new StoreResultCallback();
    const filter = new FilterCallback(store.handle);
    const counting = new CountingCallback(filter.handle);
    const c = client(ds.map((d) => d.peer), { callback: counting.handle });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = c.sendRequest({ op: 'get', path: '/cluster/master' }, { coverage: -1, expireMs: 20_000 });
      counting.registerQuery(id);
      ids.push(id);
    }
    expect(() => counting.registerQuery(ids[0])).toThrow();
    for (const id of ids) expect((await c.waitForReply(id, 10_000)).timedOut).toBe(false);
    await until(() => ids.every((id) => counting.count(id) === 3), 'three replies for every request');
    expect(counting.allAnswered()).toBe(true);
    for (const id of ids) {
      const [found, up] = store.getResponse(id);
      expect(found).toBe(true);
      // Whatever order the replies came in, the stored one is the newest serial's.
      expect(up?.reply.serial).toBe(5);
      expect(up?.reply.answer).toBe('node-new.example.com');
      expect(filter.consistent(id)).toBe(true);
    }
    expect(store.getResponse('no-such-id')).toEqual([false, undefined]);
    c.close();
    // close() expired every request; Counting and Filter forget them, Store keeps its results.
    for (const id of ids) {
      expect(counting.count(id)).toBeUndefined();
      expect(filter.consistent(id)).toBeUndefined();
      expect(store.getResponse(id)[0]).toBe(true);
    }
  });

  it('FilterCallback marks a request inconsistent when one serial carries two answers', async () => {
    const ds = await serve([withMaster(8, 'node1.example.com'), withMaster(8, 'node2.example.com')]);
    const store = new StoreResultCallback();
    const filter = new FilterCallback(store.handle);
    const counting = new CountingCallback(filter.handle);
    const c = client(ds.map((d) => d.peer), { callback: counting.handle });
    const id = c.sendRequest({ op: 'get', path: '/cluster/master' }, { coverage: -1, expireMs: 20_000 });
    counting.registerQuery(id);
    await until(() => counting.count(id) === 2, 'both replies');
    expect(filter.consistent(id)).toBe(false);
    const [found, up] = store.getResponse(id);
    expect(found).toBe(true);
    expect(up?.reply.serial).toBe(8);
  });

  it('close() expires outstanding requests with upcalls, rejects calls in progress, ends sockets and timers, and refuses new requests', async () => {
    const ds = await serve([sampleDoc(5)]);
    const count = (name: string) => process.getActiveResourcesInfo().filter((r) => r === name).length;
    const udpBefore = count('UDPWrap');
    const timersBefore = count('Timeout');
    const upcalls: Upcall[] = [];
    const peers = [ds[0].peer, await deadPeer(), await deadPeer()];
    const c = client(peers, { callback: (u) => upcalls.push(u), expireMs: 60_000 });
    const a = c.sendRequest({ op: 'ping' }, { coverage: -1 });
    const b = c.sendRequest({ op: 'get', path: '/cluster/master' }, { coverage: -1 });
    const q = c.get('/cluster/name', { coverage: -1, timeoutMs: 60_000 });
    // The live daemon answers each request; quorum (2 of 3) is out of reach.
    await until(() => upcalls.filter((u) => u.type === 'reply').length >= 3, 'the live daemon\'s replies');
    expect(c.outstanding).toBe(3);
    c.close();
    expect(c.outstanding).toBe(0);
    const expires = upcalls.filter((u): u is ExpireUpcall => u.type === 'expire');
    expect(expires.map((e) => e.id).sort()).toEqual(expect.arrayContaining([a, b].sort()));
    expect(expires).toHaveLength(3);
    for (const e of expires) expect(e).toMatchObject({ sent: 3, received: 1 });
    // A call in progress is not left hanging: it rejects at once, with a typed error.
    await expect(q).rejects.toMatchObject({ name: 'QconfError', code: 'closed' });
    expect(() => c.sendRequest({ op: 'ping' })).toThrow(/closed/);
    c.close(); // idempotent
    await until(() => count('UDPWrap') <= udpBefore && count('Timeout') <= timersBefore, 'the client\'s sockets and timers to end', 5000);
  });
});
