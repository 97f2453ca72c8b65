// The QCF1 ops (protocol.md, "Request body", "Reply body") through the client library against
// real daemons: get, mget, list, ping, stats, wait's argument check, unknown ops, too_large and
// etags across replicas.
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import type { QueryResult } from '../../client/types.js';
import { Keyring } from '../../shared/keyring.js';
import { MAX_REPLY_BYTES } from '../../shared/qcf1.js';
import { VERSION } from '../../shared/version.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { KEY_A } from '../../testkit/fixtures.js';
import { sampleDoc } from '../support/sample-doc.js';
import { RawClient, sum } from '../support/raw-client.js';
import { trackAll } from '../support/tracked.js';

const SERIAL = 11;
const DOC = sampleDoc(SERIAL, {
  '': 'empty-key',
  '~1': 'tilde-one',
  x: { a: 1, b: [true, null, 'z'] },
  y: { b: [true, null, 'z'], a: 1 }, // equal to x, keys in another order
  z: { a: 2, b: [true, null, 'z'] },
  deep: { l1: { l2: { l3: 'leaf' } } },
});

const owned = trackAll();
const clientFor = (d: TestDaemon) => owned.client([d.peer], { retransmitMs: 250 });
const Q = { timeoutMs: 15_000 };

let d: TestDaemon;
let client: ConfdClient;
let started = 0;

beforeAll(async () => {
  started = Date.now();
  d = await owned.daemon({ doc: DOC, nodeName: 'ops-a' });
  client = clientFor(d);
});

function expectOk<A>(r: QueryResult<A>): void {
  expect(r.timedOut, 'no reply').toBe(false);
  expect(r.error, JSON.stringify(r.error)).toBeUndefined();
  expect(r.status).toBe(0);
  expect(r.serial).toBe(SERIAL);
}

function expectError(r: QueryResult<unknown>, code: string, status = 1): void {
  expect(r.timedOut, 'no reply').toBe(false);
  expect(r.status).toBe(status);
  expect(r.error?.code).toBe(code);
  expect(typeof r.error?.message).toBe('string');
  expect(r.answer).toBeUndefined();
}

describe('get', () => {
  it('"" is the whole document', async () => {
    const r = await client.get('', Q);
    expectOk(r);
    expect(r.answer).toEqual(DOC);
    expect(typeof r.etag).toBe('string');
  });

  it.each([
    ['/cluster/master', 'node1.example.com'],
    ['/cluster', { name: 'test.example.com', master: 'node1.example.com' }],
    ['/nodes/node2.example.com/primary_ip', '192.0.2.12'],
    ['/nodes/node1.example.com/drained', false],
    ['/deep/l1/l2/l3', 'leaf'],
    ['/serial_no', SERIAL],
    ['/a~1b', { 'm~n': 1 }],
    ['/a~1b/m~0n', 1],
    ['/~01', 'tilde-one'], // "~01" is "~1" literally, not "/"
    ['/', 'empty-key'], // the key "" (RFC 6901)
    ['/list', [10, 20, 30]],
    ['/list/0', 10],
    ['/list/2', 30],
    ['/x/b/1', null],
  ])('%s', async (path, value) => {
    const r = await client.get(path, Q);
    expectOk(r);
    expect(r.answer).toEqual(value);
  });

  it.each([
    '/list/3',
    '/list/01',
    '/list/-',
    '/list/-1',
    '/list/1.0',
    '/list/ 1',
    '/missing',
    '/cluster/master/x', // into a string
    '/a/b', // not the key "a/b"
    '/~1', // the key "/" does not exist
    '/cluster/',
    '/nodes/node1.example.com/drained/0',
  ])('%s is not_found', async (path) => {
    expectError(await client.get(path, Q), 'not_found');
  });

  it.each(['abc', 'cluster/master', '/a~2', '/a~', '~0', '/x/~b'])('malformed pointer %j is bad_argument', async (path) => {
    expectError(await client.get(path, Q), 'bad_argument');
  });

  it('a path that is not a string is bad_argument', async () => {
    for (const path of [undefined, 7, ['/list'], null]) {
      expectError(await client.query({ op: 'get', path: path as unknown as string }, Q), 'bad_argument');
    }
  });

  it('the error reply carries the serial and node', async () => {
    const r = await client.get('/missing', Q);
    expect(r.serial).toBe(SERIAL);
    expect(r.peers).toEqual([{ peer: d.peer, status: 1, serial: SERIAL, node: 'ops-a' }]);
  });
});

