// A minimal client of Ganeti's confd protocol (plj0, docs/protocol.md section 1) on Node
// built-ins only: signed requests, verified replies, one query at a time. Independent of the
// project's own codec, so it can check it: readiness probes, the bench's single queries and the
// tests' raw exchanges.
import { createHmac, randomUUID } from 'node:crypto';
import dgram from 'node:dgram';

export interface ConfdReply {
  status: number;
  answer: unknown;
  serial: number;
  /** The reply's outer salt, i.e. the request's rsalt. */
  salt: string;
  raw: Buffer;
}

export interface ConfdQueryOptions {
  port: number;
  hmacKey: Buffer;
  type: number;
  /** Omitted from the request when undefined. */
  query?: unknown;
  host?: string;
  timeoutMs?: number;
}

function hmacSha1(key: Buffer, text: string): string {
  return createHmac('sha1', key).update(text, 'utf8').digest('hex');
}

/** Builds a signed request datagram; the timestamp salt is the current time unless given. */
export function encodeConfdRequest(
  hmacKey: Buffer,
  type: number,
  query: unknown,
  rsalt: string,
  now = Math.floor(Date.now() / 1000),
): Buffer {
  const inner: Record<string, unknown> = { protocol: 1, type };
  if (query !== undefined) inner['query'] = query;
  inner['rsalt'] = rsalt;
  const msg = JSON.stringify(inner);
  const salt = String(now);
  const outer = JSON.stringify({ msg, salt, hmac: hmacSha1(hmacKey, salt + msg) });
  return Buffer.from(`plj0${outer}`, 'utf8');
}

/** Verifies and decodes a reply datagram; returns undefined for anything not validly signed. */
export function decodeConfdReply(hmacKey: Buffer, raw: Buffer): ConfdReply | undefined {
  if (raw.subarray(0, 4).toString('latin1') !== 'plj0') return undefined;
  try {
    const outer = JSON.parse(raw.subarray(4).toString('utf8')) as Record<string, unknown>;
    const { msg, salt, hmac } = outer;
    if (typeof msg !== 'string' || typeof salt !== 'string' || typeof hmac !== 'string') return undefined;
    if (hmacSha1(hmacKey, salt + msg) !== hmac.toLowerCase()) return undefined;
    const inner = JSON.parse(msg) as { status: number; answer: unknown; serial: number };
    return { status: inner.status, answer: inner.answer, serial: inner.serial, salt, raw };
  } catch {
    return undefined;
  }
}

/** One request, one matching signed reply (or a timeout error). */
export async function confdQuery(opts: ConfdQueryOptions): Promise<ConfdReply> {
  const host = opts.host ?? '127.0.0.1';
  const rsalt = randomUUID();
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    return await new Promise<ConfdReply>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no reply from confd at ${host}:${opts.port} within ${opts.timeoutMs ?? 5000} ms`)),
        opts.timeoutMs ?? 5000,
      );
      sock.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sock.on('message', (raw) => {
        const reply = decodeConfdReply(opts.hmacKey, raw);
        if (reply?.salt === rsalt) {
          clearTimeout(timer);
          resolve(reply);
        }
      });
      sock.send(encodeConfdRequest(opts.hmacKey, opts.type, opts.query, rsalt), opts.port, host);
    });
  } finally {
    sock.close();
  }
}
