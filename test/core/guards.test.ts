// The QCF1 request guards of a real qconfd (protocol.md, "Datagram layout", "Freshness and
// replay"): every malformed, mis-signed, stale or replayed datagram is dropped silently, counted
// under its reason in `stats`, and the daemon keeps answering valid queries.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { TestDaemon } from '../../testkit/daemons.js';
import { KEY_A, KEY_B } from '../../testkit/fixtures.js';
import { sampleDoc } from '../support/sample-doc.js';
import { HEADER_LEN, MAX_REQUEST_BYTES, packBody } from '../../shared/qcf1.js';
import {
  RawClient,
  decodeReply,
  dropDelta,
  fetchStats,
  flipBit,
  frame,
  keyOf,
  request,
  type DecodedReply,
} from '../support/raw-client.js';

/** Long enough that a reply, had one been sent, would have arrived on a loaded machine. */
const SILENCE_MS = 1500;

const daemons: TestDaemon[] = [];
async function startDaemon(opts: ConstructorParameters<typeof TestDaemon>[0] = {}): Promise<TestDaemon> {
  const d = new TestDaemon({ doc: sampleDoc(7), ...opts });
  daemons.push(d);
  return d.start();
}

function expectValidReply(r: DecodedReply | undefined, sent: Buffer, node?: string): asserts r is DecodedReply {
  expect(r, 'a valid request must be answered').toBeDefined();
  const reply = r as DecodedReply;
  expect(reply.raw[4]).toBe(2);
  expect(reply.salt.equals(sent.subarray(20, 36))).toBe(true);
  expect(reply.keyId).toBe(sent.readUInt32BE(8));
  expect(Math.abs(reply.timeMs - Date.now())).toBeLessThan(30_000);
  expect(reply.body.status).toBe(0);
  if (node !== undefined) expect(reply.body.node).toBe(node);
}

/**
 * Send every datagram, check that none is answered within SILENCE_MS, that `stats` counted
 * exactly these drops (`expected`: reason → count; a function for looser checks), and that a
 * valid query from the same socket is answered afterwards.
 */
async function expectDropped(
  d: TestDaemon,
  datagrams: Array<Buffer | (() => Buffer)>,
  expected: Record<string, number> | ((delta: Record<string, number>) => void),
): Promise<void> {
  const before = await fetchStats(d.port);
  const c = await RawClient.open(d.port);
  try {
    for (const g of datagrams) await c.send(typeof g === 'function' ? g() : g);
    const got = await c.collect(SILENCE_MS);
    expect(got.length, `a dropped datagram was answered (${got.length} replies)`).toBe(0);
    const after = await fetchStats(d.port);
    const delta = dropDelta(before, after);
    if (typeof expected === 'function') expected(delta);
    else expect(delta).toEqual(expected);
    expect(after.received - before.received).toBeGreaterThanOrEqual(datagrams.length);
    // Still serving, to the very socket that sent the garbage.
    const ping = request({ op: 'ping' });
    expectValidReply(await c.exchange(ping, 5000), ping, d.nodeName);
    const get = await c.query({ op: 'get', path: '/cluster/master' });
    expect(get.body.answer).toBe('node1.example.com');
  } finally {
    c.close();
  }
}

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

