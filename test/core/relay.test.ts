// The client through a faulty network: a seeded UDP relay (test/support/relay.ts) between the
// client and real qconfd daemons drops, duplicates, delays and reorders datagrams in both
// directions. Retransmission must recover, and duplicates must never count twice.
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import type { ExpireUpcall, Upcall } from '../../client/types.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { freePort } from '../../testkit/fixtures.js';
import { sampleDoc, withMaster } from '../support/sample-doc.js';
import { trackEach, type ClientOptions } from '../support/tracked.js';
import { until } from '../support/until.js';
import { UdpRelay, startRelay, type FaultSpec } from '../support/relay.js';

const owned = trackEach();
const client = (peers: string[], extra: Partial<ClientOptions> = {}) => owned.client(peers, extra);
const serve = (docs: unknown[]) => owned.serve(docs, 'r');

/** A relay in front of `d` (or of nothing), with seeded faults each way. */
function relayTo(d: TestDaemon | undefined, seed: number, toDaemon: FaultSpec = {}, toClient: FaultSpec = {}): Promise<UdpRelay> {
  return owned.relay({ ...d?.front(), seed, toDaemon, toClient });
}

/** Paths of sampleDoc and their values, to check that every answer belongs to its query. */
const QUERIES: Array<[string, unknown]> = [
  ['/cluster/master', 'node1.example.com'],
  ['/cluster/name', 'test.example.com'],
  ['/list/1', 20],
  ['/nodes/node2.example.com/primary_ip', '192.0.2.12'],
  ['/a~1b/m~0n', 1],
];

describe('the relay helper', () => {
  it('is deterministic for a seed: the same datagram sequence meets the same fate', async () => {
    async function fates(seed: number): Promise<number[]> {
      const sink = dgram.createSocket('udp4');
      const got: number[] = [];
      sink.on('message', (m) => got.push(m.readUInt32BE(0)));
      await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
      const relay = await startRelay({ target: { host: '127.0.0.1', port: sink.address().port }, seed, toDaemon: { drop: 0.5, duplicate: 0.2 } });
      const src = dgram.createSocket('udp4');
      try {
        for (let i = 0; i < 200; i++) {
          const b = Buffer.alloc(4);
          b.writeUInt32BE(i);
          await new Promise<void>((r) => src.send(b, relay.port, '127.0.0.1', () => r()));
        }
        await until(() => relay.stats.toDaemon.received === 200 && got.length === relay.stats.toDaemon.forwarded, 'the relay to pass 200 datagrams');
        const s = relay.stats.toDaemon;
        expect(s.dropped + (s.forwarded - s.duplicated)).toBe(200);
        return got;
      } finally {
        src.close();
        sink.close();
        await relay.close();
      }
    }
    const a = await fates(7);
    const b = await fates(7);
    const c = await fates(8);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const distinct = new Set(a).size;
    expect(distinct).toBeGreaterThan(60);
    expect(distinct).toBeLessThan(140);
    expect(a.length).toBeGreaterThan(distinct); // some were duplicated
  });
});

describe('loss', () => {
  it('recovers every query by retransmission under 50% loss in each direction (1 daemon)', async () => {
    const [d] = await serve([sampleDoc(5)]);
    const relay = await relayTo(d, 42, { drop: 0.5 }, { drop: 0.5 });
    const c = client([relay.peer]);
    // 40 queries, 20 at a time. Each attempt gets through both ways with probability 1/4;
    // retransmissions (25 ms doubling to 1 s) give ~30 attempts within the 30 s timeout.
    for (let batch = 0; batch < 2; batch++) {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const [path, value] = QUERIES[(batch * 20 + i) % QUERIES.length];
          return c.get(path, { timeoutMs: 30_000, retransmitMs: 25 }).then((r) => ({ r, path, value }));
        }),
      );
      for (const { r, path, value } of results) {
        expect(r.timedOut, `${path}: ${JSON.stringify(r)}`).toBe(false);
        expect(r.status).toBe(0);
        expect(r.answer).toEqual(value);
        expect(r.replies).toBe(1);
        expect(r.sent).toBe(1);
      }
    }
    const s = relay.stats;
    // The relay really lost about half of what it saw, both ways.
    for (const dir of [s.toDaemon, s.toClient]) {
      expect(dir.received).toBeGreaterThanOrEqual(40);
      expect(dir.dropped / dir.received).toBeGreaterThan(0.3);
      expect(dir.dropped / dir.received).toBeLessThan(0.7);
    }
    expect(c.outstanding).toBe(0);
  }, 120_000);

  it('reaches quorum on every query with 3 daemons, each behind its own 50%/50% lossy relay', async () => {
    const ds = await serve([sampleDoc(6), sampleDoc(6), sampleDoc(6)]);
    const rs = await Promise.all(ds.map((d, i) => relayTo(d, 100 + i, { drop: 0.5 }, { drop: 0.5 })));
    const c = client(rs.map((r) => r.peer));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const [path, value] = QUERIES[i % QUERIES.length];
        return c.get(path, { timeoutMs: 30_000, retransmitMs: 25 }).then((r) => ({ r, value }));
      }),
    );
    for (const { r, value } of results) {
      expect(r.timedOut, JSON.stringify(r)).toBe(false);
      expect(r.answer).toEqual(value);
      expect(r.serial).toBe(6);
      expect(r.needed).toBe(2);
      expect(r.sent).toBe(3);
      expect(r.replies).toBeGreaterThanOrEqual(2);
      expect(r.replies).toBeLessThanOrEqual(3);
      expect(new Set(r.peers.map((p) => p.peer)).size).toBe(r.replies);
    }
    for (const r of rs) expect(r.stats.toDaemon.dropped).toBeGreaterThan(0);
  });
});

