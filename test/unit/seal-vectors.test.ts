// protocol.md's "Sealed traffic" test vectors (section "Test vectors"), read from the page and
// checked against the code and against the construction rebuilt from the page's words: HKDF
// written out with HMAC (RFC 5869), the box made by tweetnacl's own `nacl.secretbox`. Then the
// datagrams through the daemon's and the client's code: opened as given, refused with any bit
// changed, with an authentic MAC over a changed or truncated box, or under another key.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { Qcf1ClientProtocol } from '../../client/protocol.js';
import { openRequest } from '../../daemon/qcf1/sealing.js';
import { Stats } from '../../daemon/stats.js';
import { Keyring } from '../../shared/keyring.js';
import { packBody } from '../../shared/msgpack-encode.js';
import { unpackBody } from '../../shared/msgpack-decode.js';
import { HEADER_LEN, KIND_SEALED_REPLY, KIND_SEALED_REQUEST, frame, verifyKey } from '../../shared/qcf1-frame.js';
import { SEAL_OVERHEAD, openBody, sealBody, sealKeys } from '../../shared/seal.js';
import { KEY_B } from '../../testkit/fixtures.js';
import { ROOT } from '../../testkit/paths.js';
import { flipBit } from '../support/raw-client.js';

const PAGE = readFileSync(join(ROOT, 'docs/protocol.md'), 'utf8');

