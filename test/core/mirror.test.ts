// client.mirror(): a local copy of a subtree, read synchronously, kept fresh by held waits, on
// real daemons: filled (in parts when too large for one reply), changed per path, stale and
// still serving while the quorum is gone, caught up when it is back, closed cleanly.
import { afterEach, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import type { MirrorChange, MirrorEvent } from '../../client/mirror.js';
import { Keyring } from '../../shared/keyring.js';
import { TestDaemon, startDaemons, stopAll } from '../../testkit/daemons.js';
import { KEY_A } from '../../testkit/fixtures.js';
import { sampleDoc } from '../support/sample-doc.js';

const clients: ConfdClient[] = [];
let daemons: TestDaemon[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await stopAll(daemons.splice(0));
});

async function cluster(doc: unknown, n = 3): Promise<{ ds: TestDaemon[]; c: ConfdClient }> {
  const ds = await startDaemons(n, () => ({ doc }));
  daemons.push(...ds);
  const c = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers: ds.map((d) => d.peer) });
  clients.push(c);
  return { ds, c };
}

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('client.mirror', () => {
  it('reads synchronously with no datagram, and sees a published change with the paths that changed', async () => {
    const { ds, c } = await cluster(sampleDoc(1));
    const m = await c.mirror('/nodes');
    expect(m.serial).toBe(1);
    expect(m.get('/node1.example.com/primary_ip')).toBe('192.0.2.11');
    expect(m.get<Record<string, unknown>>()?.['node2.example.com']).toBeDefined();
    expect(m.stale).toBe(false);
    expect(m.ageMs).toBeLessThan(5000);
    const outstanding = c.outstanding;
    for (let i = 0; i < 100_000; i++) m.get('/node1.example.com/drained');
    expect(c.outstanding).toBe(outstanding);
    const changes: MirrorChange[] = [];
    m.on('change', (e) => changes.push(e));
    const next = sampleDoc(2);
    (next.nodes as Record<string, Record<string, unknown>>)['node2.example.com'].drained = true;
    const t0 = Date.now();
    for (const d of ds) d.writeDoc(next);
    await until(() => m.serial === 2, 'the change in the mirror');
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(m.get('/node2.example.com/drained')).toBe(true);
    expect(changes).toEqual([{ type: 'change', paths: ['/node2.example.com/drained'], serial: 2 }]);
    m.close();
  });

  it('fills a subtree too large for one reply in parts, at one serial', async () => {
    const big: Record<string, unknown> = {};
    for (let i = 0; i < 3000; i++) big[`node${i}`] = { ip: `10.0.${i >> 8}.${i & 255}`, tags: ['a', 'b'], pad: 'x'.repeat(40) };
    const list = Array.from({ length: 500 }, (_, i) => ({ i, s: 'y'.repeat(150) }));
    const { c } = await cluster({ serial_no: 3, big, list }, 1);
    const m = await c.mirror('');
    expect(m.get('/big')).toEqual(big);
    expect(m.get('/list')).toEqual(list);
    expect(Array.isArray(m.get('/list'))).toBe(true);
    expect(m.serial).toBe(3);
    m.close();
  });

  it('keeps serving while the quorum is gone (stale once maxStalenessMs has passed), and catches up when it is back', async () => {
    const { ds, c } = await cluster(sampleDoc(1));
    const m = await c.mirror('/cluster', { holdMs: 1000, maxStalenessMs: 2500 });
    const events: MirrorEvent[] = [];
    const iterating = (async () => {
      for await (const e of m.changes()) events.push(e);
      return 'ended';
    })();
    await Promise.all([ds[1].stop('SIGKILL'), ds[2].stop('SIGKILL')]);
    await until(() => m.stale, 'the mirror to go stale');
    expect(m.get('/master')).toBe('node1.example.com');
    expect(events.some((e) => e.type === 'status' && !e.quorum)).toBe(true);
    const next = sampleDoc(2, { cluster: { name: 'test.example.com', master: 'node2.example.com' } });
    for (const d of ds) d.writeDoc(next);
    await Promise.all([ds[1].start(), ds[2].start()]);
    await until(() => m.get('/master') === 'node2.example.com', 'the mirror to catch up');
    expect(m.stale).toBe(false);
    expect(events.some((e) => e.type === 'status' && e.quorum)).toBe(true);
    m.close();
    expect(await iterating).toBe('ended');
  });

  it('applies parse to every update (a failing update is not applied), and closes with its client', async () => {
    const { ds, c } = await cluster(sampleDoc(1), 1);
    const m = await c.mirror('/cluster', {
      holdMs: 1000,
      parse: (v) => {
        const o = v as { master?: unknown };
        if (typeof o.master !== 'string') throw new TypeError('master must be a string');
        return o as { master: string; name: string };
      },
    });
    expect(m.root?.master).toBe('node1.example.com');
    ds[0].writeDoc(sampleDoc(2, { cluster: { master: 7 } }));
    ds[0].writeDoc(sampleDoc(2, { cluster: { master: 7 } }));
    await new Promise((r) => setTimeout(r, 1500));
    expect(m.root?.master).toBe('node1.example.com');
    ds[0].writeDoc(sampleDoc(3, { cluster: { master: 'node3' } }));
    await until(() => m.root?.master === 'node3', 'a good update');
    c.close();
  });
});
