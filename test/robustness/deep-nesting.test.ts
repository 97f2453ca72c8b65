// Found by `npm run fuzz` (seed 1): correctly signed, fresh, addressed requests with a value nested
// ~7,800 levels deep (an 8 KB body allows that) went unanswered — the decoder recursed until the
// stack ran out and the daemon dropped the request as bad_body; and since how deep it could go
// depended on the engine's state, the same request was sometimes answered. Now containers deeper
// than MAX_NESTING are stepped over without recursion: a request's value becomes TOO_DEEP (its op
// refuses it, or ignores it under a key it does not read), a reply fails to decode.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_NESTING, TOO_DEEP, unpackBody } from '../../shared/msgpack-decode.js';
import { packBody } from '../../shared/qcf1.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { RawClient, frame } from '../support/raw-client.js';
import { sampleDoc } from '../support/sample-doc.js';

const str = (s: string) => Buffer.concat([Buffer.from([0xa0 + s.length]), Buffer.from(s)]);
/** A map {to: "x", k: <value>} around raw value bytes. */
const body = (value: Buffer, k = 'k') => Buffer.concat([Buffer.from([0x82]), str('to'), str('x'), str(k), value]);
const nestedArrays = (levels: number, leaf = Buffer.from([0x00])) => Buffer.concat([Buffer.alloc(levels, 0x91), leaf]);

describe('decoding values nested deeper than MAX_NESTING', () => {
  it('decodes nesting up to MAX_NESTING as it is, and deeper as TOO_DEEP (skip) or not at all (fail)', () => {
    // The map is one level: its value may nest MAX_NESTING - 1 more containers and still be read.
    const fits = unpackBody(body(nestedArrays(MAX_NESTING - 1)), 0, 'fail');
    expect(fits).toBeDefined();
    let v: unknown = fits?.k;
    for (let i = 0; i < MAX_NESTING - 1; i++) v = (v as unknown[])[0];
    expect(v).toBe(0);
    for (const levels of [MAX_NESTING, 3000, 8000, 100_000]) {
      const b = body(nestedArrays(levels));
      expect(unpackBody(b, 0, 'fail')).toBeUndefined();
      const d = unpackBody(b, 0, 'skip');
      expect(d?.to).toBe('x');
      let w: unknown = d?.k;
      while (Array.isArray(w)) w = w[0];
      expect(w).toBe(TOO_DEEP);
    }
    // Maps nested deep, and mixed containers, likewise.
    const maps = Buffer.concat([...Array.from({ length: 5000 }, () => Buffer.concat([Buffer.from([0x81]), str('a')])), Buffer.from([0xc0])]);
    expect(unpackBody(body(maps), 0, 'skip')?.to).toBe('x');
  });

  it('still refuses, when stepping over, what it would refuse when reading', () => {
    const deep = (inner: Buffer) => body(Buffer.concat([Buffer.alloc(MAX_NESTING + 5, 0x91), inner]));
    // Truncated, an extension that is no JSON value, a never-used byte, a bytes or array map key.
    for (const inner of [Buffer.from([0x92, 0x01]), Buffer.from([0xd4, 0x05, 0x00]), Buffer.from([0xc1]), Buffer.from([0x81, 0xc4, 0x01, 0x61, 0x00]), Buffer.from([0x81, 0x90, 0x00]), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])]) {
      expect(unpackBody(deep(inner), 0, 'skip')).toBeUndefined();
    }
    // Accepted like read() accepts them: fixext type 0, numeric and nil keys, floats, strings.
    for (const inner of [Buffer.from([0xd4, 0x00, 0x00]), Buffer.from([0x82, 0x01, 0x02, 0xc0, 0x03]), Buffer.from([0xcb, 0, 0, 0, 0, 0, 0, 0, 0]), str('hi')]) {
      expect(unpackBody(deep(inner), 0, 'skip')).toBeDefined();
    }
  });

  it('steps over exactly the values it would read (any bytes, wrapped below MAX_NESTING)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const x = Buffer.from(bytes);
        const read = unpackBody(body(x), 0, 'fail') !== undefined;
        const stepped = unpackBody(body(Buffer.concat([Buffer.alloc(MAX_NESTING, 0x91), x])), 0, 'skip') !== undefined;
        expect(stepped).toBe(read);
      }),
      { numRuns: 5000 },
    );
    // And for well-formed values of every kind.
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        // The value's own bytes: what follows the map header and key (the same for any value).
        const x = packBody({ v }).subarray(packBody({ v: null }).length - 1);
        const stepped = unpackBody(body(Buffer.concat([Buffer.alloc(MAX_NESTING, 0x91), x])), 0, 'skip');
        expect(stepped).toBeDefined();
      }),
      { numRuns: 500 },
    );
  });
});

describe('a daemon answers requests carrying deep nesting', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await new TestDaemon({ doc: sampleDoc(5), advertise: false, logLevel: 'info' }).start();
  });
  afterAll(async () => {
    await d?.stop('SIGKILL');
  });

  it('answers every time, from a cold start on: ignored under an unknown key, bad_argument as a path', async () => {
    const c = await RawClient.open(d.port);
    const to = `127.0.0.1:${d.port}`;
    // {to, op, KEY: [[[…0…]]]}, signed as it is (a 7 KB request: its answer needs no cookie).
    const req = (op: string, key: string, levels: number) =>
      frame({ body: Buffer.concat([Buffer.from([0x83]), str('to'), Buffer.from([0xd9, to.length]), Buffer.from(to), str('op'), str(op), str(key), nestedArrays(levels)]) });
    try {
      for (let i = 0; i < 20; i++) {
        const levels = 7000 + i * 50;
        const ping = await c.exchange(req('ping', 'junk', levels));
        expect(ping?.body).toMatchObject({ status: 0, serial: 5 });
        const get = await c.exchange(req('get', 'path', levels));
        expect(get?.body).toMatchObject({ status: 1, error: { code: 'bad_argument' } });
      }
    } finally {
      c.close();
    }
    expect(d.logLines().filter((l) => l.event === 'internal_error')).toEqual([]);
  });
});