describe('duplicates never count twice', () => {
  const DUP3: FaultSpec = { duplicate: 1, copies: 3 }; // every reply arrives 4 times

  it('one daemon whose every reply is duplicated 3 times: replies === 1, and one reply upcall', async () => {
    const [d] = await serve([sampleDoc(5)]);
    const relay = await relayTo(d, 1, {}, DUP3);
    const upcalls: Upcall[] = [];
    const c = client([relay.peer], { callback: (u) => upcalls.push(u) });
    for (let i = 0; i < 5; i++) {
      const r = await c.get('/cluster/master', { coverage: 1, timeoutMs: 10_000 });
      expect(r.timedOut).toBe(false);
      expect(r.replies).toBe(1);
      expect(r.agreeing).toBe(1);
      expect(r.peers).toHaveLength(1);
    }
    // Over a request's whole life (until it expires), the copies give one reply upcall.
    upcalls.length = 0;
    relay.resetStats();
    const id = c.sendRequest({ op: 'get', path: '/cluster/master' }, { coverage: 1, expireMs: 1500 });
    await until(() => upcalls.some((u) => u.type === 'expire'), 'the expire upcall');
    expect(relay.stats.toClient.forwarded).toBeGreaterThanOrEqual(4);
    expect(upcalls.filter((u) => u.type === 'reply')).toHaveLength(1);
    const exp = upcalls.find((u): u is ExpireUpcall => u.type === 'expire');
    expect(exp).toMatchObject({ id, sent: 1, received: 1 });
  });

  it('a single duplicated reply cannot make a quorum of 2 (3 peers, 2 dead)', async () => {
    const [d] = await serve([sampleDoc(5)]);
    const relay = await relayTo(d, 2, {}, DUP3);
    const dead1 = await relayTo(undefined, 3);
    const dead2 = await relayTo(undefined, 4);
    const peers = [relay.peer, dead1.peer, dead2.peer];
    const r = await client(peers).get('/cluster/master', { coverage: -1, timeoutMs: 2000 });
    expect(relay.stats.toClient.forwarded).toBeGreaterThanOrEqual(4);
    // Counted per copy, 4 copies would pass needed = 2.
    expect(r.needed).toBe(2);
    expect(r.timedOut).toBe(true);
    expect(r.replies).toBe(1);
    expect(r.sent).toBe(3);
    expect(r.agreeing).toBe(1);

    const w = client(peers);
    const id = w.sendRequest({ op: 'ping' }, { coverage: -1, expireMs: 500 });
    expect(await w.waitForReply(id, 1000)).toEqual({ timedOut: true, sent: 3, received: 1 });
  });

  it('two duplicating relays and a dead peer: replies === 2 exactly, and strict mode is not fooled', async () => {
    const ds = await serve([sampleDoc(5), sampleDoc(5)]);
    const rs = [await relayTo(ds[0], 5, {}, DUP3), await relayTo(ds[1], 6, {}, DUP3), await relayTo(undefined, 7)];
    const c = client(rs.map((r) => r.peer));
    for (let i = 0; i < 5; i++) {
      const r = await c.get('/cluster/master', { coverage: -1, timeoutMs: 10_000 });
      expect(r.timedOut).toBe(false);
      expect(r.needed).toBe(2);
      expect(r.sent).toBe(3);
      expect(r.replies).toBe(2);
      expect(r.agreeing).toBe(2);
      expect(new Set(r.peers.map((p) => p.peer))).toEqual(new Set([rs[0].peer, rs[1].peer]));
    }
  });

  it('strict: a duplicated newest reply does not agree with itself', async () => {
    // Serial 6 alone (its reply arrives 4 times), serial 5 alone, third peer dead. Agreement on
    // the winner is 1; counting copies would make it 4 and pass strict mode.
    const ds = await serve([withMaster(6, 'node2.example.com'), withMaster(5, 'node1.example.com')]);
    const rs = [await relayTo(ds[0], 8, {}, DUP3), await relayTo(ds[1], 9, {}, DUP3), await relayTo(undefined, 10)];
    const r = await client(rs.map((x) => x.peer)).get('/cluster/master', { coverage: -1, strict: true, timeoutMs: 2000 });
    expect(r.timedOut).toBe(true);
    expect(r.serial).toBe(6);
    expect(r.agreeing).toBe(1);
    expect(r.replies).toBe(2);
    expect(r.sent).toBe(3);
  });

  it('duplicated requests get one reply each: the daemon drops the copies as replays', async () => {
    const [d] = await serve([sampleDoc(5)]);
    const relay = await relayTo(d, 11, { duplicate: 1, copies: 2 }, {});
    const c = client([relay.peer]);
    for (let i = 0; i < 5; i++) {
      const r = await c.get('/cluster/master', { timeoutMs: 10_000 });
      expect(r.timedOut).toBe(false);
      expect(r.replies).toBe(1);
    }
    // Ask the daemon directly (not through the relay) for its counters.
    const direct = client([d.peer]);
    const stats = await direct.query<{ drops: Record<string, number>; requests: { qcf1: Record<string, number> } }>({ op: 'stats' }, { timeoutMs: 10_000 });
    expect(stats.timedOut).toBe(false);
    const sent = relay.stats.toDaemon;
    expect(sent.forwarded).toBe(sent.received * 3);
    expect(stats.answer?.drops.replay).toBe(sent.received * 2);
    expect(stats.answer?.requests.qcf1.get).toBe(sent.received);
  });
});