describe('mget', () => {
  it('answers each path with its own status', async () => {
    const r = await client.mget(['/cluster/name', '/missing', 'bad', '/list/0', '', '/a~2'], Q);
    expectOk(r);
    const a = r.answer!;
    expect(a).toHaveLength(6);
    expect(a[0]).toMatchObject({ status: 0, answer: 'test.example.com' });
    expect(typeof a[0].etag).toBe('string');
    expect(a[1]).toMatchObject({ status: 1, error: { code: 'not_found' } });
    expect(a[2]).toMatchObject({ status: 1, error: { code: 'bad_argument' } });
    expect(a[3]).toMatchObject({ status: 0, answer: 10 });
    expect(a[4]).toMatchObject({ status: 0, answer: DOC });
    expect(a[5]).toMatchObject({ status: 1, error: { code: 'bad_argument' } });
    // Entries agree with get.
    const g = await client.get('/cluster/name', Q);
    expect(a[0].etag).toBe(g.etag);
  });

  it('non-string entries are per-entry bad_argument', async () => {
    const r = await client.query<Array<Record<string, unknown>>>({ op: 'mget', paths: [7, '/list/1', null] as unknown as string[] }, Q);
    expectOk(r);
    expect(r.answer![0]).toMatchObject({ status: 1, error: { code: 'bad_argument' } });
    expect(r.answer![1]).toMatchObject({ status: 0, answer: 20 });
    expect(r.answer![2]).toMatchObject({ status: 1, error: { code: 'bad_argument' } });
  });

  it('an empty list answers an empty array', async () => {
    const r = await client.mget([], Q);
    expectOk(r);
    expect(r.answer).toEqual([]);
  });

  it('64 paths are answered; 65 are bad_argument', async () => {
    const paths = Array.from({ length: 64 }, (_, i) => `/list/${i % 4}`);
    const r = await client.mget(paths, Q);
    expectOk(r);
    expect(r.answer).toHaveLength(64);
    expect(r.answer!.map((e) => e.status)).toEqual(paths.map((_, i) => (i % 4 === 3 ? 1 : 0)));
    expectError(await client.mget([...paths, '/list/0'], Q), 'bad_argument');
    expectError(await client.mget(Array.from({ length: 500 }, () => ''), Q), 'bad_argument');
  });

  it('paths that are not an array are bad_argument', async () => {
    expectError(await client.query({ op: 'mget', paths: '/list' as unknown as string[] }, Q), 'bad_argument');
    expectError(await client.query({ op: 'mget' }, Q), 'bad_argument');
  });
});

