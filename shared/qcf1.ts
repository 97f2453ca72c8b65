// QCF1 bodies (protocol.md, "Request body", "Reply body"): one MessagePack map after the
// header, written by shared/msgpack-encode.ts and read by shared/msgpack-decode.ts. The framing
// (header, MAC, drop reasons) is qcf1-frame.ts, re-exported here so that one import gives the
// whole protocol.
import { packBody } from './msgpack-encode.js';
import { unpackBody } from './msgpack-decode.js';
import { HEADER_LEN } from './qcf1-frame.js';

export * from './qcf1-frame.js';
export { packBody };

/**
 * Decode an authenticated body: exactly one MessagePack map, nothing after it. A value nested
 * deeper than MAX_NESTING is TOO_DEEP (a request holding one is still answered: its op refuses
 * the value as a bad argument, or ignores it under a key it does not read).
 */
export function decodeBody(buf: Buffer): Record<string, unknown> | undefined {
  return unpackBody(buf, HEADER_LEN, 'skip');
}
