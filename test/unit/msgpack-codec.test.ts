// The QCF1 body codec (shared/msgpack-encode.ts, shared/msgpack-decode.ts), held to msgpackr,
// the codec QCF1 was first specified with: its bytes are msgpackr's with the options below, it
// reads what msgpackr reads, it reproduces protocol.md's test vectors, and it accepts and rejects
// reply datagrams exactly as a msgpackr adapter does, except that bodies with msgpackr-only
// extensions are dropped (a daemon never sends them).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { FLOAT32_OPTIONS, Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Packr as ReferencePackr } from 'msgpackr/pack';
import { packBody as leanPack } from '../../shared/msgpack-encode.js';
import { unpackBody } from '../../shared/msgpack-decode.js';
import { Qcf1ClientProtocol, type BodyCodec } from '../../client/protocol.js';
import type { Request } from '../../client/types.js';
import { Keyring, makeKey } from '../../shared/keyring.js';
import { HEADER_LEN, KIND_REPLY, KIND_REQUEST } from '../../shared/qcf1.js';
import { KEY_A, KEY_B } from '../../testkit/fixtures.js';
import { ROOT } from '../../testkit/paths.js';
import { encodeDatagram, flipBit } from '../support/raw-client.js';

const RUNS = 300;
const KEY = makeKey(Buffer.from(KEY_A, 'utf8'));
const RING = new Keyring([KEY, makeKey(Buffer.from(KEY_B, 'utf8'))]);

/** A value as it comes back from UTF-8: every lone surrogate (in keys too) becomes U+FFFD. */
function wellFormed(v: unknown): unknown {
  if (typeof v === 'string') return Buffer.from(v, 'utf8').toString('utf8');
  if (Array.isArray(v)) return v.map(wellFormed);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [wellFormed(k), wellFormed(x)]));
}

// msgpackr as QCF1 was first specified with it: plain maps in, plain objects out, no records or
// extensions a peer would have to know.
const reference = new ReferencePackr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });
const packBody = (body: object): Buffer => reference.pack(body);

/** msgpackr's reading of a body: exactly one plain map, nothing after it. */
function decodeBody(buf: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = reference.unpack(buf.subarray(HEADER_LEN));
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  return value as Record<string, unknown>;
}
const msgpackrDecode = (bytes: Buffer): Record<string, unknown> | undefined => decodeBody(Buffer.concat([Buffer.alloc(HEADER_LEN), bytes]));

// ---------------------------------------------------------------------------------------------
// Arbitraries

// Strings: any code point, and lone surrogates (high or low) often enough to be seen every run.
const surrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const char = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), surrogate);
const str = fc.oneof(fc.string({ unit: char, maxLength: 12 }), fc.string({ unit: char, maxLength: 120 }));
const key = str.filter((k) => k !== '__proto__'); // msgpackr renames it on decoding; tested apart

// Integers of every width MessagePack has for a JS number: fixints, uint8/16/32, int8/16/32,
// and beyond 32 bits (both encoders write a float64 there).
const integer = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0xff }),
  fc.integer({ min: 0x100, max: 0xffff }),
  fc.integer({ min: 0x1_0000, max: 0xffff_ffff }),
  fc.integer({ min: -0x20, max: -1 }),
  fc.integer({ min: -0x80, max: -0x21 }),
  fc.integer({ min: -0x8000, max: -0x81 }),
  fc.integer({ min: -0x8000_0000, max: -0x8001 }),
  fc.maxSafeInteger(),
);
const float = fc.double({ noNaN: true }).map((x) => (Object.is(x, -0) ? 0 : x));

const { json } = fc.letrec((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    integer,
    float,
    str,
    fc.array(tie('json'), { maxLength: 20 }),
    fc.dictionary(key, tie('json'), { maxKeys: 20, noNullPrototype: true }),
  ),
}));
type Body = Record<string, unknown>;
const body: fc.Arbitrary<Body> = fc.dictionary(key, json, { maxKeys: 8, noNullPrototype: true });

// uint64 and int64 exist in MessagePack for BigInts only (msgpackr reads them back as numbers).
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n });
const bodyWith64 = fc.tuple(body, fc.dictionary(key, int64, { maxKeys: 3, noNullPrototype: true })).map(([b, ints]) => ({ ...b, ...ints }));

