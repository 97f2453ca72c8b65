// The allocation-free HMAC paths must equal node:crypto's HMAC bit for bit, for SHA-256 and
// SHA-1, any key length (shorter and longer than a block), any message length (across the
// fast/slow boundary), before and after a key switches to the unrolled compression.
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FAST_HMAC_MAX,
  compress1Reference,
  compress256Reference,
  hmacAsciiHex,
  hmacAsciiHexEquals,
  hmacKey,
  hmacStringBytesHexInto,
  hmacTwoEquals,
  hmacTwoInto,
  unrolled,
} from '../../shared/fast-hmac.js';

const ALGS = ['sha256', 'sha1'] as const;
const size = (alg: (typeof ALGS)[number]) => (alg === 'sha256' ? 32 : 20);

describe('fast HMAC equals node:crypto', () => {
  for (const alg of ALGS) {
    it(`${alg}: two-range MACs, any key and message length, warm and cold keys`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 0, maxLength: 150 }),
          fc.uint8Array({ minLength: 0, maxLength: FAST_HMAC_MAX + 200 }),
          fc.nat(),
          fc.integer({ min: 1, max: 80 }),
          (keyBytes, msg, cut, uses) => {
            const key = hmacKey(alg, Buffer.from(keyBytes));
            const split = msg.length === 0 ? 0 : cut % (msg.length + 1);
            const want = createHmac(alg, Buffer.from(keyBytes)).update(msg).digest();
            const out = new Uint8Array(size(alg) + 3);
            for (let i = 0; i < uses; i++) {
              hmacTwoInto(key, msg, 0, split, msg, split, msg.length, out, 3);
              expect(Buffer.from(out.subarray(3))).toEqual(want);
            }
            const mac = Buffer.concat([Buffer.alloc(5), want]);
            expect(hmacTwoEquals(key, msg, 0, split, msg, split, msg.length, mac, 5)).toBe(true);
            mac[5 + (cut % size(alg))] ^= 1 << (cut % 8);
            expect(hmacTwoEquals(key, msg, 0, split, msg, split, msg.length, mac, 5)).toBe(false);
          },
        ),
        { numRuns: 200 },
      );
    });

    it(`${alg}: ASCII string MACs as hex, case-insensitive comparison`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 100 }), fc.string({ maxLength: 300 }), fc.string({ maxLength: 500 }), fc.uint8Array({ maxLength: 300 }), (keyBytes, s1, s2, bytes) => {
          const k = Buffer.from(keyBytes);
          const key = hmacKey(alg, k);
          const ascii = /^[\x00-\x7f]*$/.test(s1 + s2);
          const want = createHmac(alg, k).update(s1 + s2, 'utf8').digest('hex');
          const got = hmacAsciiHex(key, s1, s2);
          if (ascii && s1.length + s2.length <= FAST_HMAC_MAX) {
            expect(got).toBe(want);
            expect(hmacAsciiHexEquals(key, s1, s2, want)).toBe(true);
            expect(hmacAsciiHexEquals(key, s1, s2, want.toUpperCase())).toBe(true);
            const wrong = (want[0] === '0' ? '1' : '0') + want.slice(1);
            expect(hmacAsciiHexEquals(key, s1, s2, wrong)).toBe(false);
            expect(hmacAsciiHexEquals(key, s1, s2, want.slice(1))).toBe(false);
          } else {
            expect(got).toBeUndefined();
          }
          if (/^[\x00-\x7f]*$/.test(s1)) {
            const out = new Uint8Array(size(alg) * 2 + 2);
            hmacStringBytesHexInto(key, s1, bytes, 0, bytes.length, out, 2);
            const w = createHmac(alg, k).update(Buffer.from(s1, 'latin1')).update(bytes).digest('hex');
            expect(Buffer.from(out.subarray(2)).toString('latin1')).toBe(w);
          }
        }),
        { numRuns: 300 },
      );
    });
  }

  it('the unrolled compression functions equal the reference ones', () => {
    for (const [alg, ref, words] of [
      ['sha256', compress256Reference, 8],
      ['sha1', compress1Reference, 5],
    ] as const) {
      const fast = unrolled(alg);
      for (let i = 0; i < 200; i++) {
        const block = randomBytes(64 + 7);
        const h1 = new Int32Array(randomBytes(words * 4).buffer.slice(0));
        const h2 = new Int32Array(h1);
        ref(h1, block, 7);
        fast(h2, block, 7);
        expect(Array.from(h2)).toEqual(Array.from(h1));
      }
    }
  });
});