/** The "### Sealed traffic" subsection of "## Test vectors", to the next heading. */
function subsection(): string {
  const vectors = PAGE.indexOf('\n## Test vectors\n');
  const start = PAGE.indexOf('\n### Sealed traffic\n', vectors);
  expect(vectors).toBeGreaterThan(0);
  expect(start).toBeGreaterThan(vectors);
  const rest = PAGE.slice(start + 1);
  const end = rest.slice(1).search(/\n#{1,3} /);
  return end < 0 ? rest : rest.slice(0, end + 1);
}

const ITEMS = new Map<string, Buffer>();
for (const m of subsection().matchAll(/^- (.+): `([0-9a-f]*)`$/gm)) ITEMS.set(m[1], Buffer.from(m[2], 'hex'));

function item(label: string): Buffer {
  const v = ITEMS.get(label);
  expect(v, `protocol.md gives "${label}"`).toBeDefined();
  return v as Buffer;
}

/** The page's test key, salt, times and nonces ("Test vectors", "Sealed traffic"). */
const KEY_TEXT = '0123456789abcdef'.repeat(4);
const RING = Keyring.fromStrings([KEY_TEXT]);
const KEY = RING.signer;
const SALT = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const REQUEST_TIME = 1_795_390_000_123;
const REPLY_TIME = 1_795_390_000_456;
const REQUEST_NONCE = Buffer.from(Array.from({ length: 24 }, (_, i) => 0x20 + i));
const REPLY_NONCE = Buffer.from(Array.from({ length: 24 }, (_, i) => 0x40 + i));
const REQUEST = { op: 'get', path: '/cluster/master', to: '192.0.2.10:1814', pad: Buffer.alloc(0) };
const REPLY = { status: 0, serial: 7, node: 'a', instance: '00112233aabbccdd', answer: 'n1', etag: 'e1' };

/** RFC 5869 written out: extract with a salt of 32 zero bytes, expand one block. */
function hkdf(ikm: Buffer, info: string): Buffer {
  const prk = createHmac('sha256', Buffer.alloc(32)).update(ikm).digest();
  return createHmac('sha256', prk).update(Buffer.concat([Buffer.from(info, 'ascii'), Buffer.from([1])])).digest();
}

/** Re-sign a datagram's MAC after its bytes were changed: what only a key holder can do. */
function resigned(datagram: Buffer): Buffer {
  return frame(datagram[4], KEY, REQUEST_TIME, datagram, 20, datagram.subarray(HEADER_LEN));
}

describe("protocol.md's sealed-traffic vectors", () => {
  it('derives the seal keys as the page says (HKDF-SHA256, no salt, the two labels)', () => {
    expect(hkdf(Buffer.from(KEY_TEXT), 'qconf seal v1 request').toString('hex')).toBe(item('request seal key').toString('hex'));
    expect(hkdf(Buffer.from(KEY_TEXT), 'qconf seal v1 reply').toString('hex')).toBe(item('reply seal key').toString('hex'));
    expect(Buffer.from(sealKeys(KEY).request).toString('hex')).toBe(item('request seal key').toString('hex'));
    expect(Buffer.from(sealKeys(KEY).reply).toString('hex')).toBe(item('reply seal key').toString('hex'));
  });

  it('seals the plaintexts as nacl.secretbox does, after the nonce', () => {
    expect(unpackBody(item('request plaintext'))).toEqual(REQUEST);
    expect(unpackBody(item('reply plaintext'))).toEqual(REPLY);
    for (const [dir, nonce, key] of [
      ['request', REQUEST_NONCE, item('request seal key')],
      ['reply', REPLY_NONCE, item('reply seal key')],
    ] as const) {
      const plain = item(`${dir} plaintext`);
      const sealed = item(`sealed ${dir} body`);
      expect(sealed.length).toBe(plain.length + SEAL_OVERHEAD);
      expect(sealed.subarray(0, 24).equals(nonce)).toBe(true);
      expect(Buffer.from(nacl.secretbox(plain, nonce, key)).toString('hex')).toBe(sealed.subarray(24).toString('hex'));
      expect(sealBody(key, plain, 0, plain.length, 0, nonce).toString('hex')).toBe(sealed.toString('hex'));
    }
  });

  it('frames the sealed bodies into the datagrams given, MAC over the sealed bytes', () => {
    const q = frame(KIND_SEALED_REQUEST, KEY, REQUEST_TIME, SALT, 0, item('sealed request body'));
    const r = frame(KIND_SEALED_REPLY, KEY, REPLY_TIME, SALT, 0, item('sealed reply body'));
    expect(q.toString('hex')).toBe(item('sealed request datagram').toString('hex'));
    expect(r.toString('hex')).toBe(item('sealed reply datagram').toString('hex'));
  });

  it('the daemon opens the request vector to its plaintext body, after its header', () => {
    const datagram = item('sealed request datagram');
    const key = verifyKey(datagram, RING, KIND_SEALED_REQUEST);
    expect(typeof key).toBe('object');
    const stats = new Stats();
    const opened = openRequest(datagram, KEY, stats);
    expect(opened?.subarray(0, HEADER_LEN).equals(datagram.subarray(0, HEADER_LEN))).toBe(true);
    expect(opened?.subarray(HEADER_LEN).toString('hex')).toBe(item('request plaintext').toString('hex'));
    expect(stats.sealed).toEqual({ requests: 1, replies: 0, openFailures: 0 });
  });

  it('a sealing client reads the reply vector; one that does not seal ignores it, and the other way round', () => {
    const sealing = new Qcf1ClientProtocol(() => RING, Date.now, undefined, true);
    const clear = new Qcf1ClientProtocol(() => RING);
    expect(sealing.decode(item('sealed reply datagram'))).toEqual({ salt: SALT.toString('latin1'), reply: REPLY });
    expect(clear.decode(item('sealed reply datagram'))).toBeUndefined();
    // The unsealed reply to the same request, as "Test vectors" gives it.
    const inClear = frame(2, KEY, REPLY_TIME, SALT, 0, packBody(REPLY));
    expect(clear.decode(inClear)?.reply).toEqual(REPLY);
    expect(sealing.decode(inClear)).toBeUndefined();
  });

  it('rejects the sealed reply vector with any single bit flipped', () => {
    const sealing = new Qcf1ClientProtocol(() => RING, Date.now, undefined, true);
    const v = item('sealed reply datagram');
    for (let bit = 0; bit < v.length * 8; bit++) expect(sealing.decode(flipBit(v, bit)), `bit ${bit}`).toBeUndefined();
  });

  it('with an authentic MAC, a changed box, nonce or tag does not open', () => {
    const v = item('sealed request datagram');
    const stats = new Stats();
    for (let bit = HEADER_LEN * 8; bit < v.length * 8; bit += 3) {
      const forged = resigned(flipBit(v, bit));
      expect(typeof verifyKey(forged, RING, KIND_SEALED_REQUEST), `bit ${bit}`).toBe('object');
      expect(openRequest(forged, KEY, stats), `bit ${bit}`).toBeUndefined();
    }
    expect(stats.sealed.requests).toBe(0);
    expect(stats.sealed.openFailures).toBeGreaterThan(0);
  });

  it('with an authentic MAC, a truncated box does not open, down to nothing', () => {
    const v = item('sealed request datagram');
    for (let n = HEADER_LEN + 1; n < v.length; n++) expect(openRequest(resigned(v.subarray(0, n)), KEY, new Stats()), `${n} bytes`).toBeUndefined();
  });

  it("another key's seal key does not open a box, nor does the other direction's", () => {
    const other = Keyring.fromStrings([KEY_B]).signer;
    const body = item('sealed request body');
    expect(openBody(sealKeys(other).request, body, 0, body.length)).toBeUndefined();
    expect(openBody(sealKeys(KEY).reply, body, 0, body.length)).toBeUndefined();
    expect(openBody(sealKeys(KEY).request, body, 0, body.length)?.toString('hex')).toBe(item('request plaintext').toString('hex'));
  });

  it('draws a fresh nonce for every body: the same plaintext sealed twice differs', () => {
    const plain = item('reply plaintext');
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) seen.add(sealBody(sealKeys(KEY).reply, plain, 0, plain.length).subarray(0, 24).toString('hex'));
    expect(seen.size).toBe(500);
  });
});
