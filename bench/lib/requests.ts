// The load generator's requests, made and signed before the timed window so that sending one
// costs a send and nothing else: QCF1 datagrams (the index in the salt, `to` naming the target)
// and plj0 datagrams (the index in the rsalt), all in one buffer; and how a reply is matched
// back to its request by that index.
import { createHmac, randomBytes } from 'node:crypto';
import { Keyring } from '../../shared/keyring.js';
import { HEADER_LEN, KIND_REQUEST, KIND_SEALED_REQUEST, MAC_OFFSET, SALT_OFFSET, packBody } from '../../shared/qcf1.js';
import { SEAL_OVERHEAD, sealBody, sealKeys } from '../../shared/seal.js';
import { seededRandom } from '../../testkit/random.js';
import type { Job, LoadKind } from './load-job.js';

export interface Generated {
  buf: Buffer;
  /** offsets[i]..offsets[i+1] is request i. */
  offsets: Uint32Array;
  count: number;
}

const HEX = '0123456789abcdef';

/**
 * A request body (a map16, as the client codec writes) with `to` added: the address the request
 * is sent to (docs/protocol.md, "Destination").
 */
function withTo(body: Buffer, to: string): Buffer {
  if (body[0] !== 0xde) throw new Error('request bodies must be map16');
  const out = Buffer.concat([body, packBody({ to }).subarray(3)]);
  out.writeUInt16BE(body.readUInt16BE(1) + 1, 1);
  return out;
}

export function destination(t: { host: string; port: number }): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/**
 * QCF1 (or echo) requests: header + body, index in the first 4 salt bytes, signed; with
 * `job.seal`, each body sealed under a nonce of its own.
 */
export function generateQcf1(job: Job, count: number, sign: boolean): Generated {
  const plain = (job.bodies ?? []).map((b) => Buffer.from(b, 'base64'));
  if (plain.length === 0) throw new Error('no request bodies');
  // Request i goes to target (i mod concurrency) mod targets (see sendSlot): its `to` names it.
  const C = Math.max(1, Math.floor(job.concurrency));
  const perTarget = job.targets.map((t) => plain.map((b) => withTo(b, destination(t))));
  const keyring = Keyring.fromStrings([job.key ?? 'x'.repeat(32)]);
  const key = keyring.signer;
  const seal = job.seal === true;
  const sealKey = seal ? sealKeys(key).request : undefined;
  const pick = seededRandom(job.seed);
  const choice = new Uint32Array(count);
  let total = 0;
  const bodiesOf = (i: number) => perTarget[(i % C) % perTarget.length];
  for (let i = 0; i < count; i++) {
    const c = job.inOrder ? i % plain.length : Math.floor(pick() * plain.length);
    choice[i] = c;
    total += HEADER_LEN + bodiesOf(i)[c].length + (seal ? SEAL_OVERHEAD : 0);
  }
  const buf = Buffer.allocUnsafe(total);
  const offsets = new Uint32Array(count + 1);
  const rand = randomBytes(count * 12);
  const now = Date.now();
  const hi = Math.floor(now / 0x1_0000_0000);
  const lo = now >>> 0;
  let o = 0;
  for (let i = 0; i < count; i++) {
    const plain = bodiesOf(i)[choice[i]];
    const body = sealKey === undefined ? plain : sealBody(sealKey, plain, 0, plain.length);
    offsets[i] = o;
    buf.write('QCF1', o, 'latin1');
    buf[o + 4] = seal ? KIND_SEALED_REQUEST : KIND_REQUEST;
    buf[o + 5] = buf[o + 6] = buf[o + 7] = 0;
    buf.writeUInt32BE(key.id, o + 8);
    buf.writeUInt32BE(hi, o + 12);
    buf.writeUInt32BE(lo, o + 16);
    buf.writeUInt32BE(i, o + SALT_OFFSET);
    rand.copy(buf, o + 24, i * 12, i * 12 + 12);
    body.copy(buf, o + HEADER_LEN);
    const end = o + HEADER_LEN + body.length;
    if (sign) {
      createHmac('sha256', key.bytes)
        .update(buf.subarray(o, o + MAC_OFFSET))
        .update(buf.subarray(o + HEADER_LEN, end))
        .digest()
        .copy(buf, o + MAC_OFFSET);
    } else {
      buf.fill(0, o + MAC_OFFSET, o + HEADER_LEN);
    }
    o = end;
  }
  offsets[count] = o;
  return { buf, offsets, count };
}

/** plj0 requests as Ganeti's clients send them; rsalt = "qb" + 8 hex digits of the index + random. */
export function generatePlj0(job: Job, count: number): Generated {
  const templates = job.plj0 ?? [];
  if (templates.length === 0) throw new Error('no plj0 templates');
  const key = Buffer.from(job.plj0Key ?? '', 'base64');
  const prefixes = templates.map((t) => {
    const inner: Record<string, unknown> = { protocol: 1, type: t.type };
    if (t.query !== undefined) inner.query = t.query;
    inner.rsalt = '\u0000';
    const s = JSON.stringify(inner);
    const cut = s.indexOf('"\\u0000"');
    return [s.slice(0, cut + 1), s.slice(cut + 7)] as const;
  });
  const pick = seededRandom(job.seed);
  const salt = String(Math.floor(Date.now() / 1000));
  const rand = randomBytes(count * 6).toString('hex');
  const parts: Buffer[] = [];
  const offsets = new Uint32Array(count + 1);
  let o = 0;
  for (let i = 0; i < count; i++) {
    const [pre, post] = prefixes[job.inOrder ? i % templates.length : Math.floor(pick() * templates.length)];
    let idx = '';
    for (let s = 28; s >= 0; s -= 4) idx += HEX[(i >>> s) & 15];
    const msg = `${pre}qb${idx}${rand.slice(i * 12, i * 12 + 12)}${post}`;
    const hmac = createHmac('sha1', key).update(salt, 'latin1').update(msg, 'latin1').digest('hex');
    const b = Buffer.from(`plj0{"msg":${JSON.stringify(msg)},"salt":"${salt}","hmac":"${hmac}"}`, 'latin1');
    parts.push(b);
    offsets[i] = o;
    o += b.length;
  }
  offsets[count] = o;
  return { buf: Buffer.concat(parts, o), offsets, count };
}

function hexVal(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** The request index a reply answers, or -1. */
export function indexOf(kind: LoadKind, msg: Buffer): number {
  if (kind !== 'plj0') return msg.length >= SALT_OFFSET + 4 ? msg.readUInt32BE(SALT_OFFSET) : -1;
  const i = msg.lastIndexOf('"qb');
  if (i < 0 || i + 11 > msg.length) return -1;
  let v = 0;
  for (let k = i + 3; k < i + 11; k++) v = v * 16 + hexVal(msg[k]);
  return v;
}
