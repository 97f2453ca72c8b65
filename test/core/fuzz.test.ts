// Fuzzing the QCF1 codec (property tests on verifyDatagram / decodeBody / encodeDatagram) and a
// live qconfd (thousands of random and mutated datagrams over real UDP).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Keyring, makeKey } from '../../shared/keyring.js';
import {
  HEADER_LEN,
  KIND_REPLY,
  KIND_REQUEST,
  MAC_OFFSET,
  computeMac,
  decodeBody,
  packBody,
  verifyDatagram,
} from '../../shared/qcf1.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { KEY_A, KEY_B } from '../../testkit/fixtures.js';
import { sampleDoc } from '../support/sample-doc.js';
import { RawClient, decodeReply, dropDelta, encodeDatagram, fetchStats, flipBit, keyOf, request, sum, type StatsAnswer } from '../support/raw-client.js';

const KEY = makeKey(Buffer.from(KEY_A, 'utf8'));
const RING = new Keyring([KEY, makeKey(Buffer.from(KEY_B, 'utf8'))]);
/** A fixed seed per run is printed by fast-check on failure; keep runs bounded. */
const RUNS = 400;

// protocol.md, "Test vectors".
const VEC_REQ = Buffer.from(
  '5143463101000000a8ae6e6e000001a205954bfb000102030405060708090a0b0c0d0e0fd3bdb107df56ae42955e09b149da9cf9b1c0f2d48e3542a23afe90444f5b6c9ade0002a26f70a3676574a470617468af2f636c75737465722f6d6173746572',
  'hex',
);
const VEC_REP = Buffer.from(
  '5143463102000000a8ae6e6e000001a205954d48000102030405060708090a0b0c0d0e0f2fc11774eb3aee0b32c10735b4fb73686e134bc8958599bfbc8e370bc49ef08ade0005a673746174757300a673657269616c07a46e6f6465a161a6616e73776572a26e31a465746167a26531',
  'hex',
);
const SALT = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');

/** What decodeBody may return: nothing, or a plain object (never an array, Buffer, Date, Map, …). */
function expectPlainOrNothing(v: unknown): void {
  if (v === undefined) return;
  expect(typeof v).toBe('object');
  expect(v).not.toBeNull();
  expect(Array.isArray(v)).toBe(false);
  const proto = Object.getPrototypeOf(v);
  expect(proto === Object.prototype || proto === null, `decodeBody returned a ${proto?.constructor?.name}: ${JSON.stringify(v)}`).toBe(true);
}

// JSON-ish values (what a body can carry). -0 is normalised (MessagePack encoders write it as 0);
// "__proto__" keys are left out of the round trip (kept as own properties; tested below).
const jsonKey = fc.string({ unit: 'binary', maxLength: 12 }).filter((k) => k !== '__proto__');
const { json } = fc.letrec((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x)),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.array(tie('json'), { maxLength: 5 }),
    fc.dictionary(jsonKey, tie('json'), { maxKeys: 5, noNullPrototype: true }),
  ),
}));
const body = fc.dictionary(jsonKey, json, { maxKeys: 8, noNullPrototype: true });

const validDatagram = fc
  .record({
    kind: fc.constantFrom(KIND_REQUEST, KIND_REPLY),
    time: fc.integer({ min: 0, max: 2 ** 48 }),
    salt: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    body,
  })
  .map((r) => ({ ...r, bytes: encodeDatagram(r.kind, KEY, r.time, Buffer.from(r.salt), r.body) }));

type Mutation =
  | { t: 'flip'; bit: number }
  | { t: 'truncate'; len: number }
  | { t: 'extend'; extra: Uint8Array }
  | { t: 'overwrite'; at: number; byte: number }
  | { t: 'flips'; bits: number[] };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ t: fc.constant('flip' as const), bit: fc.nat() }),
  fc.record({ t: fc.constant('truncate' as const), len: fc.nat() }),
  fc.record({ t: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ t: fc.constant('overwrite' as const), at: fc.nat(), byte: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ t: fc.constant('flips' as const), bits: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }) }),
);

