// Differential test: the REAL ganeti-confd 3.0 and qconfd serve the same config; a broad
// battery of plj0 requests must get the same status, serial and answer (answers compared as
// parsed JSON, numbers by value), and silence where Ganeti is silent. Runs on the example config
// and on a generated large cluster. Fails (never skips) when Ganeti has not been fetched.
import { createHmac, randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GANETI_EXAMPLE_CONFIG } from '../../testkit/paths.js';
import { ganetiExampleKey } from '../../testkit/ganeti-key.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { tempDir } from '../../testkit/fixtures.js';
import { generateGanetiConfig } from '../../testkit/ganeti/generate-config.js';
import { FETCH_HINT, ganetiAvailable, startGanetiConfd, type GanetiConfd } from '../../testkit/ganeti/confd.js';
import { decodeConfdReply } from '../../testkit/ganeti/plj0-client.js';

const hmacKey = fs.readFileSync(ganetiExampleKey());

type Obj = Record<string, any>;

/** One probe: an inner request object (rsalt added) or a raw inner text with RSALT placeholder. */
interface Probe {
  label: string;
  inner?: Obj;
  rawInner?: string;
}

const q = (type: number, query?: unknown): Probe => ({
  label: `type ${type} ${JSON.stringify(query)}`,
  inner: query === undefined ? { protocol: 1, type } : { protocol: 1, type, query },
});

function sign(inner: string): Buffer {
  const salt = String(Math.floor(Date.now() / 1000));
  const hmac = createHmac('sha1', hmacKey).update(salt + inner, 'utf8').digest('hex');
  return Buffer.from('plj0' + JSON.stringify({ msg: inner, salt, hmac }), 'utf8');
}

type Outcome = { status: number; serial: number; answer: unknown } | 'silence';

/** Send every probe (bounded concurrency, one socket) and collect replies by rsalt. */
async function runProbes(port: number, probes: Probe[], timeoutMs = 1500, window = 48): Promise<Outcome[]> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const out: Outcome[] = new Array(probes.length).fill('silence');
  const waiting = new Map<string, { i: number; done: () => void }>();
  sock.on('message', (raw) => {
    const r = decodeConfdReply(hmacKey, raw);
    if (!r) return;
    const w = waiting.get(r.salt);
    if (!w) return;
    out[w.i] = { status: r.status, serial: r.serial, answer: r.answer };
    w.done();
  });
  let next = 0;
  await new Promise<void>((resolveAll) => {
    let active = 0;
    const pump = () => {
      while (active < window && next < probes.length) {
        const i = next++;
        const p = probes[i];
        const rsalt = randomUUID();
        // Non-ASCII escaped as \uXXXX, as Ganeti's Python client sends it.
        const inner = (p.rawInner !== undefined ? p.rawInner.replace('RSALT', rsalt) : JSON.stringify({ ...p.inner, rsalt })).replace(
          /[\u0080-\uffff]/g,
          (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
        );
        active++;
        let finished = false;
        const done = () => {
          if (finished) return;
          finished = true;
          clearTimeout(t);
          waiting.delete(rsalt);
          active--;
          if (next >= probes.length && active === 0) resolveAll();
          else pump();
        };
        const t = setTimeout(done, timeoutMs);
        waiting.set(rsalt, { i, done });
        sock.send(sign(inner), port, '127.0.0.1');
      }
      if (probes.length === 0) resolveAll();
    };
    pump();
  });
  sock.close();
  return out;
}

function shortName(name: string): string {
  return name.split('.')[0];
}