describe('list', () => {
  it('depth 1 lists the sorted direct children', async () => {
    const r = await client.list('/cluster', 1, Q);
    expectOk(r);
    expect(r.answer).toEqual(['master', 'name']);
    const n = await client.list('/nodes', 1, Q);
    expect(n.answer).toEqual(['node1.example.com', 'node2.example.com']);
  });

  it('depth defaults to 1', async () => {
    const r = await client.query({ op: 'list', path: '/deep' }, Q);
    expectOk(r);
    expect(r.answer).toEqual(['l1']);
  });

  it('depth 2 lists sorted relative pointers', async () => {
    const r = await client.list('/nodes', 2, Q);
    expectOk(r);
    expect(r.answer).toEqual([
      'node1.example.com',
      'node1.example.com/drained',
      'node1.example.com/primary_ip',
      'node2.example.com',
      'node2.example.com/drained',
      'node2.example.com/primary_ip',
    ]);
    const deep = await client.list('/deep', 2, Q);
    expect(deep.answer).toEqual(['l1', 'l1/l2']);
    const deeper = await client.list('/deep', 16, Q);
    expect(deeper.answer).toEqual(['l1', 'l1/l2', 'l1/l2/l3']);
  });

  it('arrays list their indices', async () => {
    const r = await client.list('/list', 1, Q);
    expectOk(r);
    expect(r.answer).toEqual(['0', '1', '2']);
    const x = await client.list('/x', 2, Q);
    expect(x.answer).toEqual(['a', 'b', 'b/0', 'b/1', 'b/2']);
  });

  it('every listed entry is a relative pointer that get resolves (escapes included)', async () => {
    const r = await client.list('', 3, Q);
    expectOk(r);
    const entries = r.answer!;
    expect(entries).toContain('a~1b/m~0n');
    expect(entries).toContain('~01');
    expect(entries).toContain('');
    const m = await client.mget(entries.slice(0, 64).map((e) => '/' + e), Q);
    expectOk(m);
    m.answer!.forEach((e, i) => expect(e.status, `/${entries[i]}`).toBe(0));
  });

  it('a non-container is bad_argument; a missing path is not_found', async () => {
    expectError(await client.list('/cluster/name', 1, Q), 'bad_argument');
    expectError(await client.list('/serial_no', 1, Q), 'bad_argument');
    expectError(await client.list('/x/b/1', 1, Q), 'bad_argument'); // null
    expectError(await client.list('/missing', 1, Q), 'not_found');
    expectError(await client.list('nope', 1, Q), 'bad_argument');
  });

  it('depth 0 and 17 are bad_argument; 16 is fine', async () => {
    expectError(await client.list('', 0, Q), 'bad_argument');
    expectError(await client.list('', 17, Q), 'bad_argument');
    expectError(await client.list('', -1, Q), 'bad_argument');
    expectError(await client.list('', 1.5, Q), 'bad_argument');
    expectOk(await client.list('', 16, Q));
  });

  // The daemon caches encoded replies per snapshot; two different requests must never share one.
  it('a malformed depth ("1", a string) does not poison the answer of a later depth 1', async () => {
    expectError(await client.query({ op: 'list', path: '/deep/l1', depth: '1' as unknown as number }, Q), 'bad_argument');
    const r = await client.list('/deep/l1', 1, Q);
    expectOk(r);
    expect(r.answer).toEqual(['l2']);
  });

  it('a well-formed depth 1 does not make a later malformed depth ("1") succeed', async () => {
    const r = await client.list('/x', 1, Q);
    expectOk(r);
    expect(r.answer).toEqual(['a', 'b']);
    expectError(await client.query({ op: 'list', path: '/x', depth: '1' as unknown as number }, Q), 'bad_argument');
  });

  it('an empty-string depth is bad_argument, and is not confused with a missing depth', async () => {
    expectError(await client.query({ op: 'list', path: '/deep/l1/l2', depth: '' as unknown as number }, Q), 'bad_argument');
    const c = await client.query({ op: 'list', path: '/deep/l1/l2' }, Q);
    expectOk(c);
    expect(c.answer).toEqual(['l3']);
  });
});

