// The allocation-free HMAC paths must equal node:crypto's HMAC bit for bit, for SHA-256 and
// SHA-1: the RFC 4231 and RFC 2202 test vectors, any key length (shorter and longer than a
// block), any message length (across the fast/slow boundary and the block boundaries).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FAST_HMAC_MAX,
  MacScratch,
  ShortSha256,
  hmacAsciiHexEquals,
  hmacKey,
  hmacStringBytesHexInto,
  hmacTwoEquals,
  hmacTwoInto,
  macEqualsHex,
  macInto,
  writeMacHex,
} from '../../shared/fast-hmac.js';

const ALGS = ['sha256', 'sha1'] as const;
type Alg = (typeof ALGS)[number];
const size = (alg: Alg) => (alg === 'sha256' ? 32 : 20);

/**
 * Around the block boundaries of the padded message (55/56: the length still fits or not) and
 * the hand-over of the inner hash to node:crypto (320 for SHA-256, 768 for SHA-1), up to a
 * half a datagram (the string tests MAC twice the length).
 */
const LENGTHS = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129, 183, 184, 319, 320, 321, 447, 448, 449, 511, 512, 513, 700, 767, 768, 769, 1000, 4096, 30_000];
const KEY_LENGTHS = [0, 1, 20, 32, 63, 64, 65, 100, 200];

