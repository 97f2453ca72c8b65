// QCF1 bodies with msgpackr (protocol.md, "Request body", "Reply body"): one MessagePack map
// after the header. The framing (header, MAC, drop reasons) is qcf1-frame.ts, re-exported here
// so that one import gives the daemon the whole protocol; a client that must not load msgpackr
// imports qcf1-frame.ts itself (client/qcf1-lean.ts).
//
// 'msgpackr/pack' rather than 'msgpackr': despite its name this subpath is not the packer alone.
// Under Node it resolves (export conditions "node", "import") to msgpackr's index.js, the whole
// codec, packer and unpacker both (Packr, used here, extends Unpackr). What it leaves out,
// compared with the package's main entry, is the stream classes (and node:stream) and the
// optional native string extractor, msgpackr-extract, which is found and loaded through
// node-gyp-build at import time. That makes this import load in a fraction of the main entry's
// time, and the values are the same: the extractor only speeds up decoding string-heavy
// messages, and a QCF1 request is a few short strings.
import { Packr } from 'msgpackr/pack';
import { HEADER_LEN } from './qcf1-frame.js';

export * from './qcf1-frame.js';

// Plain maps in, plain objects out; no records or extensions that a peer would have to know.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

export function packBody(body: object): Buffer {
  return packr.pack(body);
}

/** Decode an authenticated body: exactly one MessagePack map, nothing after it. */
export function decodeBody(buf: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = packr.unpack(buf.subarray(HEADER_LEN));
  } catch {
    return undefined;
  }
  // Only a plain map: no arrays, buffers, dates or the decoder's special values (e.g. 0xc1).
  if (value === null || typeof value !== 'object') return undefined;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  return value as Record<string, unknown>;
}
