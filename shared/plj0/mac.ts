// plj0's message authentication, for the daemon and the client: HMAC-SHA1 with Ganeti's key over
// salt ‖ msg, as 40 hex digits. The MAC covers the UTF-8 of the decoded strings, encoded one
// UTF-16 unit at a time as Haskell encodes its Chars (a \ud83d\ude00 pair is two 3-byte
// sequences there).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { hmacAsciiHexEquals, hmacKey } from '../fast-hmac.js';
import { MAC_HEX_LENGTH } from './protocol.js';

/** A string's bytes as Haskell's UTF-8 encoding of its Chars gives them. */
function haskellUtf8(s: string): Buffer {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return Buffer.from(s, 'latin1');
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return Buffer.from(out);
}

/** HMAC-SHA1(salt ‖ msg) as lowercase hex. */
export function hmacSha1Hex(key: Buffer, salt: string, msg: string): string {
  return createHmac('sha1', key).update(haskellUtf8(salt)).update(haskellUtf8(msg)).digest('hex');
}

/** Case-insensitive, constant-time comparison of a received MAC with the expected one. */
export function macMatches(key: Buffer, salt: string, msg: string, received: string): boolean {
  if (received.length !== MAC_HEX_LENGTH) return false;
  // ASCII salt and msg (the usual case): HMAC computed over the strings in place.
  const fast = hmacAsciiHexEquals(hmacKey('sha1', key), salt, msg, received);
  if (fast !== undefined) return fast;
  const expected = Buffer.from(hmacSha1Hex(key, salt, msg), 'latin1');
  const got = Buffer.from(received.toLowerCase(), 'latin1');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