describe('delay and reordering', () => {
  it('answers every query correctly through 3 relays that delay and reorder both ways', async () => {
    const ds = await serve([sampleDoc(5), sampleDoc(5), sampleDoc(5)]);
    const chaos: FaultSpec = { delayMs: [0, 150], reorder: 0.5, reorderHoldMs: 300 };
    const rs = await Promise.all(ds.map((d, i) => relayTo(d, 20 + i, chaos, chaos)));
    const c = client(rs.map((r) => r.peer));
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const [path, value] = QUERIES[i % QUERIES.length];
        return c.get(path, { timeoutMs: 20_000 }).then((r) => ({ r, path, value }));
      }),
    );
    for (const { r, path, value } of results) {
      expect(r.timedOut, `${path}: ${JSON.stringify(r)}`).toBe(false);
      // Replies to other queries, arriving out of order, never answer this one.
      expect(r.answer, path).toEqual(value);
      expect(r.replies).toBeLessThanOrEqual(3);
      expect(new Set(r.peers.map((p) => p.peer)).size).toBe(r.replies);
    }
    expect(rs.reduce((n, r) => n + r.stats.toClient.reordered + r.stats.toDaemon.reordered, 0)).toBeGreaterThan(0);
  });

  it('survives loss, duplication, delay and reordering at once (3 daemons, one behind on serial)', async () => {
    const ds = await serve([withMaster(8, 'node2.example.com'), withMaster(8, 'node2.example.com'), withMaster(7, 'node1.example.com')]);
    const spec: FaultSpec = { drop: 0.3, duplicate: 0.5, copies: 2, delayMs: [0, 100], reorder: 0.3 };
    const rs = await Promise.all(ds.map((d, i) => relayTo(d, 30 + i, spec, spec)));
    const c = client(rs.map((r) => r.peer));
    const results = await Promise.all(Array.from({ length: 30 }, () => c.get('/cluster/master', { timeoutMs: 30_000, retransmitMs: 50 })));
    for (const r of results) {
      expect(r.timedOut, JSON.stringify(r)).toBe(false);
      expect(r.serial).toBe(8);
      expect(r.answer).toBe('node2.example.com');
      expect(r.replies).toBeLessThanOrEqual(3);
      expect(r.sent).toBe(3);
      expect(r.consistent).toBe(true);
      expect(new Set(r.peers.map((p) => p.peer)).size).toBe(r.replies);
    }
  });
});

describe('a relay in front of nothing', () => {
  it('a black-hole peer never answers and the query times out with replies 0', async () => {
    const hole = await relayTo(undefined, 1);
    const dead = `127.0.0.1:${await freePort()}`;
    const r = await client([hole.peer, dead]).get('/cluster/master', { timeoutMs: 1500 });
    expect(r.timedOut).toBe(true);
    expect(r.replies).toBe(0);
    expect(r.sent).toBe(2);
    expect(hole.stats.toDaemon.received).toBeGreaterThan(0);
  });
});