/** The battery of requests for one config. */
function battery(doc: Obj, opts: { wholeSections: boolean }): Probe[] {
  const p: Probe[] = [];
  const nodes = doc.nodes as Record<string, Obj>;
  const instances = doc.instances as Record<string, Obj>;
  const masterUuid = doc.cluster.master_node as string;
  const masterName = nodes[masterUuid].name as string;
  const links = new Set<string>([doc.cluster.nicparams.default.link]);
  for (const i of Object.values(instances)) for (const n of i.nics) if (n.nicparams.link) links.add(n.nicparams.link);

  // Types that ignore their query.
  for (const t of [0, 4, 5, 11]) p.push(q(t), q(t, null), q(t, 'x'), q(t, {}), q(t, { '0': 'br0', '3': [1] }));
  // Node lookups: UUID, exact name, short names, unknown, ambiguous, wrong shapes.
  const nodeQueries = new Set<string>(['nope', '', 'node', 'NODE1.EXAMPLE.COM', masterName, masterUuid, shortName(masterName), 'node0', 'node17', 'node1.example']);
  for (const [u, n] of Object.entries(nodes)) {
    nodeQueries.add(u);
    nodeQueries.add(n.name);
    nodeQueries.add(shortName(n.name));
  }
  for (const name of nodeQueries) for (const t of [1, 7, 8]) p.push(q(t, name));
  for (const t of [1, 7, 8, 9, 10]) {
    p.push(q(t), q(t, null), q(t, {}), q(t, { '0': 'x' }), q(t, { '1': '10.0.0.1', '2': ['a', 'b\\"c', 'café'], '0': 'l\u00e9\nk', '3': [0, 2, 1] }));
  }
  // Instances.
  const instQueries = new Set<string>(['nope', '', 'inst', 'inst1', 'instance1', 'instance1.example']);
  for (const [u, i] of Object.entries(instances)) {
    instQueries.add(u);
    instQueries.add(i.name);
    instQueries.add(shortName(i.name));
  }
  for (const name of instQueries) p.push(q(9, name));
  // Type 2: every IP on every link, lists, defaults, unknowns.
  const ips: string[] = [];
  for (const i of Object.values(instances)) {
    for (const n of i.nics) {
      if (!n.ip) continue;
      ips.push(n.ip);
      p.push(q(2, { '1': n.ip, ...(n.nicparams.link ? { '0': n.nicparams.link } : {}) }));
    }
  }
  p.push(q(2), q(2, null), q(2, 'x'), q(2, {}), q(2, { '0': 'nope', '1': ips[0] ?? '1.2.3.4' }), q(2, { '1': '203.0.113.77' }));
  p.push(q(2, { '2': [...ips.slice(0, 40), 'nope', '10.0.0.5', '10.0.0.10'] }), q(2, { '1': ips[0] ?? 'x', '2': ['a'] }), q(2, { '2': [], '3': [0] }));
  for (const l of links) p.push(q(2, { '0': l, '2': ips.slice(0, 20) }));
  // Type 3 with field permutations.
  for (const f of [[], [0], [1], [2], [0, 1, 2], [2, 0, 1], [1, 1, 0], [2, 2]]) p.push(q(3, { '3': f }));
  p.push(q(3), q(3, null), q(3, 'x'), q(3, {}), q(3, { '0': 'br0' }), q(3, { '3': [0.4, 1.5, 2.4] }));
  // Type 6: every link.
  p.push(q(6), q(6, null), q(6, {}), q(6, 'nope'), q(6, ''));
  for (const l of links) p.push(q(6, l));
  // Type 10: pointers.
  const pointers = [
    '', 'cluster', '/', '/cluster', '/cluster/', '/version', '/serial_no', '/ctime', '/mtime', '/filters', '/cluster~2x', '/cluster//x',
    '/cluster/serial_no~', '//cluster', '/~', '/cluster/tcpudp_port_pool', '/cluster/tcpudp_port_pool/0', '/cluster/tcpudp_port_pool/01',
    '/cluster/tcpudp_port_pool/0junk', '/cluster/tcpudp_port_pool/-1', '/cluster/tcpudp_port_pool/99', '/cluster/tcpudp_port_pool/x',
    '/cluster/tcpudp_port_pool/18446744073709551617', '/cluster/cluster_name/x', '/cluster/hvparams', '/cluster/hvparams/kvm/acpi',
    '/cluster/os_hvp', '/cluster/os_hvp/a~1b~0c', '/cluster/os_hvp/a~1b~0c/kvm', '/cluster/beparams/default', '/cluster/ndparams',
    '/cluster/nicparams/default/link', '/cluster/ipolicy/minmax/0/min', '/cluster/data_collectors', '/cluster/tags', '/cluster/uid_pool',
    '/cluster/diskparams/drbd', '/nodes/nope', '/cluster/nope',
  ];
  if (opts.wholeSections) pointers.push('/nodes', '/instances', '/disks', '/nodegroups', '/networks');
  for (const ptr of pointers) p.push(q(10, ptr));
  for (const section of ['nodes', 'instances', 'disks', 'nodegroups', 'networks']) {
    for (const u of Object.keys(doc[section])) p.push(q(10, `/${section}/${u}`));
  }
  const someNode = Object.keys(nodes)[0];
  p.push(q(10, `/nodes/${someNode}/name`), q(10, `/nodes/${someNode}/tags`), q(10, `/nodes/${someNode}/ndparams`));
  // Silence: malformed inner requests (both daemons must stay silent).
  for (const bad of [5, [1], true, { '4': 'x' }, { '3': ['0'] }, { '3': [3] }, { '2': 'x' }, { '0': 5 }, { '2': [1] }]) p.push(q(1, bad));
  p.push({ label: 'type 12', inner: { protocol: 1, type: 12 } }, { label: 'type "0"', inner: { protocol: 1, type: '0' } });
  p.push({ label: 'type -1', inner: { protocol: 1, type: -1 } }, { label: 'type 11.4', inner: { protocol: 1, type: 11.4 } });
  p.push({ label: 'type 0.4', inner: { protocol: 1, type: 0.4 } }, { label: 'type 2.5', inner: { protocol: 1, type: 2.5, query: 'x' } });
  p.push({ label: 'type 3.5', inner: { protocol: 1, type: 3.5 } }, { label: 'type 1e0', rawInner: '{"protocol":1,"type":1e0,"query":"nope","rsalt":"RSALT"}' });
  p.push({ label: 'protocol 99.7', inner: { protocol: 99.7, type: 0 } }, { label: 'protocol "1"', inner: { protocol: '1', type: 0 } });
  p.push({ label: 'no protocol', inner: { type: 0 } }, { label: 'extra key', inner: { protocol: 1, type: 0, extra: 1 } });
  p.push({ label: 'dup type', rawInner: '{"protocol":1,"type":3,"type":0,"rsalt":"RSALT"}' });
  p.push({ label: 'trailing ws', rawInner: '{"protocol":1,"type":0,"rsalt":"RSALT"}\n \t' });
  p.push({ label: 'leading ws', rawInner: ' {"protocol":1,"type":0,"rsalt":"RSALT"}' });
  p.push({ label: 'trailing garbage', rawInner: '{"protocol":1,"type":0,"rsalt":"RSALT"}x' });
  p.push({ label: 'rsalt number', rawInner: '{"protocol":1,"type":0,"rsalt":5,"query":"RSALT"}' });
  return p;
}