describe('qconfd request guards (default options)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon();
  });

  afterEach(() => {
    // Whatever a test sent, the daemon must still be running.
    expect(d.child.exitCode, d.output.slice(-3000)).toBeNull();
    expect(d.child.signalCode).toBeNull();
  });

  it('answers a valid request: reply kind 2, same salt and keyId, signed with the request key', async () => {
    const c = await RawClient.open(d.port);
    try {
      const q = request({ op: 'get', path: '/cluster/name' });
      const r = await c.exchange(q, 5000);
      expectValidReply(r, q, d.nodeName);
      expect(r.body).toMatchObject({ status: 0, serial: 7, answer: 'test.example.com' });
      expect(typeof r.body.etag).toBe('string');
    } finally {
      c.close();
    }
  });

  it('drops a bad MAC: a bit flipped in the MAC, the body, the header time or the salt', async () => {
    const bits = (g: () => Buffer, byte: number, bit = 7) => () => flipBit(g(), byte * 8 + bit);
    const ping = () => request({ op: 'ping' });
    const get = () => request({ op: 'get', path: '/cluster/master' });
    await expectDropped(
      d,
      [
        bits(ping, 36), // first MAC byte
        bits(ping, 67, 0), // last MAC byte
        bits(get, HEADER_LEN + 3), // inside the body
        bits(get, (get().length - 1)), // last body byte
        bits(ping, 19), // lowest byte of the time: still inside the skew window
        bits(ping, 18, 0),
        bits(ping, 20), // salt
        bits(ping, 35, 0),
      ],
      { bad_mac: 8 },
    );
  });

  it('drops a zeroed MAC and a MAC made with another key under our keyId', async () => {
    await expectDropped(
      d,
      [
        () => frame({ sign: false }),
        () => frame({ key: keyOf(KEY_B), keyId: keyOf(KEY_A).id }),
      ],
      { bad_mac: 2 },
    );
  });

  it('drops a request signed with a key the daemon does not have (unknown keyId)', async () => {
    await expectDropped(
      d,
      [
        () => request({ op: 'ping' }, { key: keyOf(KEY_B) }),
        () => request({ op: 'get', path: '' }, { key: keyOf('an-entirely-different-key-0001') }),
        () => flipBit(request({ op: 'ping' }), 8 * 8), // keyId bit flipped
      ],
      { unknown_key: 3 },
    );
  });

  it('drops requests stamped beyond the 60 s window, past and future', async () => {
    await expectDropped(
      d,
      [
        () => request({ op: 'ping' }, { timeMs: Date.now() - 90_000 }),
        () => request({ op: 'ping' }, { timeMs: Date.now() + 90_000 }),
        () => request({ op: 'ping' }, { timeMs: Date.now() - 3_600_000 }),
        () => request({ op: 'ping' }, { timeMs: Date.now() + 86_400_000 }),
        () => request({ op: 'ping' }, { timeMs: 0 }),
        () => request({ op: 'ping' }, { timeMs: 2 ** 53 - 1 }),
      ],
      { skew: 6 },
    );
  });

  it('answers requests stamped inside the window, past and future', async () => {
    const c = await RawClient.open(d.port);
    try {
      for (const offset of [-40_000, -5_000, 5_000, 40_000]) {
        const q = request({ op: 'ping' }, { timeMs: Date.now() + offset });
        expectValidReply(await c.exchange(q, 5000), q, d.nodeName);
      }
    } finally {
      c.close();
    }
  });

  it('answers the first copy of a datagram and drops the replay, from any source', async () => {
    const before = await fetchStats(d.port);
    const a = await RawClient.open(d.port);
    const b = await RawClient.open(d.port);
    try {
      const q = request({ op: 'get', path: '/list/1' });
      const first = await a.exchange(q, 5000);
      expectValidReply(first, q);
      expect(first.body.answer).toBe(20);
      await a.send(q); // the same bytes again
      await b.send(q); // and from another socket
      expect(await a.collect(SILENCE_MS)).toEqual([]);
      expect(await b.collect(0)).toEqual([]);
      const after = await fetchStats(d.port);
      expect(dropDelta(before, after)).toEqual({ replay: 2 });
      // A new salt with the same body is a new request.
      const again = request({ op: 'get', path: '/list/1' });
      expectValidReply(await a.exchange(again, 5000), again);
    } finally {
      a.close();
      b.close();
    }
  });

  it('drops a replay even when the first copy was stamped in the past or future of the window', async () => {
    const c = await RawClient.open(d.port);
    const before = await fetchStats(d.port);
    try {
      for (const offset of [-50_000, 50_000]) {
        const q = request({ op: 'ping' }, { timeMs: Date.now() + offset });
        expectValidReply(await c.exchange(q, 5000), q);
        await c.send(q);
      }
      expect(await c.collect(SILENCE_MS)).toEqual([]);
      expect(dropDelta(before, await fetchStats(d.port))).toEqual({ replay: 2 });
    } finally {
      c.close();
    }
  });

  it('drops a valid-MAC datagram of the wrong kind (2 = reply, 7, 0, 255)', async () => {
    await expectDropped(
      d,
      [2, 7, 0, 255].map((kind) => () => frame({ kind, body: { op: 'ping' } })),
      { bad_kind: 4 },
    );
  });

  it('drops a valid-MAC datagram with nonzero reserved bytes', async () => {
    const variants: Array<[number, number, number]> = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
      [0x80, 0, 0],
      [0xff, 0xff, 0xff],
    ];
    await expectDropped(
      d,
      variants.map((reserved) => () => frame({ reserved })),
      { bad_reserved: variants.length },
    );
  });

  it('drops short datagrams of 0 to 67 bytes (prefixes of a valid request)', async () => {
    const full = request({ op: 'get', path: '/cluster/master' });
    const prefixes = Array.from({ length: HEADER_LEN }, (_, n) => () => request({ op: 'get', path: '/cluster/master' }).subarray(0, n));
    expect(full.length).toBeGreaterThan(HEADER_LEN);
    await expectDropped(d, prefixes, { too_short: HEADER_LEN });
  });

  it('drops a 68-byte header with a valid MAC and no body', async () => {
    await expectDropped(d, [() => frame({ body: Buffer.alloc(0) })], (delta) => {
      // No body at all: the code counts it as too_short; bad_body would also be a fair name.
      expect(Object.keys(delta)).toHaveLength(1);
      expect(['too_short', 'bad_body']).toContain(Object.keys(delta)[0]);
      expect(Object.values(delta)[0]).toBe(1);
    });
  });

  it('drops datagrams over 8,192 bytes even with a valid MAC, and answers one of exactly 8,192', async () => {
    const padded = (total: number) => {
      // An ignored key pads the body to the exact datagram size wanted (string headers grow
      // with the length, so adjust until it fits).
      let pad = total - HEADER_LEN - packBody({ op: 'ping', pad: '' }).length;
      let q = request({ op: 'ping', pad: 'x'.repeat(pad) });
      for (let i = 0; i < 5 && q.length !== total; i++) {
        pad -= q.length - total;
        q = request({ op: 'ping', pad: 'x'.repeat(pad) });
      }
      expect(q.length).toBe(total);
      return q;
    };
    await expectDropped(d, [() => padded(MAX_REQUEST_BYTES + 1), () => padded(20_000), () => padded(65_000)], { too_long: 3 });

    const c = await RawClient.open(d.port);
    try {
      const q = padded(MAX_REQUEST_BYTES);
      expectValidReply(await c.exchange(q, 5000), q, d.nodeName);
    } finally {
      c.close();
    }
  });

  it('drops random bytes (not starting with the QCF1 magic)', async () => {
    const junk = Array.from({ length: 40 }, (_, i) => {
      const b = randomBytes(4 + ((i * 97) % 2000));
      if (b[0] === 0x51) b[0] = 0x50; // never "Q"
      return b;
    });
    await expectDropped(d, junk, { bad_magic: junk.length });
  });

  it('drops random bytes behind the QCF1 magic without ever answering', async () => {
    const junk = Array.from({ length: 40 }, (_, i) => Buffer.concat([Buffer.from('QCF1'), randomBytes(i * 50)]));
    await expectDropped(d, junk, (delta) => {
      const total = Object.values(delta).reduce((a, b) => a + b, 0);
      expect(total).toBe(junk.length);
      for (const reason of Object.keys(delta)) expect(['too_short', 'bad_kind', 'bad_reserved', 'unknown_key']).toContain(reason);
    });
  });

  it('drops a valid MAC over a body that is not one MessagePack map', async () => {
    const map = packBody({ op: 'ping' });
    const bodies: Buffer[] = [
      packBody([1, 2, 3] as unknown as object), // array
      Buffer.from([0xa3, 0x67, 0x65, 0x74]), // the string "get"
      Buffer.from([0x07]), // positive fixint
      Buffer.from([0xc0]), // nil
      Buffer.from([0xc3]), // true
      Buffer.from([0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18]), // float64
      Buffer.from([0xc4, 0x03, 0x01, 0x02, 0x03]), // bin 8
      Buffer.from([0xd6, 0xff, 0x00, 0x00, 0x00, 0x01]), // timestamp ext (a Date)
      Buffer.from([0xd4, 0x05, 0x01]), // unknown fixext
      Buffer.concat([map, Buffer.from([0xc0])]), // a map and one trailing byte
      Buffer.concat([map, map]), // two maps
      map.subarray(0, map.length - 1), // truncated map
      Buffer.from([0x82, 0xa2, 0x6f, 0x70, 0xa4, 0x70, 0x69, 0x6e, 0x67]), // map16 says 2 pairs, has 1
      Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]), // map32 claiming 4 billion pairs
    ];
    await expectDropped(
      d,
      bodies.map((body) => () => request(body)),
      { bad_body: bodies.length },
    );
  });

  it('drops a valid MAC over the never-used MessagePack byte 0xc1 as a body', async () => {
    // 0xc1 is not a map (it is no MessagePack value at all): drop it, like any other non-map.
    await expectDropped(d, [() => request(Buffer.from([0xc1]))], { bad_body: 1 });
  });

  it('is still serving the right document after all of the above', async () => {
    const s = await fetchStats(d.port);
    expect(s.drops.internal ?? 0).toBe(0);
    const c = await RawClient.open(d.port);
    try {
      const r = await c.query({ op: 'get', path: '/nodes/node2.example.com/primary_ip' });
      expect(r.body).toMatchObject({ status: 0, serial: 7, answer: '192.0.2.12', node: d.nodeName });
    } finally {
      c.close();
    }
  });
});

