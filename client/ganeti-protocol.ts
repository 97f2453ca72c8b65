// The client side of Ganeti's confd protocol (plj0) for ConfdClient: a request is
// {op: 'plj0', type, query?}; each transmission gets a fresh UUID as its rsalt (the salt the
// reply echoes) and the current time as its signed timestamp. Replies are normalised to
// {status, serial, answer}, with an error for status 1 so the CLI can tell "not found" apart.
import { randomUUID } from 'node:crypto';
import { decodeReplyDatagram, encodeRequestDatagram } from '../shared/plj0/client-codec.js';
import { RequestType } from '../shared/plj0/protocol.js';
import type { ClientProtocol, Transmission } from './protocol.js';
import type { Reply, Request } from './types.js';

export interface Plj0Request extends Request {
  op: 'plj0';
  /** Request type 0–11 (ganeti-confd-protocol.md §4). */
  type: number;
  /** Plain string, dict query ({"0": link, "1": ip, "2": ips, "3": fields}), or absent. */
  query?: string | Record<string, unknown> | null;
}

export function plj0Request(type: number, query?: string | Record<string, unknown> | null): Plj0Request {
  return query === undefined ? { op: 'plj0', type } : { op: 'plj0', type, query };
}

/** The error of a status-1 answer: Ganeti's codes (0 unknown entry, 2 argument) or its text. */
export function plj0Error(answer: unknown): { code: string; message: string } {
  if (answer === 0) return { code: 'not_found', message: 'unknown entry' };
  if (answer === 2) return { code: 'bad_argument', message: 'argument error' };
  const text = typeof answer === 'string' ? answer : JSON.stringify(answer);
  if (/ not found/.test(text)) return { code: 'not_found', message: text };
  if (/Invalid query type|has multiple matches/.test(text)) return { code: 'bad_argument', message: text };
  return { code: 'internal', message: text };
}

export class Plj0ClientProtocol implements ClientProtocol {
  readonly documentSerials = false;
  private readonly key: () => Buffer;

  constructor(
    key: Buffer | (() => Buffer),
    private readonly clock: () => number = Date.now,
  ) {
    this.key = typeof key === 'function' ? key : () => key;
  }

  newSalt(): string {
    return randomUUID();
  }

  encode(request: Request, salt: string, _t?: Transmission): Buffer {
    const type = typeof request.type === 'number' ? request.type : RequestType.Ping;
    const query = request.query as string | Record<string, unknown> | null | undefined;
    return encodeRequestDatagram(this.key(), { type, query, rsalt: salt }, this.clock() / 1000);
  }

  decode(datagram: Buffer): { salt: string; reply: Reply } | undefined {
    const r = decodeReplyDatagram(this.key(), datagram);
    if (!r) return undefined;
    const reply: Reply = { status: r.status, serial: r.serial, answer: r.answer };
    if (r.status !== 0) reply.error = plj0Error(r.answer);
    return { salt: r.salt, reply };
  }
}