describe('ping, stats, wait, unknown ops', () => {
  it('ping answers {node, serial, source, loadedAt, stale, version}', async () => {
    const r = await client.ping(Q);
    expectOk(r);
    const a = r.answer!;
    expect(a).toMatchObject({ node: 'ops-a', serial: SERIAL, source: 'file', stale: false, version: VERSION });
    expect(typeof a.loadedAt).toBe('number');
    expect(a.loadedAt as number).toBeGreaterThanOrEqual(started - 1000);
    expect(a.loadedAt as number).toBeLessThanOrEqual(Date.now() + 1000);
    expect(r.peers[0].node).toBe('ops-a');
  });

  it('stats counters move with requests', async () => {
    const s0 = (await client.query<Record<string, any>>({ op: 'stats' }, Q)).answer!;
    for (const k of ['received', 'requests', 'replies', 'errors', 'drops', 'reloads', 'refusals', 'heldWaits']) expect(s0).toHaveProperty(k);
    await client.get('/cluster/name', Q);
    await client.get('/cluster/name', Q);
    await client.get('/missing', Q);
    await client.list('/nodes', 1, Q);
    const r1 = await client.query<Record<string, any>>({ op: 'stats' }, Q);
    expectOk(r1);
    const s1 = r1.answer!;
    expect(s1.requests.qcf1.get - (s0.requests.qcf1.get ?? 0)).toBeGreaterThanOrEqual(3);
    expect(s1.requests.qcf1.list - (s0.requests.qcf1.list ?? 0)).toBeGreaterThanOrEqual(1);
    expect(s1.requests.qcf1.stats - s0.requests.qcf1.stats).toBeGreaterThanOrEqual(1);
    expect(s1.received - s0.received).toBeGreaterThanOrEqual(5);
    expect(s1.replies.ok - s0.replies.ok).toBeGreaterThanOrEqual(3);
    expect(s1.replies.error - s0.replies.error).toBeGreaterThanOrEqual(1);
    expect(s1.errors.not_found - (s0.errors.not_found ?? 0)).toBeGreaterThanOrEqual(1);
    expect(s1.reloads).toBe(1);
    expect(s1.refusals).toBe(0);
  });

  it('an unknown op is status 2 (not implemented); a missing or non-string op is bad_argument', async () => {
    expectError(await client.query({ op: 'frobnicate' }, Q), 'bad_argument', 2);
    expectError(await client.query({ op: 'GET', path: '' }, Q), 'bad_argument', 2);
    expectError(await client.query({ op: 7 } as unknown as { op: string }, Q), 'bad_argument', 1);
    expectError(await client.query({} as { op: string }, Q), 'bad_argument', 1);
  });

  it('ops named like Object.prototype members are unknown ops and keep every stats counter a number', async () => {
    for (const op of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
      expectError(await client.query({ op }, Q), 'bad_argument', 2);
    }
    const s = (await client.query<Record<string, any>>({ op: 'stats' }, Q)).answer!;
    for (const [op, n] of Object.entries(s.requests.qcf1 as Record<string, unknown>)) expect(typeof n, `requests.qcf1.${op} = ${String(n)}`).toBe('number');
    expect(Number.isFinite(sum(s.requests.qcf1))).toBe(true);
    // The daemon is fine afterwards.
    expectOk(await client.get('/list/1', Q));
  });

  it('wait with neither etag nor minSerial is bad_argument', async () => {
    expectError(await client.query({ op: 'wait', path: '/cluster/master' }, Q), 'bad_argument');
    expectError(await client.query({ op: 'wait', path: '/cluster/master', timeoutMs: 100 }, Q), 'bad_argument');
    expectError(await client.query({ op: 'wait', path: '/cluster/master', etag: null, minSerial: null } as never, Q), 'bad_argument');
  });

  it('wait answers at once when its condition already holds', async () => {
    const r = await client.query({ op: 'wait', path: '/cluster/master', minSerial: SERIAL, timeoutMs: 20_000 }, Q);
    expectOk(r);
    expect(r.answer).toBe('node1.example.com');
    expect(r.holdTimedOut).toBe(false);
    const e = await client.query({ op: 'wait', path: '/cluster/master', etag: 'not-the-etag', timeoutMs: 20_000 }, Q);
    expectOk(e);
    expect(e.etag).toBe((await client.get('/cluster/master', Q)).etag);
  });
});

