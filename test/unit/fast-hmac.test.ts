// The allocation-free HMAC paths must equal node:crypto's HMAC bit for bit, for SHA-256 and
// SHA-1, any key length (shorter and longer than a block), any message length (across the
// fast/slow boundary and the block boundaries), with every engine: wasm for every MAC, JS only
// (before and after a key switches to the unrolled compression), and the default.
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FAST_HMAC_MAX,
  HMAC_SCRATCH,
  compress1Reference,
  compress256Reference,
  hmacAsciiHex,
  hmacAsciiHexEquals,
  hmacKey,
  hmacStringBytesHexInto,
  hmacTwoEquals,
  hmacTwoInto,
  macEqualsHex,
  macScratch,
  unrolled,
  useHmacEngine,
  writeMac,
  writeMacHex,
  type HmacEngine,
} from '../../shared/fast-hmac.js';

const ALGS = ['sha256', 'sha1'] as const;
type Alg = (typeof ALGS)[number];
const size = (alg: Alg) => (alg === 'sha256' ? 32 : 20);

/** Around the block boundaries of the padded message (55/56: the length still fits or not). */
const LENGTHS = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129, 183, 184, 700, 767, 768, 769, 1000];
const KEY_LENGTHS = [0, 1, 20, 32, 63, 64, 65, 100, 200];

const ENGINES: HmacEngine[] = ['wasm', 'js', 'auto'];

describe.each(ENGINES)('fast HMAC equals node:crypto (engine: %s)', (engine) => {
  beforeAll(() => {
    // Where wasm is asked for it must be there (Node ≥ 20 on x64 and arm64): else these tests
    // would pass on the JS path without ever running the module.
    expect(useHmacEngine(engine)).toBe(true);
  });
  afterAll(() => {
    useHmacEngine('auto');
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

    it(`${alg}: every entry point at block-boundary lengths, keys shorter and longer than a block`, () => {
      const out = Buffer.alloc(size(alg) * 2 + 7);
      for (const keyLen of KEY_LENGTHS) {
        const keyBytes = randomBytes(keyLen);
        const key = hmacKey(alg, keyBytes);
        // Twice over: a key's first MACs and those after its warm-up (in the JS engine, the
        // plain compression functions, then the unrolled ones).
        for (const len of [...LENGTHS, ...LENGTHS]) {
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
          if (len > FAST_HMAC_MAX) continue;
          // The scratch, filled by the caller: the MAC, and the message left as it was.
          msg.copy(HMAC_SCRATCH, 0);
          macScratch(key, len);
          writeMac(key, out, 3);
          expect(out.subarray(3, 3 + size(alg))).toEqual(want);
          expect(HMAC_SCRATCH.subarray(0, len)).toEqual(msg);
          writeMacHex(key, out, 0);
          expect(out.toString('latin1', 0, size(alg) * 2)).toBe(want.toString('hex'));
          expect(macEqualsHex(key, Buffer.from(want.toString('hex').toUpperCase()), 0)).toBe(true);
          const wrong = Buffer.from(want.toString('hex'));
          wrong[len % wrong.length] ^= 1;
          expect(macEqualsHex(key, wrong, 0)).toBe(false);
          expect(hmacAsciiHex(key, s, '')).toBe(createHmac(alg, keyBytes).update(s, 'latin1').digest('hex'));
        }
      }
    });
  }

  it('keys and algorithms taking turns', () => {
    // The wasm engine keeps the last key's states in its memory: each change must reload them.
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

describe('compression functions and the wasm module', () => {
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

  it('the checked-in WAT source is its generator\'s output, the module its assembly', async () => {
    const { shaWat } = (await import('../../scripts/gen-sha-wat.mjs')) as { shaWat: () => string };
    const { render, WAT_FILE, TS_FILE } = (await import('../../scripts/build-wasm.mjs')) as {
      render: (wat: string) => Promise<string>;
      WAT_FILE: string;
      TS_FILE: string;
    };
    const wat = readFileSync(WAT_FILE, 'utf8');
    expect(shaWat()).toBe(wat);
    expect(await render(wat)).toBe(readFileSync(TS_FILE, 'utf8'));
  });
});
