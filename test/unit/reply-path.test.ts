// Every authenticated, well-formed QCF1 request gets exactly one reply, whatever the document and
// the request: arbitrary documents (huge objects and arrays, long strings, deep nesting, odd keys)
// and arbitrary requests thrown at the daemon's own request path, in process. Any failure to
// build a reply must become an error reply (too_large, or internal), never silence or a throw.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Replica } from '../../daemon/replica.js';
import { Snapshot } from '../../daemon/snapshot.js';
import { Stats } from '../../daemon/stats.js';
import { Keyring } from '../../shared/keyring.js';
import { KIND_REPLY, MAX_REPLY_BYTES, decodeBody, verifyDatagram } from '../../shared/qcf1.js';
import { CLIENT, qcf1Service, serviceRequest } from '../support/qcf1-service.js';

const keyring = Keyring.fromStrings(['r'.repeat(32)]);

/** Sizes around the limits that matter: a map16's 65,535 keys, a reply's 61,440 bytes. */
const size = fc.oneof(fc.nat({ max: 100 }), fc.constantFrom(15, 16, 255, 256, 20_000, 30_000, 61_440, 65_535, 65_536, 70_000, 90_000));

/** Values that stress the encoder: many keys, long arrays and strings, nesting, odd keys. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  size.map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
  size.map((n) => Array.from({ length: n }, (_, i) => i)),
  size.map((n) => 'x'.repeat(n)),
  size.map((n) => Array.from({ length: Math.ceil(n / 100) }, (_, i) => ({ [`n${i}`]: 'y'.repeat(100) }))),
  fc.integer({ min: 1, max: 600 }).map((d) => {
    let v: unknown = 1;
    for (let i = 0; i < d; i++) v = i % 2 ? [v] : { a: v };
    return v;
  }),
  fc.constantFrom({ __proto__: 1, constructor: 2 } as unknown, { '': { '~': { '/': 1 } } }, [[[[]]]], { 'é✓': '\u{1F600}' }),
);

const path = fc.oneof(fc.constantFrom('', '/v', '/v/0', '/v/k1', '/v/a', '/v/a/a', '/~', '/v/~1', '/nope', 'bad'), fc.string({ maxLength: 20 }));

const requestBody = fc.oneof(
  fc.record({ op: fc.constant('get'), path }),
  fc.record({ op: fc.constant('mget'), paths: fc.array(path, { maxLength: 70 }) }),
  fc.record({ op: fc.constant('list'), path, depth: fc.oneof(fc.integer({ min: -1, max: 17 }), fc.constant('2')) }),
  fc.record({ op: fc.constant('wait'), path, etag: fc.string({ maxLength: 30 }), timeoutMs: fc.constant(0) }),
  fc.record({ op: fc.constantFrom('ping', 'stats', 'nope') }),
);

describe('the QCF1 reply path', () => {
  it('answers every well-formed request exactly once, within a datagram, with a known status and code', () => {
    fc.assert(
      fc.property(hostile, fc.array(requestBody, { minLength: 1, maxLength: 8 }), (v, bodies) => {
        const replica = new Replica();
        replica.offer(new Snapshot({ doc: { serial_no: 3, v }, serial: 3, source: 'file' }));
        const sent: Buffer[] = [];
        const stats = new Stats();
        const svc = qcf1Service({ keyring, replica, stats, send: (b) => sent.push(b) });
        for (const body of bodies) {
          sent.length = 0;
          svc.handle(serviceRequest(keyring, body), CLIENT);
          // A wait with timeoutMs 0 from an address not validated is answered at once or told
          // to come back with a cookie: never held, never silent.
          expect(sent, JSON.stringify(body).slice(0, 200)).toHaveLength(1);
          const reply = sent[0];
          expect(reply.length).toBeLessThanOrEqual(MAX_REPLY_BYTES);
          expect(verifyDatagram(reply, keyring, KIND_REPLY).ok).toBe(true);
          const r = decodeBody(reply) as Record<string, unknown>;
          expect([0, 1, 2]).toContain(r.status);
          if (r.status !== 0) expect(['not_found', 'bad_argument', 'too_large', 'not_ready', 'busy', 'retry']).toContain((r.error as { code: string }).code);
        }
        expect(stats.drops.internal ?? 0).toBe(0);
        expect(stats.errors.internal ?? 0).toBe(0);
      }),
      { numRuns: 150 },
    );
  });
});