describe('too_large', () => {
  let big: TestDaemon;
  let bc: ConfdClient;
  const BIG = 'b'.repeat(70_000);
  const FITS = 'f'.repeat(60_000);
  beforeAll(async () => {
    big = new TestDaemon({ doc: sampleDoc(SERIAL, { big: BIG, fits: FITS }), nodeName: 'ops-big' });
    owned.daemons.push(big);
    await big.start();
    bc = clientFor(big);
  });

  it('an answer over 61,440 bytes is the error too_large, not silence', async () => {
    for (const path of ['/big', '']) {
      const r = await bc.get(path, Q);
      expectError(r, 'too_large');
      expect(r.serial).toBe(SERIAL);
      expect(r.peers[0].node).toBe('ops-big');
    }
    // Each entry of an mget is answered on its own: what does not fit with the others is too_large.
    const m = await bc.mget(['/fits', '/fits'], Q);
    expectOk(m);
    expect(m.answer?.[1].status).toBe(1);
    expect(m.answer?.[1].error?.code).toBe('too_large');
    expectError(await bc.query({ op: 'wait', path: '/big', minSerial: 0 }, Q), 'too_large');
  });

  it('an answer just under the limit is delivered whole', async () => {
    const r = await bc.get('/fits', Q);
    expectOk(r);
    expect(r.answer).toBe(FITS);
    expect(FITS.length).toBeLessThan(MAX_REPLY_BYTES);
    // And the raw reply datagram respects the limit.
    const raw = await RawClient.open(big.port);
    try {
      const rep = await raw.query({ op: 'get', path: '/fits' });
      expect(rep.raw.length).toBeLessThanOrEqual(MAX_REPLY_BYTES);
      const tl = await raw.query({ op: 'get', path: '/big' });
      expect(tl.raw.length).toBeLessThanOrEqual(MAX_REPLY_BYTES);
      expect(tl.body).toMatchObject({ status: 1, error: { code: 'too_large' } });
    } finally {
      raw.close();
    }
  });

  it('too_large is counted in stats', async () => {
    const s = (await bc.query<Record<string, any>>({ op: 'stats' }, Q)).answer!;
    expect(s.errors.too_large).toBeGreaterThanOrEqual(3);
  });
});

describe('etags across replicas', () => {
  let b: TestDaemon;
  let cb: ConfdClient;
  beforeAll(async () => {
    b = new TestDaemon({ doc: DOC, nodeName: 'ops-b' });
    owned.daemons.push(b);
    await b.start();
    cb = clientFor(b);
  });

  it('equal values have equal etags on two daemons with different node names', async () => {
    for (const path of ['', '/cluster', '/nodes', '/list', '/list/0', '/x', '/a~1b']) {
      const [ra, rb] = await Promise.all([client.get(path, Q), cb.get(path, Q)]);
      expectOk(ra);
      expectOk(rb);
      expect(ra.peers[0].node).toBe('ops-a');
      expect(rb.peers[0].node).toBe('ops-b');
      expect(ra.etag, path).toBe(rb.etag);
    }
  });

  it('equal values at different paths share an etag (key order does not matter); different values do not', async () => {
    const [x, y, z] = await Promise.all([client.get('/x', Q), cb.get('/y', Q), client.get('/z', Q)]);
    expect(x.etag).toBe(y.etag);
    expect(x.etag).not.toBe(z.etag);
    const both = await client.mget(['/nodes/node1.example.com/drained', '/nodes/node2.example.com/drained', '/cluster/name'], Q);
    expect(both.answer![0].etag).toBe(both.answer![1].etag);
    expect(both.answer![0].etag).not.toBe(both.answer![2].etag);
  });

  it('a query to both daemons is consistent and agreeing', async () => {
    const two = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers: [d.peer, b.peer], retransmitMs: 250 });
    owned.clients.push(two);
    const r = await two.get('/cluster/master', { ...Q, strict: true });
    expectOk(r);
    expect(r.replies).toBe(2);
    expect(r.agreeing).toBe(2);
    expect(r.consistent).toBe(true);
  });
});
