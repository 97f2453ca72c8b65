// plj0 for clients (qconf's ConfdClient, the load generator): requests encoded as Ganeti's
// clients write them, replies verified and decoded. The daemon's side is daemon/ganeti/.
import { asciiJson } from './ascii-json.js';
import { hmacSha1Hex, macMatches } from './mac.js';
import { CONFD_PROTOCOL_VERSION, PLJ0_MAGIC } from './protocol.js';

export interface ClientRequest {
  /** A RequestType; any number can be sent. */
  type: number;
  /** Omitted from the request when undefined (as the Python client does for a ping). */
  query?: string | Record<string, unknown> | null;
  rsalt: string;
}

/** Encode a request as Ganeti's clients do: compact inner JSON, the timestamp as the salt. */
export function encodeRequestDatagram(key: Buffer, req: ClientRequest, nowSec = Date.now() / 1000): Buffer {
  const inner: Record<string, unknown> = { protocol: CONFD_PROTOCOL_VERSION, type: req.type };
  if (req.query !== undefined) inner.query = req.query;
  inner.rsalt = req.rsalt;
  const msg = asciiJson(inner);
  const salt = String(Math.floor(nowSec));
  const hmac = hmacSha1Hex(key, salt, msg);
  return Buffer.from(`${PLJ0_MAGIC}{"msg":${asciiJson(msg)},"salt":"${salt}","hmac":"${hmac}"}`, 'latin1');
}

export interface DecodedReply {
  salt: string;
  status: number;
  answer: unknown;
  serial: number;
}

/** A JSON object's members, or undefined for any other JSON value or bad text. */
function parseObject(text: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Verify and decode a reply datagram; undefined for anything not authentic or malformed. */
export function decodeReplyDatagram(key: Buffer, datagram: Buffer): DecodedReply | undefined {
  if (datagram.length < PLJ0_MAGIC.length || datagram.toString('latin1', 0, PLJ0_MAGIC.length) !== PLJ0_MAGIC) return undefined;
  // Replies from the real daemon may carry raw non-ASCII bytes; they are UTF-8 when valid.
  const outer = parseObject(datagram.toString('utf8', PLJ0_MAGIC.length));
  if (outer === undefined) return undefined;
  const { hmac, msg, salt } = outer;
  if (typeof hmac !== 'string' || typeof msg !== 'string' || typeof salt !== 'string') return undefined;
  if (!macMatches(key, salt, msg, hmac)) return undefined;
  const inner = parseObject(msg);
  if (inner === undefined) return undefined;
  const { status, answer, serial } = inner;
  if (typeof status !== 'number' || typeof serial !== 'number') return undefined;
  return { salt, status, answer, serial };
}