interface Pair {
  real: GanetiConfd;
  ours: TestDaemon;
}

async function startPair(doc: Obj): Promise<Pair> {
  requireGaneti();
  const dir = tempDir('qconf-ganeti-diff-');
  const keyPath = path.join(dir, 'hmac.key');
  fs.writeFileSync(keyPath, hmacKey, { mode: 0o600 });
  const [real, ours] = await Promise.all([
    startGanetiConfd({ config: doc, hmacKey }),
    new TestDaemon({ doc, args: ['--ganeti-key-file', keyPath] }).start(),
  ]);
  return { real, ours };
}

function requireGaneti(): void {
  if (!ganetiAvailable()) throw new Error(`Ganeti 3.0 is not available: ${FETCH_HINT}`);
}

async function compare(pair: Pair, probes: Probe[]): Promise<void> {
  let [real, ours] = await Promise.all([runProbes(pair.real.port, probes, 2000, 16), runProbes(pair.ours.port, probes, 2000, 16)]);
  // UDP and a busy reference daemon can lose a reply: ask again (fresh rsalts, slowly) wherever
  // exactly one side was silent, before calling it a difference.
  for (let round = 0; round < 3; round++) {
    const again = probes.map((_, i) => i).filter((i) => (real[i] === 'silence') !== (ours[i] === 'silence'));
    if (again.length === 0) break;
    const sub = again.map((i) => probes[i]);
    const [r2, o2] = await Promise.all([runProbes(pair.real.port, sub, 5000, 4), runProbes(pair.ours.port, sub, 5000, 4)]);
    again.forEach((i, k) => {
      if (real[i] === 'silence') real[i] = r2[k];
      if (ours[i] === 'silence') ours[i] = o2[k];
    });
  }
  const diffs: string[] = [];
  let answered = 0;
  for (let i = 0; i < probes.length; i++) {
    if (real[i] !== 'silence') answered++;
    try {
      expect(ours[i]).toEqual(real[i]);
    } catch {
      diffs.push(`${probes[i].label}\n  ganeti-confd: ${JSON.stringify(real[i]).slice(0, 600)}\n  qconfd:       ${JSON.stringify(ours[i]).slice(0, 600)}`);
    }
  }
  expect(diffs, `${diffs.length} of ${probes.length} requests differ:\n${diffs.slice(0, 15).join('\n')}`).toEqual([]);
  // The battery must mostly be answered, or the comparison proves little.
  expect(answered).toBeGreaterThan(probes.length * 0.7);
}

describe('differential: ganeti-confd vs qconfd on examples/ganeti/config.data', () => {
  let pair: Pair | undefined;
  const doc = JSON.parse(fs.readFileSync(GANETI_EXAMPLE_CONFIG, 'utf8')) as Obj;
  beforeAll(async () => {
    if (ganetiAvailable()) pair = await startPair(doc);
  });
  afterAll(async () => {
    await Promise.all([pair?.real.stop(), pair?.ours.stop()]);
  });

  it('answers every request type identically', async () => {
    requireGaneti();
    await compare(pair as Pair, battery(doc, { wholeSections: true }));
  });
});

describe('differential: ganeti-confd vs qconfd on a generated large cluster', () => {
  let pair: Pair | undefined;
  const doc = generateGanetiConfig({ nodes: 200, instancesPerNode: 10, links: 4, seed: 20261122 });
  // Keys that need pointer escapes, and a non-integral collector interval.
  doc.cluster.os_hvp['a/b~c'] = { kvm: { acpi: true } };
  beforeAll(async () => {
    if (ganetiAvailable()) pair = await startPair(doc);
  }, 300_000);
  afterAll(async () => {
    await Promise.all([pair?.real.stop(), pair?.ours.stop()]);
  });

  it('has hundreds of nodes and thousands of instances', () => {
    expect(Object.keys(doc.nodes).length).toBeGreaterThanOrEqual(200);
    expect(Object.keys(doc.instances).length).toBeGreaterThanOrEqual(2000);
  });

  it('answers every request type identically', async () => {
    requireGaneti();
    await compare(pair as Pair, battery(doc, { wholeSections: false }));
  }, 300_000);
});