describe('qconfd request guards (options and keyrings)', () => {
  it('--max-skew 5 narrows the window to 5 s', async () => {
    const d = await startDaemon({ args: ['--max-skew', '5'] });
    await expectDropped(
      d,
      [
        () => request({ op: 'ping' }, { timeMs: Date.now() - 15_000 }),
        () => request({ op: 'ping' }, { timeMs: Date.now() + 15_000 }),
        () => request({ op: 'ping' }, { timeMs: Date.now() - 40_000 }), // fine under the default
      ],
      { skew: 3 },
    );
    const c = await RawClient.open(d.port);
    try {
      for (const offset of [-1_000, 1_000]) {
        const q = request({ op: 'ping' }, { timeMs: Date.now() + offset });
        expectValidReply(await c.exchange(q, 5000), q, d.nodeName);
      }
    } finally {
      c.close();
    }
    await d.stop();
  });

  it('--max-skew 300 widens the window beyond the default 60 s', async () => {
    const d = await startDaemon({ args: ['--max-skew', '300'] });
    const c = await RawClient.open(d.port);
    try {
      for (const offset of [-120_000, 120_000, -250_000]) {
        const q = request({ op: 'ping' }, { timeMs: Date.now() + offset });
        expectValidReply(await c.exchange(q, 5000), q, d.nodeName);
      }
    } finally {
      c.close();
    }
    await expectDropped(d, [() => request({ op: 'ping' }, { timeMs: Date.now() - 400_000 })], { skew: 1 });
    await d.stop();
  });

  it('a full replay memory (--replay-capacity 1024) never lets a replay through', async () => {
    const d = await startDaemon({ args: ['--replay-capacity', '1024'] });
    const c = await RawClient.open(d.port);
    const before = await fetchStats(d.port);
    try {
      // More distinct requests than the memory holds, all stamped in one past moment.
      const t = Date.now() - 20_000;
      const qs = Array.from({ length: 1100 }, () => request({ op: 'ping' }, { timeMs: t }));
      for (let i = 0; i < qs.length; i++) {
        await c.send(qs[i]);
        if (i % 25 === 24) await new Promise((r) => setTimeout(r, 4));
      }
      const first = await c.collect(SILENCE_MS);
      expect(first.length).toBeGreaterThan(0);
      // Replay the earliest ones (answered, then forgotten by the full memory) and the latest.
      const replays = [...qs.slice(0, 50), ...qs.slice(-10)];
      for (const q of replays) await c.send(q);
      const again = await c.collect(SILENCE_MS);
      expect(again.length, 'a replayed datagram was answered').toBe(0);
      const after = await fetchStats(d.port);
      const delta = dropDelta(before, after);
      for (const reason of Object.keys(delta)) expect(['replay', 'replay_overflow']).toContain(reason);
      // Fresh requests are still answered.
      const q = request({ op: 'ping' });
      expectValidReply(await c.exchange(q, 5000), q, d.nodeName);
    } finally {
      c.close();
    }
    await d.stop();
  });

  it('accepts every key of its keyring and signs each reply with the key of its request', async () => {
    const d = await startDaemon({ keys: [KEY_A, KEY_B] });
    const c = await RawClient.open(d.port);
    try {
      for (const k of [KEY_A, KEY_B]) {
        const q = request({ op: 'get', path: '/cluster/name' }, { key: keyOf(k) });
        await c.send(q);
        const raw = await c.recv(5000);
        expect(raw, `no reply to a request signed with ${k.slice(0, 8)}…`).toBeDefined();
        const r = decodeReply(raw as Buffer, [k]);
        expect(r.keyId).toBe(keyOf(k).id);
        expect(r.salt.equals(q.subarray(20, 36))).toBe(true);
        expect(r.body.answer).toBe('test.example.com');
        // The other key does not verify it.
        const other = k === KEY_A ? KEY_B : KEY_A;
        expect(() => decodeReply(raw as Buffer, [other])).toThrow();
      }
    } finally {
      c.close();
    }
    await d.stop();
  });
});
