// A large Ganeti config replacing a served one is built in slices (the event loop keeps
// answering): plj0 answers from the previous config until the new view is complete, then from the
// new one, and the view is the same as one built at once.
import { describe, expect, it } from 'vitest';
import { Plj0Service } from '../../daemon/ganeti/plj0-service.js';
import { buildGanetiView } from '../../daemon/ganeti/view.js';
import { ReplayGuard } from '../../daemon/replay-guard.js';
import { Replica } from '../../daemon/replica.js';
import { Snapshot } from '../../daemon/snapshot.js';
import { Stats } from '../../daemon/stats.js';
import { decodeReplyDatagram, encodeRequestDatagram } from '../../shared/plj0/client-codec.js';
import { generateGanetiConfig } from '../../testkit/ganeti/generate-config.js';

const KEY = Buffer.from('hmac-key-0123456789\n');

describe('Ganeti view built in slices', () => {
  it('keeps answering from the served config, then switches to the complete new view', async () => {
    const replica = new Replica();
    const sent: Buffer[] = [];
    const svc = new Plj0Service({ key: () => KEY, replica, stats: new Stats(), replay: new ReplayGuard({ windowMs: 60_000, capacity: 10_000 }), configPath: 'x', send: (b) => sent.push(b) });
    const small = generateGanetiConfig({ nodes: 3, instancesPerNode: 1, links: 2, seed: 1 });
    (small.cluster as Record<string, unknown>).serial_no = 100;
    const large = generateGanetiConfig({ nodes: 500, instancesPerNode: 5, links: 3, seed: 2 });
    (large.cluster as Record<string, unknown>).serial_no = 200;
    let n = 0;
    const clusterSerial = () => {
      svc.handle(encodeRequestDatagram(KEY, { type: 3, rsalt: `r${n++}` }), { address: '127.0.0.1', port: 1, family: 'IPv4', size: 0 });
      return decodeReplyDatagram(KEY, sent.pop() as Buffer)?.serial;
    };
    replica.offer(new Snapshot({ doc: small, serial: 1, source: 'file' }));
    expect(clusterSerial()).toBe(100);
    replica.offer(new Snapshot({ doc: large, serial: 2, source: 'file' }));
    expect(svc.pending).toBe(true);
    expect(clusterSerial()).toBe(100);
    for (let i = 0; i < 2000 && svc.pending; i++) await new Promise((r) => setImmediate(r));
    expect(svc.pending).toBe(false);
    expect(clusterSerial()).toBe(200);
    const once = buildGanetiView(large);
    const sliced = svc.view;
    if (once instanceof Error || !sliced || !('doc' in once)) throw new Error('no view');
    // Built in steps, the instance indexes come complete with the view.
    expect(sliced.inst.ready).toBe(true);
    expect(sliced.doc).toBe(once.doc);
    expect([...sliced.nodes.keys()]).toEqual([...once.nodes.keys()]);
    expect(sliced.nodePrimaryIps).toEqual(once.nodePrimaryIps);
    const [a, b] = [sliced.inst.get(), once.inst.get()];
    expect(JSON.stringify([...a.instances.values()])).toBe(JSON.stringify([...b.instances.values()]));
    expect(JSON.stringify([...a.linkIpList])).toBe(JSON.stringify([...b.linkIpList]));
    expect(JSON.stringify([...a.drbdMinors])).toBe(JSON.stringify([...b.drbdMinors]));
    expect(JSON.stringify([...sliced.nodes.values()])).toBe(JSON.stringify([...once.nodes.values()]));
  });
});

