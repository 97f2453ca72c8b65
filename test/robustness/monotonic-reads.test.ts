// Found by `npm run chaos` (seed 1): a client's calls went back in serial. A waitFor returned a
// value at serial 1 after the same client had returned serial 2 (a wait did not keep monotonic
// reads at all), and a get returned serial 7 after a waitFor that ended while the get was in
// flight had returned 8 (a query read the client's newest serial only when it began). A wait is
// met only by replies no older than what the client has returned, a met wait's serial counts as
// returned, and a query compares with the newest serial when it ends. And a wait whose replies met
// the condition before another call raised the floor past them asks their daemons again (it
// timed out, with the condition holding on a quorum, when it did not).
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring } from '../../shared/keyring.js';
import { TestDaemon, startDaemons, stopAll } from '../../testkit/daemons.js';
import { KEY_A } from '../../testkit/fixtures.js';
import { until } from '../support/until.js';

const doc = (serial: number, mode: string) => ({ serial_no: serial, cfg: { mode } });

describe("a client's calls keep monotonic reads", () => {
  let daemons: TestDaemon[];
  const keyring = Keyring.fromStrings([KEY_A]);
  beforeAll(async () => {
    // One daemon at serial 2 (mode blue), two behind at serial 1 (mode red).
    daemons = await startDaemons(3, (i) => ({ doc: i === 0 ? doc(2, 'blue') : doc(1, 'red'), advertise: false, logLevel: 'info' }));
  });
  afterAll(async () => {
    await stopAll(daemons ?? []);
  });

  it('is not met by replies older than a serial the client already returned, until they catch up', async () => {
    // The client has returned serial 2 before (blue): red at serial 1 is not news to give it.
    const client = new ConfdClient({ keyring, peers: daemons.map((d) => d.peer), newestSerial: 2 });
    try {
      const early = await client.waitFor({ path: '/cfg/mode', equals: 'red' }, { timeoutMs: 1500 });
      expect(early.met).toBe(false);
      expect(client.newestSerial).toBe(2);
      // A quorum gets serial 3 (red again): now it is met, at serial 3.
      const waiting = client.waitFor({ path: '/cfg/mode', equals: 'red' }, { timeoutMs: 20_000 });
      daemons[0].writeDoc(doc(3, 'red'));
      daemons[1].writeDoc(doc(3, 'red'));
      const r = await waiting;
      expect(r.met).toBe(true);
      expect(r.serial).toBe(3);
      expect(r.answer).toBe('red');
      expect(client.newestSerial).toBe(3);
    } finally {
      client.close();
    }
  });

  it('a met wait raises the floor for later queries, and minSerial waits respect the floor', async () => {
    await until(async () => {
      const c = new ConfdClient({ keyring, peers: daemons.map((d) => d.peer) });
      try {
        return (await c.get('/cfg/mode', { coverage: -1, all: true })).peers.filter((p) => p.serial === 3).length >= 2;
      } finally {
        c.close();
      }
    }, 'two daemons at serial 3');
    const client = new ConfdClient({ keyring, peers: daemons.map((d) => d.peer), newestSerial: 4 });
    try {
      // Serial 3 meets minSerial 2, but the client has returned serial 4 already.
      const early = await client.waitFor({ minSerial: 2, path: '/cfg/mode' }, { timeoutMs: 1500 });
      expect(early.met).toBe(false);
      const waiting = client.waitFor({ minSerial: 2, path: '/cfg/mode' }, { timeoutMs: 20_000 });
      for (const d of daemons) d.writeDoc(doc(5, 'green'));
      const r = await waiting;
      expect(r).toMatchObject({ met: true, serial: 5, answer: 'green' });
      expect(client.newestSerial).toBe(5);
      // A query after it returns nothing older than serial 5.
      const g = await client.get('/cfg/mode');
      expect(g.serial).toBeGreaterThanOrEqual(5);
    } finally {
      client.close();
    }
  });

  it('a query ends with nothing older than what another call returned while it was in flight', async () => {
    // The daemons are at serial 5 (see above): none has serial 6.
    const client = new ConfdClient({ keyring, peers: daemons.slice(1).map((d) => d.peer) });
    try {
      const inFlight = client.get('/cfg/mode', { timeoutMs: 3000 });
      // Another call of this client returns serial 6 before any reply to the get arrives.
      client.returned(6);
      const r = await inFlight;
      expect(r.kind).toBe('no_quorum');
      expect(r.error?.message).toContain('older than serial 6');
    } finally {
      client.close();
    }
  });
});

describe('a wait whose met replies another call made too old', () => {
  it('asks their daemons again, and is met once they reach the newer serial', async () => {
    const keyring = Keyring.fromStrings([KEY_A]);
    // d1 at serial 3; d2 and d3 without a document (not ready) for now.
    const d1 = await new TestDaemon({ doc: doc(3, 'red'), advertise: false, logLevel: 'info' }).start();
    const empty = () => {
      const d = new TestDaemon({ doc: doc(1, 'red'), advertise: false, logLevel: 'info' });
      rmSync(d.file);
      return d.start();
    };
    const [d2, d3] = await Promise.all([empty(), empty()]);
    const replies: number[] = [];
    const client = new ConfdClient({ keyring, peers: [d1.peer, d2.peer, d3.peer], callback: (u) => u.type === 'reply' && replies.push(u.reply.serial) });
    try {
      const waiting = client.waitFor({ minSerial: 2, path: '/cfg/mode' }, { timeoutMs: 10_000 });
      // d1 meets the condition at serial 3 (one vote of the two needed), and is done with.
      await until(() => replies.includes(3), "d1's reply");
      // Another call returns serial 4 meanwhile: serial 3 no longer counts.
      client.returned(4);
      d1.writeDoc(doc(4, 'red'));
      d2.writeDoc(doc(4, 'red'));
      const started = Date.now();
      const r = await waiting;
      expect(r).toMatchObject({ met: true, serial: 4 });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      client.close();
      await stopAll([d1, d2, d3]);
    }
  });
});