/** Apply a mutation; the result always differs from `buf`. */
function mutate(buf: Buffer, m: Mutation): Buffer {
  switch (m.t) {
    case 'flip':
      return flipBit(buf, m.bit % (buf.length * 8));
    case 'truncate':
      return Buffer.from(buf.subarray(0, m.len % buf.length));
    case 'extend':
      return Buffer.concat([buf, m.extra]);
    case 'overwrite': {
      const out = Buffer.from(buf);
      const i = m.at % buf.length;
      out[i] ^= m.byte; // byte ≠ 0, so the byte changes
      return out;
    }
    case 'flips': {
      // Distinct bits only: flipping one twice would restore it.
      const bits = [...new Set(m.bits.map((b) => b % (buf.length * 8)))];
      let out = buf;
      for (const b of bits) out = flipBit(out, b);
      return out;
    }
  }
}

describe('QCF1 codec properties', () => {
  it('the test vectors verify and decode to the bodies of protocol.md', () => {
    const ring = Keyring.fromStrings([KEY_A]);
    expect(KEY.idHex).toBe('a8ae6e6e');

    const q = verifyDatagram(VEC_REQ, ring, KIND_REQUEST);
    expect(q.ok).toBe(true);
    if (!q.ok) return;
    expect(q.header.kind).toBe(1);
    expect(q.header.keyId).toBe(0xa8ae6e6e);
    expect(q.header.timeMs).toBe(1795390000123);
    expect(Buffer.from(q.header.salt).equals(SALT)).toBe(true);
    expect(decodeBody(VEC_REQ)).toEqual({ op: 'get', path: '/cluster/master' });
    expect(computeMac(KEY.bytes, VEC_REQ).equals(VEC_REQ.subarray(MAC_OFFSET, HEADER_LEN))).toBe(true);

    const r = verifyDatagram(VEC_REP, ring, KIND_REPLY);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.header.kind).toBe(2);
    expect(r.header.timeMs).toBe(1795390000456);
    expect(Buffer.from(r.header.salt).equals(SALT)).toBe(true);
    expect(decodeBody(VEC_REP)).toEqual({ status: 0, serial: 7, node: 'a', answer: 'n1', etag: 'e1' });

    // Each vector is of its own kind only.
    expect(verifyDatagram(VEC_REQ, ring, KIND_REPLY)).toEqual({ ok: false, reason: 'bad_kind' });
    expect(verifyDatagram(VEC_REP, ring, KIND_REQUEST)).toEqual({ ok: false, reason: 'bad_kind' });
    // Without the key, nothing verifies.
    expect(verifyDatagram(VEC_REQ, Keyring.fromStrings([KEY_B]), KIND_REQUEST)).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('our encoder signs the vector bodies to datagrams that verify with the same header', () => {
    const q = encodeDatagram(KIND_REQUEST, KEY, 1795390000123, SALT, { op: 'get', path: '/cluster/master' });
    // Same header as the vector (the body encoding may differ: fixmap vs map16).
    expect(q.subarray(0, MAC_OFFSET).equals(VEC_REQ.subarray(0, MAC_OFFSET))).toBe(true);
    expect(verifyDatagram(q, RING, KIND_REQUEST).ok).toBe(true);
    // Encoding the vector's own body bytes reproduces the vector byte for byte.
    const again = encodeDatagram(KIND_REQUEST, KEY, 1795390000123, SALT, Buffer.from(VEC_REQ.subarray(HEADER_LEN)));
    expect(again.equals(VEC_REQ)).toBe(true);
    const rep = encodeDatagram(KIND_REPLY, KEY, 1795390000456, SALT, Buffer.from(VEC_REP.subarray(HEADER_LEN)));
    expect(rep.equals(VEC_REP)).toBe(true);
  });

  it('every single-bit flip of either test vector is rejected', () => {
    for (const [vec, kind] of [
      [VEC_REQ, KIND_REQUEST],
      [VEC_REP, KIND_REPLY],
    ] as const) {
      for (let bit = 0; bit < vec.length * 8; bit++) {
        const v = verifyDatagram(flipBit(vec, bit), RING, kind);
        expect(v.ok, `bit ${bit} of the ${kind === 1 ? 'request' : 'reply'} vector`).toBe(false);
      }
    }
  });

  it('verifyDatagram and decodeBody never throw on arbitrary bytes, and accept none', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const buf = Buffer.from(bytes);
        for (const kind of [KIND_REQUEST, KIND_REPLY]) expect(verifyDatagram(buf, RING, kind).ok).toBe(false);
        expectPlainOrNothing(decodeBody(buf));
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it('arbitrary bytes behind a well-formed header never verify (only the MAC can admit them)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(KIND_REQUEST, KIND_REPLY),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        (kind, rest, bodyBytes) => {
          const buf = Buffer.concat([Buffer.from('QCF1'), Buffer.from([kind, 0, 0, 0]), Buffer.from(rest), Buffer.from(bodyBytes)]);
          buf.writeUInt32BE(KEY.id, 8); // a known key, so the MAC is what decides
          const v = verifyDatagram(buf, RING, kind);
          expect(v).toEqual({ ok: false, reason: 'bad_mac' });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('decodeBody never throws on arbitrary body bytes and returns only plain maps', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bodyBytes) => {
        expectPlainOrNothing(decodeBody(Buffer.concat([Buffer.alloc(HEADER_LEN), Buffer.from(bodyBytes)])));
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it('decodeBody accepts no one- or two-byte body except the empty map 0x80 (exhaustive)', () => {
    const accepted: string[] = [];
    const hdr = Buffer.alloc(HEADER_LEN);
    for (let a = 0; a < 256; a++) {
      const v = decodeBody(Buffer.concat([hdr, Buffer.from([a])]));
      if (v !== undefined && !(a === 0x80 && JSON.stringify(v) === '{}' && Object.getPrototypeOf(v) === Object.prototype)) {
        accepted.push(`${a.toString(16).padStart(2, '0')} → ${Object.getPrototypeOf(v)?.constructor?.name} ${JSON.stringify(v)}`);
      }
      for (let b = 0; b < 256; b++) {
        const w = decodeBody(Buffer.concat([hdr, Buffer.from([a, b])]));
        if (w !== undefined) accepted.push(`${a.toString(16).padStart(2, '0')}${b.toString(16).padStart(2, '0')} → ${JSON.stringify(w)}`);
      }
    }
    expect(accepted, 'bodies that are not one MessagePack map were accepted').toEqual([]);
  });

  it('decodeBody rejects every value that is not a map, and a map with trailing bytes', () => {
    const hdr = Buffer.alloc(HEADER_LEN);
    fc.assert(
      fc.property(fc.oneof(json.filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)), fc.uint8Array().map((u) => Buffer.from(u))), (v) => {
        expect(decodeBody(Buffer.concat([hdr, packBody(v as object)]))).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(body, fc.uint8Array({ minLength: 1, maxLength: 20 }), (b, extra) => {
        expect(decodeBody(Buffer.concat([hdr, packBody(b), Buffer.from(extra)]))).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
  });

  it('a "__proto__" key in a body does not reach the prototype', () => {
    const p = Buffer.from([0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa6, ...Buffer.from('polled'), 0xc3]);
    const v = decodeBody(Buffer.concat([Buffer.alloc(HEADER_LEN), p]));
    expectPlainOrNothing(v);
    expect(({} as Record<string, unknown>).polled).toBeUndefined();
    if (v) expect((v as Record<string, unknown>).polled).toBeUndefined();
  });

  it('encodeDatagram → verifyDatagram → decodeBody round-trips arbitrary JSON-ish bodies', () => {
    fc.assert(
      fc.property(validDatagram, ({ kind, time, salt, body: b, bytes }) => {
        const v = verifyDatagram(bytes, RING, kind);
        expect(v.ok).toBe(true);
        if (!v.ok) return;
        expect(v.header.kind).toBe(kind);
        expect(v.header.keyId).toBe(KEY.id);
        expect(v.header.timeMs).toBe(time);
        expect(Buffer.from(v.header.salt).equals(Buffer.from(salt))).toBe(true);
        expect(v.key.id).toBe(KEY.id);
        expect(decodeBody(bytes)).toEqual(b);
      }),
      { numRuns: RUNS },
    );
  });

  it('no mutation of a valid datagram (bit flips, truncation, extension, overwrites) verifies, and none throws', () => {
    fc.assert(
      fc.property(validDatagram, mutation, ({ kind, bytes }, m) => {
        const bad = mutate(bytes, m);
        expect(bad.equals(bytes)).toBe(false);
        const v = verifyDatagram(bad, RING, kind);
        expect(v.ok, `mutation ${JSON.stringify(m)} was accepted`).toBe(false);
        expectPlainOrNothing(decodeBody(bad));
      }),
      { numRuns: RUNS * 2 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// A live daemon under a flood of junk.

const FLOOD = 3000;
const AUTH_FLOOD = 600;
const BATCH = 25;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every datagram received was either dropped (by reason) or counted as a request. */
function expectAccounted(s: StatsAnswer): void {
  for (const [proto, table] of Object.entries(s.requests)) {
    for (const [op, n] of Object.entries(table)) expect(typeof n, `stats requests.${proto}.${op} is ${JSON.stringify(n)}`).toBe('number');
  }
  for (const [k, v] of Object.entries(s.drops)) expect(typeof v, `drops.${k}`).toBe('number');
  expect(s.drops.internal ?? 0, 'a handler threw').toBe(0);
  const requests = sum(s.requests.qcf1) + sum(s.requests.plj0);
  expect(s.received, `received ≠ drops + requests: ${JSON.stringify({ received: s.received, drops: s.drops, requests: s.requests })}`).toBe(sum(s.drops) + requests);
  expect(sum(s.replies)).toBeLessThanOrEqual(requests);
}

/** Send `datagrams` paced in small batches so the daemon's socket buffer is not simply overrun. */
async function flood(c: RawClient, datagrams: Buffer[]): Promise<void> {
  for (let i = 0; i < datagrams.length; i++) {
    await c.send(datagrams[i]);
    if (i % BATCH === BATCH - 1) await sleep(4);
  }
}

describe('a live qconfd under fuzzing', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await new TestDaemon({ doc: sampleDoc(42), nodeName: 'fuzzed' }).start();
  });
  afterAll(async () => {
    await d?.stop('SIGKILL');
  });

  async function checkServing(): Promise<void> {
    expect(d.child.exitCode, d.output.slice(-3000)).toBeNull();
    const c = await RawClient.open(d.port);
    try {
      const g = await c.query({ op: 'get', path: '/nodes/node1.example.com/primary_ip' });
      expect(g.body).toMatchObject({ status: 0, serial: 42, node: 'fuzzed', answer: '192.0.2.11' });
      const p = await c.query({ op: 'ping' });
      expect(p.body.answer).toMatchObject({ node: 'fuzzed', serial: 42, source: 'file' });
      const l = await c.query({ op: 'list', path: '/cluster' });
      expect(l.body.answer).toEqual(['master', 'name']);
    } finally {
      c.close();
    }
  }

  it(`drops ${FLOOD} random and mutated datagrams without a single reply, and keeps serving`, async () => {
    const seed = Date.now() ^ 0x5eed;
    // Random bytes (sometimes behind the QCF1 magic) and mutations of fresh valid requests.
    const junk = fc.oneof(
      fc.uint8Array({ maxLength: 400 }).map((u) => Buffer.from(u)),
      fc.uint8Array({ maxLength: 400 }).map((u) => Buffer.concat([Buffer.from('QCF1'), Buffer.from(u)])),
      fc.uint8Array({ minLength: 8000, maxLength: 9500 }).map((u) => Buffer.concat([Buffer.from('QCF1'), Buffer.from(u)])),
      fc.tuple(body, mutation).map(([b, m]) => mutate(request({ op: 'get', path: '/cluster/master', ...b }), m)),
      fc.tuple(fc.constantFrom('ping', 'get', 'mget', 'list', 'stats', 'wait'), mutation).map(([op, m]) =>
        mutate(request({ op, path: '', paths: ['/list/0'], minSerial: 1, timeoutMs: 100 }), m),
      ),
    );
    const datagrams = fc.sample(junk, { numRuns: FLOOD, seed });
    expect(datagrams).toHaveLength(FLOOD);

    const before = await fetchStats(d.port);
    expectAccounted(before);
    const c = await RawClient.open(d.port);
    try {
      await flood(c, datagrams);
      const replies = await c.collect(2000);
      expect(replies.length, `replies to unauthenticated junk (seed ${seed})`).toBe(0);
    } finally {
      c.close();
    }
    const after = await fetchStats(d.port);
    expectAccounted(after);
    const drops = sum(after.drops) - sum(before.drops);
    const requests = sum(after.requests.qcf1) - sum(before.requests.qcf1);
    const received = after.received - before.received;
    // Our own stats fetches are the only requests in between (one, plus retries on loss).
    expect(requests).toBeGreaterThanOrEqual(1);
    expect(requests).toBeLessThanOrEqual(5);
    expect(received - requests).toBe(drops);
    expect(drops).toBeLessThanOrEqual(FLOOD);
    // Loopback may lose some datagrams under load, but not most of them.
    expect(drops, `only ${drops} of ${FLOOD} datagrams reached the daemon`).toBeGreaterThan(FLOOD / 2);
    const delta = dropDelta(before, after);
    for (const reason of Object.keys(delta)) {
      expect(['too_short', 'too_long', 'bad_magic', 'bad_kind', 'bad_reserved', 'unknown_key', 'bad_mac']).toContain(reason);
    }
    expect(delta.bad_mac ?? 0).toBeGreaterThan(0);
    expect(delta.bad_magic ?? 0).toBeGreaterThan(0);
    await checkServing();
  });

  it(`answers or drops (bad_body) ${AUTH_FLOOD} correctly signed datagrams with junk bodies, every reply valid`, async () => {
    const seed = Date.now() ^ 0xb0d1;
    const anyValue = fc.oneof(json, fc.uint8Array({ maxLength: 8 }).map((u) => Buffer.from(u)));
    const junkBody = fc.oneof(
      // Bytes that are almost never MessagePack maps.
      fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
      // Maps shaped like requests, with wrong or odd field types.
      fc
        .record(
          {
            op: fc.oneof(fc.constantFrom('ping', 'get', 'mget', 'list', 'stats', 'wait', 'GET', ''), fc.string({ maxLength: 20 }), anyValue),
            path: fc.oneof(fc.constantFrom('', '/', '/list/0', '/list/-', '/a~1b/m~0n', '/nodes', '~', '/~2', '/list/01'), fc.string({ maxLength: 30 }), anyValue),
            paths: fc.oneof(fc.array(fc.constantFrom('', '/list', '/x', 'bad'), { maxLength: 70 }), anyValue),
            depth: fc.oneof(fc.integer({ min: -2, max: 20 }), anyValue),
            etag: fc.oneof(fc.string({ maxLength: 30 }), anyValue),
            minSerial: fc.oneof(fc.nat(100), anyValue),
            timeoutMs: fc.integer({ min: 0, max: 300 }),
          },
          { requiredKeys: ['timeoutMs'] },
        )
        .map((r) => packBody({ ...r, to: `127.0.0.1:${d.port}` })),
      // Valid request bodies with bytes flipped (then signed).
      fc.tuple(fc.constantFrom({ op: 'get', path: '/cluster' }, { op: 'list', path: '', depth: 2 }, { op: 'mget', paths: ['/list/1', '/x'] }), mutation).map(([b, m]) =>
        mutate(packBody({ ...b, to: `127.0.0.1:${d.port}` }), m),
      ),
    );
    // fast-check's strings favour names like "constructor" and "__proto__" now and then; send
    // them every time so that what they do to the daemon is seen on every run.
    const fixed = ['constructor', '__proto__', 'toString', 'hasOwnProperty'].map((op) => packBody({ op, to: `127.0.0.1:${d.port}` }));
    const bodies = [...fixed, ...fc.sample(junkBody, { numRuns: AUTH_FLOOD - fixed.length, seed })];

    const before = await fetchStats(d.port);
    const c = await RawClient.open(d.port);
    const sent = new Set<string>();
    try {
      const datagrams = bodies.map((b) => {
        const q = request(b);
        sent.add(q.subarray(20, 36).toString('hex'));
        return q;
      });
      await flood(c, datagrams);
      // Held waits time out within 300 ms; leave room for that and a loaded machine.
      const replies = await c.collect(3000);
      const codes = new Set(['not_found', 'bad_argument', 'too_large', 'not_ready', 'busy', 'internal', 'retry']);
      const seen = new Set<string>();
      for (const raw of replies) {
        const r = decodeReply(raw);
        const salt = r.salt.toString('hex');
        expect(sent.has(salt), 'a reply to a salt we never sent').toBe(true);
        expect(seen.has(salt), 'two replies to one request').toBe(false);
        seen.add(salt);
        expect([0, 1, 2]).toContain(r.body.status);
        expect(r.body.node).toBe('fuzzed');
        expect(typeof r.body.serial).toBe('number');
        if (r.body.status !== 0) {
          const e = r.body.error as { code: string; message: string };
          expect(codes.has(e.code), `error code ${e.code}`).toBe(true);
          expect(typeof e.message).toBe('string');
        }
      }
      const after = await fetchStats(d.port);
      expectAccounted(after);
      const delta = dropDelta(before, after);
      // An empty body leaves a bare 68-byte header, which the daemon counts as too_short.
      const empty = bodies.filter((b) => b.length === 0).length;
      // A body whose `to` was mangled (or is missing) names no daemon: wrong_destination.
      for (const reason of Object.keys(delta)) expect(['bad_body', 'too_short', 'wrong_destination'], `seed ${seed}`).toContain(reason);
      expect(delta.too_short ?? 0).toBeLessThanOrEqual(empty);
      const requests = sum(after.requests.qcf1) - sum(before.requests.qcf1);
      // Each junk datagram that arrived was dropped as bad_body or became a request; at most
      // one reply per request (held waits included), and no more than we sent.
      const dropped = (delta.bad_body ?? 0) + (delta.too_short ?? 0) + (delta.wrong_destination ?? 0);
      expect(dropped + requests).toBeLessThanOrEqual(AUTH_FLOOD + 5);
      expect(replies.length).toBeLessThanOrEqual(requests);
      expect(dropped + replies.length).toBeLessThanOrEqual(AUTH_FLOOD);
    } finally {
      c.close();
    }
    await checkServing();
  });

  it('a key the daemon does not have gets no reply for any body', async () => {
    const c = await RawClient.open(d.port);
    const before = await fetchStats(d.port);
    try {
      const bodies = fc.sample(body, { numRuns: 100 });
      await flood(c, bodies.map((b) => request({ op: 'ping', ...b }, { key: keyOf(KEY_B) })));
      expect(await c.collect(1500)).toEqual([]);
    } finally {
      c.close();
    }
    const delta = dropDelta(before, await fetchStats(d.port));
    expect(Object.keys(delta)).toEqual(['unknown_key']);
    await checkServing();
  });

  it('still answers a burst of valid requests correctly after the fuzzing', async () => {
    const c = await RawClient.open(d.port);
    try {
      const qs = Array.from({ length: 50 }, (_, i) => request({ op: 'get', path: `/list/${i % 3}` }));
      for (const q of qs) await c.send(q);
      const got = new Map<string, unknown>();
      const end = Date.now() + 10_000;
      while (got.size < qs.length && Date.now() < end) {
        const raw = await c.recv(end - Date.now());
        if (!raw) break;
        const r = decodeReply(raw);
        got.set(r.salt.toString('hex'), r.body.answer);
      }
      // Loopback may drop a few under load; the ones answered must be right.
      expect(got.size).toBeGreaterThan(qs.length / 2);
      qs.forEach((q, i) => {
        const a = got.get(q.subarray(20, 36).toString('hex'));
        if (a !== undefined) expect(a).toBe([10, 20, 30][i % 3]);
      });
    } finally {
      c.close();
    }
    const s = await fetchStats(d.port);
    expectAccounted(s);
  });
});