const replyBody = fc.record(
  {
    status: fc.constantFrom(0, 1, 2),
    serial: fc.oneof(fc.nat(), fc.maxSafeNat()),
    node: str,
    answer: json,
    etag: str,
    timedOut: fc.boolean(),
    error: fc.record({ code: fc.constantFrom('not_found', 'bad_argument', 'busy'), message: str }),
    extra: json,
  },
  { requiredKeys: ['status', 'serial'] },
);

const request: fc.Arbitrary<Request> = fc.record(
  {
    op: fc.constantFrom('ping', 'get', 'mget', 'list', 'wait', 'stats'),
    path: str,
    paths: fc.array(str, { maxLength: 64 }),
    depth: fc.nat(16),
    etag: str,
    minSerial: fc.maxSafeNat(),
    timeoutMs: fc.nat(30_000),
    rid: str,
  },
  { requiredKeys: ['op'] },
);

const salt = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((u) => Buffer.from(u));
const time = fc.integer({ min: 0, max: 2 ** 48 });

// ---------------------------------------------------------------------------------------------

describe('the lean MessagePack codec against msgpackr as shared/qcf1.ts configures it', () => {
  it('writes the bytes msgpackr writes, for any JSON-like body (64-bit BigInts included)', () => {
    fc.assert(
      fc.property(fc.oneof(body, bodyWith64, replyBody), (b) => {
        expect(leanPack(b).toString('hex')).toBe(packBody(b).toString('hex'));
      }),
      { numRuns: RUNS },
    );
  });

  it('reads what msgpackr writes, to the value msgpackr reads and the value that was written', () => {
    fc.assert(
      fc.property(body, (b) => {
        const bytes = packBody(b);
        expect(unpackBody(bytes)).toEqual(msgpackrDecode(bytes));
        expect(unpackBody(bytes)).toEqual(wellFormed(b));
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(bodyWith64, (b) => {
        const bytes = packBody(b);
        expect(unpackBody(bytes)).toEqual(msgpackrDecode(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it('reads the forms shared/qcf1.ts does not write (fixmap, map32, float32) as msgpackr reads them', () => {
    // Another encoder may size maps to fit and write floats as float32.
    const other = new Packr({ useRecords: false, variableMapSize: true, useFloat32: FLOAT32_OPTIONS.ALWAYS });
    fc.assert(
      fc.property(body, (b) => {
        const bytes = other.pack(b);
        expect(unpackBody(bytes)).toEqual(msgpackrDecode(bytes));
      }),
      { numRuns: RUNS },
    );
    const big: Body = {};
    for (let i = 0; i < 0x1_0000; i++) big[`k${i}`] = i;
    const bytes = other.pack(big);
    expect(bytes[0]).toBe(0xdf); // map32
    expect(unpackBody(bytes)).toEqual(big);
    const small = other.pack({ a: 1.5, b: [0.1] });
    expect(small[0]).toBe(0x82); // fixmap
    expect(unpackBody(small)).toEqual(msgpackrDecode(small));
  });

  it('picks the same width as msgpackr at every boundary', () => {
    // The value's type byte, after the map16 header and the fixstr key "v".
    const cases: [unknown, number][] = [
      [0, 0x00],
      [0x7f, 0x7f],
      [0x80, 0xcc],
      [0xff, 0xcc],
      [0x100, 0xcd],
      [0xffff, 0xcd],
      [0x1_0000, 0xce],
      [0xffff_ffff, 0xce],
      [2 ** 32, 0xcb],
      [-1, 0xff],
      [-0x20, 0xe0],
      [-0x21, 0xd0],
      [-0x80, 0xd0],
      [-0x81, 0xd1],
      [-0x8000, 0xd1],
      [-0x8001, 0xd2],
      [-(2 ** 31), 0xd2],
      [-(2 ** 31) - 1, 0xcb],
      [Number.MAX_SAFE_INTEGER, 0xcb],
      [0.5, 0xcb],
      [2n ** 63n - 1n, 0xd3],
      [-(2n ** 63n), 0xd3],
      [2n ** 63n, 0xcf],
      [2n ** 64n - 1n, 0xcf],
      ['x'.repeat(31), 0xbf],
      ['x'.repeat(32), 0xd9],
      ['é'.repeat(16), 0xd9], // 16 characters, 32 bytes: the width is by bytes
      ['x'.repeat(255), 0xd9],
      ['x'.repeat(256), 0xda],
      ['\ud800'.repeat(86), 0xda], // a lone surrogate is written as U+FFFD, 3 bytes
      ['x'.repeat(0xffff), 0xda],
      ['x'.repeat(0x1_0000), 0xdb],
      [Array(15).fill(1), 0x9f],
      [Array(16).fill(1), 0xdc],
      [Array(0xffff).fill(1), 0xdc],
      [Array(0x1_0000).fill(1), 0xdd],
      [{}, 0xde],
      [true, 0xc3],
      [false, 0xc2],
      [null, 0xc0],
    ];
    for (const [v, type] of cases) {
      const name = typeof v === 'string' || Array.isArray(v) ? `${typeof v} of ${v.length}` : String(v);
      const lean = leanPack({ v });
      expect(lean.equals(packBody({ v })), name).toBe(true);
      expect(lean[5], name).toBe(type);
      expect(unpackBody(lean), name).toEqual(msgpackrDecode(lean));
    }
  });

  it('treats lone surrogates and undefined as msgpackr does, and "__proto__" keys as JSON.parse does', () => {
    for (const s of ['\ud800', 'a\udc00b', '\udbff\udfff', '\udfff\udbff', '😀', 'x\ud83d']) {
      const b = { [s]: s };
      expect(leanPack(b).equals(packBody(b)), JSON.stringify(s)).toBe(true);
      expect(unpackBody(packBody(b))).toEqual(msgpackrDecode(packBody(b)));
    }
    const proto = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Body;
    expect(leanPack(proto).equals(packBody(proto))).toBe(true);
    const decoded = unpackBody(packBody(proto)) as Body;
    // msgpackr renames the key "__proto_"; an own property keeps the document as it is.
    expect(msgpackrDecode(packBody(proto))).toEqual({ __proto_: { polluted: true }, a: 1 });
    expect(Object.keys(decoded)).toEqual(['__proto__', 'a']);
    expect(JSON.stringify(decoded)).toBe(JSON.stringify(proto));
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(({} as Body).polluted).toBeUndefined();
    const undef = { answer: undefined, list: [undefined] };
    expect(leanPack(undef).equals(packBody(undef))).toBe(true);
    expect(unpackBody(packBody(undef))).toEqual(msgpackrDecode(packBody(undef)));
  });

  it('accepts only a single map: no other value, no trailing bytes, nothing truncated', () => {
    fc.assert(
      fc.property(json, (v) => {
        const bytes = packBody(v as object);
        const isMap = v !== null && typeof v === 'object' && !Array.isArray(v);
        expect(unpackBody(bytes) !== undefined).toBe(isMap);
        expect(unpackBody(Buffer.concat([bytes, Buffer.from([0xc0])]))).toBeUndefined();
        for (let n = 0; n < bytes.length; n++) expect(unpackBody(bytes.subarray(0, n))).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------------------------------------

/** protocol.md's "Test vectors": the key, the salt, and the datagrams with their times. */
function protocolVectors(): { request: Buffer; requestTime: number; reply: Buffer; replyTime: number; retry: Buffer } {
  const md = readFileSync(join(ROOT, 'docs/protocol.md'), 'utf8');
  const section = md.slice(md.indexOf('## Test vectors'));
  expect(section).toContain(`\`${KEY_A.slice(0, 16)}\` repeated four times`);
  expect(section).toContain(KEY.idHex);
  const found = [...section.matchAll(/time (\d+) ms, body `[^`]*`:\s*`([0-9a-f]+)`/g)];
  expect(found).toHaveLength(3);
  const [[, qt, qhex], [, rt, rhex], [, , xhex]] = found;
  return { request: Buffer.from(qhex, 'hex'), requestTime: Number(qt), reply: Buffer.from(rhex, 'hex'), replyTime: Number(rt), retry: Buffer.from(xhex, 'hex') };
}

describe("protocol.md's test vectors through the lean protocol", () => {
  const vec = protocolVectors();
  const SALT = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const ring = Keyring.fromStrings([KEY_A]);

  it('signs the request vector byte for byte', () => {
    const lean = new Qcf1ClientProtocol(() => ring, () => vec.requestTime);
    const to = { to: '192.0.2.10:1814', padTo: 0 };
    expect(lean.encode({ op: 'get', path: '/cluster/master' }, SALT.toString('latin1'), to).toString('hex')).toBe(vec.request.toString('hex'));
    expect(unpackBody(vec.request, HEADER_LEN)).toEqual({ op: 'get', path: '/cluster/master', to: '192.0.2.10:1814', pad: Buffer.alloc(0) });
  });

  it('verifies and decodes the reply vector, and its body re-encodes to the same bytes', () => {
    const lean = new Qcf1ClientProtocol(() => ring);
    const reply = { status: 0, serial: 7, node: 'a', instance: '00112233aabbccdd', answer: 'n1', etag: 'e1' };
    expect(lean.decode(vec.reply)).toEqual({ salt: SALT.toString('latin1'), reply });
    expect(leanPack(reply).equals(vec.reply.subarray(HEADER_LEN))).toBe(true);
  });

  it('verifies and decodes the retry vector, with its cookie', () => {
    const r = new Qcf1ClientProtocol(() => ring).decode(vec.retry);
    expect(r?.reply.error?.code).toBe('retry');
    expect(Buffer.from(r?.reply.cookie ?? []).toString('hex')).toBe('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');
    for (let bit = 0; bit < vec.retry.length * 8; bit += 7) expect(new Qcf1ClientProtocol(() => ring).decode(flipBit(vec.retry, bit)), `bit ${bit}`).toBeUndefined();
  });

  it('takes neither the request vector as a reply nor the reply without its key', () => {
    expect(new Qcf1ClientProtocol(() => ring).decode(vec.request)).toBeUndefined();
    expect(new Qcf1ClientProtocol(() => Keyring.fromStrings([KEY_B])).decode(vec.reply)).toBeUndefined();
  });

  it('rejects the reply vector with any single bit flipped', () => {
    const lean = new Qcf1ClientProtocol(() => ring);
    for (let bit = 0; bit < vec.reply.length * 8; bit++) expect(lean.decode(flipBit(vec.reply, bit)), `bit ${bit}`).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------

/** The daemon's codec, msgpackr (shared/qcf1.ts), for the client protocol to be compared with. */
const MSGPACKR: BodyCodec = { pack: packBody, unpack: (datagram) => decodeBody(datagram) };

describe('the lean codec against msgpackr, through the client protocol', () => {
  const lean = new Qcf1ClientProtocol(() => RING);
  const full = new Qcf1ClientProtocol(() => RING, Date.now, MSGPACKR);

  it('signs every request to the same datagram', () => {
    fc.assert(
      fc.property(request, salt, time, (q, s, t) => {
        const at = () => t;
        const dest = { to: '127.0.0.1:1814', padTo: 300 };
        const bytes = new Qcf1ClientProtocol(() => RING, at).encode(q, s.toString('latin1'), dest);
        expect(bytes.toString('hex')).toBe(new Qcf1ClientProtocol(() => RING, at, MSGPACKR).encode(q, s.toString('latin1'), dest).toString('hex'));
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts a valid reply as it does, and rejects it with any single bit flipped, as it does', () => {
    fc.assert(
      fc.property(replyBody, salt, time, fc.constantFrom(...RING.keys), (b, s, t, k) => {
        const d = encodeDatagram(KIND_REPLY, k, t, s, b);
        const got = lean.decode(d);
        expect(got).not.toBeUndefined();
        expect(got).toEqual(full.decode(d));
        expect(got?.salt).toBe(s.toString('latin1'));
        // The same, sent as a request, is no reply.
        expect(lean.decode(encodeDatagram(KIND_REQUEST, k, t, s, b))).toBeUndefined();
        for (let bit = 0; bit < d.length * 8; bit++) {
          const bad = flipBit(d, bit);
          expect(lean.decode(bad), `bit ${bit}`).toBeUndefined();
          expect(full.decode(bad), `bit ${bit}`).toBeUndefined();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('accepts a signed body only if protocol.ts does, to the same reply, and never throws', () => {
    const replyish = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
      fc.tuple(replyBody, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([b, at, x]) => {
        const bytes = Buffer.from(packBody(b));
        bytes[at % bytes.length] ^= x;
        return bytes;
      }),
    );
    fc.assert(
      fc.property(replyish, (bytes) => {
        const d = encodeDatagram(KIND_REPLY, KEY, Date.now(), Buffer.alloc(16), bytes);
        const got = lean.decode(d);
        if (got !== undefined) expect(got).toEqual(full.decode(d));
      }),
      { numRuns: RUNS * 3 },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('msgpackr-only extensions', () => {
  const lean = new Qcf1ClientProtocol(() => RING);
  const signed = (bytes: Buffer) => encodeDatagram(KIND_REPLY, KEY, Date.now(), Buffer.alloc(16), bytes);
  const reply = (answer: unknown) => ({ status: 0, serial: 1, node: 'n', answer });

  const shared = { k: 1 };
  const moreTypes = new Packr({ useRecords: false, moreTypes: true });
  // A body each, as some msgpackr configuration writes it, with the bytes that mark the feature
  // (an extension type, records, bundled strings): none of these is a JSON value.
  const cases: [string, Buffer, string][] = [
    ['a Date (timestamp 32)', packBody(reply(new Date(1_700_000_000_000))), 'd6ff'],
    ['a Date (timestamp 64)', packBody(reply(new Date(1_700_000_000_123))), 'd7ff'],
    ['a Date (timestamp 96)', packBody(reply(new Date(-1))), 'c70cff'],
    ['records', new Packr().pack(reply([{ a: 1 }, { a: 2 }])), 'd472'],
    ['bundled strings', new Packr({ useRecords: false, bundleStrings: true }).pack(reply('bundled '.repeat(8))), 'd662'],
    ['a shared reference (structured clone)', new Packr({ useRecords: false, structuredClone: true }).pack(reply({ x: shared, y: shared })), 'd670'],
    ['a Set', moreTypes.pack(reply(new Set([1, 2]))), 'd473'],
    ['a RegExp', moreTypes.pack(reply(/a+/g)), 'd478'],
    ['an Error', moreTypes.pack(reply(new Error('e'))), 'd465'],
    ['a typed array', moreTypes.pack(reply(new Float64Array([1.5]))), 'c70974'],
    ['a BigInt extension', new Packr({ useRecords: false, useBigIntExtension: true }).pack(reply(2n ** 70n)), 'd842'],
  ];

  it.each(cases)('a reply body with %s is dropped, not crashed on', (_, bytes, marker) => {
    expect(bytes.toString('hex')).toContain(marker);
    expect(() => unpackBody(bytes)).not.toThrow();
    expect(unpackBody(bytes)).toBeUndefined();
    const d = signed(bytes);
    expect(() => lean.decode(d)).not.toThrow();
    expect(lean.decode(d)).toBeUndefined();
  });

  it('are dropped where msgpackr would decode them, while the same reply with a JSON answer is taken', () => {
    const full = new Qcf1ClientProtocol(() => RING, Date.now, MSGPACKR);
    expect(full.decode(signed(cases[0][1]))?.reply.answer).toBeInstanceOf(Date);
    expect(lean.decode(signed(packBody(reply('2023-11-14T22:13:20.000Z'))))?.reply.answer).toBe('2023-11-14T22:13:20.000Z');
  });

  it('the lean encoder refuses them rather than write what the daemon would decode differently', () => {
    for (const v of [new Date(0), new Map([[1, 2]]), new Set([1]), /a/, new Error('e'), new Uint16Array(1)]) {
      expect(() => leanPack({ v }), v.constructor.name).toThrow(TypeError);
    }
  });

  it('writes bytes (a cookie, a pad) as MessagePack bin, as msgpackr does', () => {
    for (const v of [Buffer.alloc(0), Buffer.from([1, 2, 3]), new Uint8Array(255), Buffer.alloc(300, 7), Buffer.alloc(70_000, 9)]) {
      expect(leanPack({ v }).equals(packBody({ v })), `${v.length} bytes`).toBe(true);
    }
  });
});