/** RFC 4231 §4 (HMAC-SHA256) and RFC 2202 §3 (HMAC-SHA1): key, data, MAC, all hex. */
const VECTORS: Array<[Alg, string, string, string]> = [
  ['sha256', '0b'.repeat(20), hex('Hi There'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
  ['sha256', hex('Jefe'), hex('what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
  ['sha256', 'aa'.repeat(20), 'dd'.repeat(50), '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe'],
  ['sha256', '0102030405060708090a0b0c0d0e0f10111213141516171819', 'cd'.repeat(50), '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b'],
  ['sha256', 'aa'.repeat(131), hex('Test Using Larger Than Block-Size Key - Hash Key First'), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
  [
    'sha256',
    'aa'.repeat(131),
    hex('This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.'),
    '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
  ],
  ['sha1', '0b'.repeat(20), hex('Hi There'), 'b617318655057264e28bc0b6fb378c8ef146be00'],
  ['sha1', hex('Jefe'), hex('what do ya want for nothing?'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
  ['sha1', 'aa'.repeat(20), 'dd'.repeat(50), '125d7342b9ac11cd91a39af48aa17b4f63f175d3'],
  ['sha1', '0102030405060708090a0b0c0d0e0f10111213141516171819', 'cd'.repeat(50), '4c9007f4026250c6bc8414f9bf50c86c2d7235da'],
  ['sha1', 'aa'.repeat(80), hex('Test Using Larger Than Block-Size Key - Hash Key First'), 'aa4ae5e15272d00e95705637ce8a3b55ed402112'],
  ['sha1', 'aa'.repeat(80), hex('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'), 'e8e99d0f45237d786d6bbaa7965c7808bbff1a91'],
];

function hex(text: string): string {
  return Buffer.from(text, 'latin1').toString('hex');
}

describe('fast HMAC equals node:crypto', () => {
  it('gives the RFC 4231 and RFC 2202 test vectors', () => {
    const out = Buffer.alloc(32);
    for (const [alg, k, data, mac] of VECTORS) {
      const key = hmacKey(alg, Buffer.from(k, 'hex'));
      const msg = Buffer.from(data, 'hex');
      hmacTwoInto(key, msg, 0, 3, msg, 3, msg.length, out, 0);
      expect(out.toString('hex', 0, size(alg))).toBe(mac);
      expect(createHmac(alg, Buffer.from(k, 'hex')).update(msg).digest('hex')).toBe(mac);
      const s = new MacScratch();
      msg.copy(s.msg, 0);
      macInto(key, s, msg.length);
      expect(macEqualsHex(key, s, Buffer.from(mac.toUpperCase()), 0)).toBe(true);
    }
  });

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
          if (ascii && s1.length + s2.length <= key.fastMax) {
            expect(hmacAsciiHexEquals(key, s1, s2, want)).toBe(true);
            expect(hmacAsciiHexEquals(key, s1, s2, want.toUpperCase())).toBe(true);
            const wrong = (want[0] === '0' ? '1' : '0') + want.slice(1);
            expect(hmacAsciiHexEquals(key, s1, s2, wrong)).toBe(false);
            expect(hmacAsciiHexEquals(key, s1, s2, want.slice(1))).toBe(false);
          } else {
            expect(hmacAsciiHexEquals(key, s1, s2, want)).toBeUndefined();
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

    it(`${alg}: every entry point at block-boundary lengths, keys shorter and longer than a block`, () => {
      const out = Buffer.alloc(size(alg) * 2 + 7);
      for (const keyLen of KEY_LENGTHS) {
        const keyBytes = randomBytes(keyLen);
        const key = hmacKey(alg, keyBytes);
        for (const len of LENGTHS) {
          const msg = randomBytes(len);
          const want = createHmac(alg, keyBytes).update(msg).digest();
          const split = len >> 1;
          hmacTwoInto(key, msg, 0, split, msg, split, len, out, 7);
          expect(out.subarray(7, 7 + size(alg))).toEqual(want);
          expect(hmacTwoEquals(key, msg, 0, split, msg, split, len, want, 0)).toBe(true);
          const s = msg.toString('latin1').replace(/[^\x00-\x7f]/g, 'x');
          const wantHex = createHmac(alg, keyBytes).update(s, 'latin1').update(msg).digest('hex');
          hmacStringBytesHexInto(key, s.slice(0, split), Buffer.from(s.slice(split) + msg.toString('latin1'), 'latin1'), 0, len - split + len, out, 1);
          expect(out.toString('latin1', 1, 1 + size(alg) * 2)).toBe(wantHex);
          // A string that is not ASCII, read as latin1 as node:crypto would (short messages too).
          const wide = 'é' + s.slice(0, split);
          hmacStringBytesHexInto(key, wide, msg, 0, len, out, 1);
          expect(out.toString('latin1', 1, 1 + size(alg) * 2)).toBe(createHmac(alg, keyBytes).update(wide, 'latin1').update(msg).digest('hex'));
          if (len > FAST_HMAC_MAX) continue;
          // A caller's scratch, filled by the caller: the MAC, and the message left as it was.
          const scratch = new MacScratch();
          msg.copy(scratch.msg, 0);
          macInto(key, scratch, len);
          expect(scratch.msg.subarray(0, len)).toEqual(msg);
          writeMacHex(key, scratch, out, 0);
          expect(out.toString('latin1', 0, size(alg) * 2)).toBe(want.toString('hex'));
          expect(macEqualsHex(key, scratch, Buffer.from(want.toString('hex').toUpperCase()), 0)).toBe(true);
          const wrong = Buffer.from(want.toString('hex'));
          wrong[len % wrong.length] ^= 1;
          expect(macEqualsHex(key, scratch, wrong, 0)).toBe(false);
          expect(hmacAsciiHexEquals(key, s, '', createHmac(alg, keyBytes).update(s, 'latin1').digest('hex'))).toBe(len <= key.fastMax ? true : undefined);
        }
      }
    });
  }

  it('keys and algorithms taking turns', () => {
    // hmacKey remembers the last key it was asked for: each change must be seen.
    const keys = [
      ['sha256', randomBytes(32)],
      ['sha1', randomBytes(20)],
      ['sha256', randomBytes(100)],
      ['sha256', randomBytes(32)],
      ['sha1', randomBytes(80)],
    ] as const;
    const same = randomBytes(16);
    const all = [...keys, ['sha1', same], ['sha256', same]] as const;
    const out = Buffer.alloc(32);
    for (let i = 0; i < 400; i++) {
      const [alg, bytes] = all[(i * 7 + (i >> 3)) % all.length];
      const msg = randomBytes(i % 300);
      hmacTwoInto(hmacKey(alg, bytes), msg, 0, 0, msg, 0, msg.length, out, 0);
      expect(out.subarray(0, size(alg))).toEqual(createHmac(alg, bytes).update(msg).digest());
    }
  });
});

describe('scratches', () => {
  it('keep their own MACs, and take messages up to their capacity', () => {
    const keyBytes = randomBytes(20);
    const key = hmacKey('sha1', keyBytes);
    const a = new MacScratch();
    const b = new MacScratch(2000);
    const m1 = randomBytes(100);
    const m2 = randomBytes(2000);
    m1.copy(a.msg);
    m2.copy(b.msg);
    macInto(key, a, m1.length);
    macInto(key, b, m2.length);
    const hexOf = (s: MacScratch) => {
      const out = Buffer.alloc(40);
      writeMacHex(key, s, out, 0);
      return out.toString('latin1');
    };
    expect(hexOf(a)).toBe(createHmac('sha1', keyBytes).update(m1).digest('hex'));
    expect(hexOf(b)).toBe(createHmac('sha1', keyBytes).update(m2).digest('hex'));
  });
});

describe('short SHA-256 equals node:crypto', () => {
  it('any message, fed in any parts, at every length around the block boundaries', () => {
    const h = new ShortSha256();
    for (const len of LENGTHS) {
      const msg = randomBytes(len);
      expect(h.begin().update(msg).digest()).toEqual(createHash('sha256').update(msg).digest());
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 4 }), (msg, cuts) => {
        const at = [...new Set(cuts.map((c) => c % (msg.length + 1)))].sort((a, b) => a - b);
        h.begin();
        let from = 0;
        for (const c of [...at, msg.length]) {
          h.update(msg, from, c);
          from = c;
        }
        expect(h.digest()).toEqual(createHash('sha256').update(msg).digest());
      }),
      { numRuns: 300 },
    );
  });
});