describe('the first config', () => {
  const service = () => {
    const sent: Buffer[] = [];
    const replica = new Replica();
    const svc = new Plj0Service({ key: () => KEY, replica, stats: new Stats(), replay: new ReplayGuard({ windowMs: 60_000, capacity: 10_000 }), configPath: 'x', send: (b) => sent.push(b) });
    let n = 0;
    const ask = (type: number, query?: string) => {
      svc.handle(encodeRequestDatagram(KEY, { type, query, rsalt: `r${n++}` }), { address: '127.0.0.1', port: 1, family: 'IPv4', size: 0 });
      const r = decodeReplyDatagram(KEY, sent.pop() as Buffer);
      return r && [r.status, r.answer, r.serial];
    };
    return { replica, svc, ask };
  };
  const large = generateGanetiConfig({ nodes: 500, instancesPerNode: 5, links: 3, seed: 4 });
  const nodes = Object.values(large.nodes as Record<string, { name: string }>).map((x) => x.name);
  const instances = Object.values(large.instances as Record<string, { name: string }>).map((x) => x.name);

  it('serves before its instance indexes are made; they are made between requests, answering as the whole view does', async () => {
    const ref = service();
    ref.replica.offer(new Snapshot({ doc: large, serial: 1, source: 'file' }));
    ref.svc.view?.inst.get();
    const { replica, svc, ask } = service();
    replica.offer(new Snapshot({ doc: large, serial: 1, source: 'file' }));
    const view = svc.view;
    if (!view) throw new Error('no view');
    expect(view.inst.ready).toBe(false);
    expect(ask(1, nodes[7])).toEqual(ref.ask(1, nodes[7]));
    expect(ask(3)).toEqual(ref.ask(3));
    for (let i = 0; i < 20_000 && !view.inst.ready; i++) await new Promise((r) => setImmediate(r));
    expect(view.inst.ready).toBe(true);
    for (const name of nodes.slice(0, 20)) for (const t of [7, 8]) expect(ask(t, name)).toEqual(ref.ask(t, name));
    for (const name of instances.slice(0, 20)) expect(ask(9, name)).toEqual(ref.ask(9, name));
  });

  it('a request needing the instance indexes before they are made gets them made at once', () => {
    const ref = service();
    ref.replica.offer(new Snapshot({ doc: large, serial: 1, source: 'file' }));
    const { replica, svc, ask } = service();
    replica.offer(new Snapshot({ doc: large, serial: 1, source: 'file' }));
    expect(svc.view?.inst.ready).toBe(false);
    expect(ask(9, instances[3])).toEqual(ref.ask(9, instances[3]));
    expect(svc.view?.inst.ready).toBe(true);
    expect(ask(8, nodes[3])).toEqual(ref.ask(8, nodes[3]));
    expect(ask(6)).toEqual(ref.ask(6));
  });
});

describe('instance texts', () => {
  it('are made after the view serves, between requests, without any request asking', async () => {
    const replica = new Replica();
    const svc = new Plj0Service({ key: () => KEY, replica, stats: new Stats(), replay: new ReplayGuard({ windowMs: 60_000, capacity: 100 }), configPath: 'x', send: () => undefined });
    const large = generateGanetiConfig({ nodes: 500, instancesPerNode: 5, links: 3, seed: 2 });
    replica.offer(new Snapshot({ doc: large, serial: 1, source: 'file' }));
    const view = svc.view;
    if (!view) throw new Error('no view');
    for (let i = 0; i < 20_000 && !view.inst.ready; i++) await new Promise((r) => setImmediate(r));
    const texts = view.inst.get().instanceJson;
    const n = texts.objs.length;
    expect(n).toBe(2500);
    const allMade = () => Array.from({ length: n }, (_, i) => i).every((i) => texts.isMade(i));
    for (let i = 0; i < 5000 && !allMade(); i++) await new Promise((r) => setImmediate(r));
    expect(allMade()).toBe(true);
  });
});

describe('replay memories per protocol', () => {
  it('a full plj0 replay memory never starves QCF1 (nor lets a plj0 replay through)', async () => {
    const { qcf1Service, serviceRequest } = await import('../support/qcf1-service.js');
    const { Keyring } = await import('../../shared/keyring.js');
    const replica = new Replica();
    replica.offer(new Snapshot({ doc: generateGanetiConfig({ nodes: 3, instancesPerNode: 1, links: 1, seed: 3 }), serial: 9000, source: 'file' }));
    const stats = new Stats();
    const replay = new ReplayGuard({ windowMs: 60_000, capacity: 500 });
    const sent: Buffer[] = [];
    const rinfo = { address: '127.0.0.1', port: 1, family: 'IPv4' as const, size: 0 };
    const plj0 = new Plj0Service({ key: () => KEY, replica, stats, replay, configPath: 'x', send: (b) => sent.push(b) });
    const keyring = Keyring.fromStrings(['q'.repeat(32)]);
    const qcf1 = qcf1Service({ keyring, replica, stats, replay, send: (b) => sent.push(b) });
    const first = encodeRequestDatagram(KEY, { type: 0, rsalt: 'first' });
    for (let i = 0; i < 2000; i++) plj0.handle(i === 0 ? first : encodeRequestDatagram(KEY, { type: 0, rsalt: `s${i}` }), rinfo);
    plj0.handle(first, rinfo);
    expect((stats.drops.replay ?? 0) + (stats.drops.replay_overflow ?? 0)).toBeGreaterThan(0);
    sent.length = 0;
    qcf1.handle(serviceRequest(keyring, { op: 'get', path: '/serial_no' }), rinfo);
    expect(sent).toHaveLength(1);
  });
});
