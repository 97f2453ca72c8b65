// The fuzzer's own cases, held to the protocols: what a case says the daemon must do with it must
// be what the protocol's verifier and parser say. A generator that got this wrong would report a
// defect that is none, or send as "must be answered" a request no daemon should answer.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { RequestParser } from '../../daemon/ganeti/request-parser.js';
import { Keyring, makeKey } from '../../shared/keyring.js';
import { HEADER_LEN, KIND_REQUEST, MAX_REQUEST_BYTES, decodeBody, timeOf, verifyKey } from '../../shared/qcf1.js';
import { KEY_A, KEY_B } from '../../testkit/fixtures.js';
import { ganetiExampleKey } from '../../testkit/ganeti-key.js';
import { seededRandom } from '../../testkit/random.js';
import { Plj0Fuzz } from '../../bench/fuzz/plj0.js';
import { Qcf1Fuzz } from '../../bench/fuzz/qcf1.js';
import { ReplayPool } from '../../bench/fuzz/replay-pool.js';

const CASES = 20_000;
const PORT = 41814;

describe('fuzz cases agree with the protocols', () => {
  it('QCF1: "reply" cases pass every guard and decode; "silence" ones fail one; malformed ones fail decoding', () => {
    const key = makeKey(Buffer.from(KEY_A, 'utf8'));
    const ring = new Keyring([key]);
    const pool = new ReplayPool();
    const fuzz = new Qcf1Fuzz(seededRandom(1), key, makeKey(Buffer.from(KEY_B, 'utf8')), PORT, pool);
    const seen = new Map<string, number>();
    for (let i = 0; i < CASES; i++) {
      const c = fuzz.next();
      seen.set(c.expect, (seen.get(c.expect) ?? 0) + 1);
      const b = c.bytes;
      const verified = b.length <= MAX_REQUEST_BYTES && typeof verifyKey(b, ring, KIND_REQUEST) !== 'string';
      const fresh = verified && Math.abs(timeOf(b) - Date.now()) < 60_000;
      const body = verified ? decodeBody(b) : undefined;
      const addressed = body?.to === `127.0.0.1:${PORT}`;
      if (c.expect === 'reply') {
        expect(verified && fresh && addressed, `${c.category}: ${b.toString('hex').slice(0, 300)}`).toBe(true);
        // Sent once, later replayed: what was answered goes to the pool.
        pool.add(b);
      } else if (c.expect === 'silence-auth') {
        expect(verified && fresh, c.category).toBe(true);
        expect(body, c.category).toBeUndefined();
      } else if (c.expect === 'silence' && c.category !== 'replay') {
        expect(verified && fresh && addressed, `${c.category}: ${b.toString('hex').slice(0, 300)}`).toBe(false);
      }
    }
    expect(seen.get('reply')).toBeGreaterThan(CASES / 3);
    expect(seen.get('silence')).toBeGreaterThan(CASES / 4);
    expect(seen.get('silence-auth')).toBeGreaterThan(CASES / 50);
    expect(HEADER_LEN).toBe(68);
  });

  it("plj0: the daemon's own parser accepts every \"reply\" case and refuses every other one", () => {
    const key = readFileSync(ganetiExampleKey());
    const fuzz = new Plj0Fuzz(seededRandom(2), key, Buffer.from('another key\n'), new ReplayPool());
    const parser = new RequestParser();
    const seen = new Map<string, number>();
    for (let i = 0; i < CASES; i++) {
      const c = fuzz.next();
      seen.set(c.expect, (seen.get(c.expect) ?? 0) + 1);
      if (c.expect === 'unknown') continue;
      const r = c.bytes.length > 8192 ? 'too_long' : parser.parse(c.bytes, key, Date.now() / 1000);
      const accepted = typeof r !== 'string';
      const what = `${c.category}: ${c.bytes.toString('latin1').slice(0, 300)} → ${typeof r === 'string' ? r : 'accepted'}`;
      if (c.expect === 'reply') {
        expect(accepted, what).toBe(true);
        if (accepted) expect(r.rsalt, what).toBe(c.match);
      } else if (c.expect === 'silence-auth') {
        // Authenticated and fresh, refused for what the request says.
        expect(['plj0_bad_inner_json', 'plj0_bad_request', 'plj0_bad_type', 'plj0_bad_rsalt', 'plj0_bad_query'], what).toContain(r);
      } else if (c.category !== 'replay') {
        expect(accepted, what).toBe(false);
      }
    }
    expect(seen.get('reply')).toBeGreaterThan(CASES / 3);
    expect(seen.get('silence-auth')).toBeGreaterThan(CASES / 20);
  });
});
