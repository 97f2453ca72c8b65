// An insider on the path: a relay in front of a daemon that holds the HMAC key, so it can read
// every reply, rewrite its answer, sign it again and pass it on. What verified answers must
// defeat: without the publisher's signature key it cannot make a client accept its rewrite.
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { Keyring } from '../../shared/keyring.js';
import { packBody } from '../../shared/msgpack-encode.js';
import { KIND_REPLY, decodeBody, frame, timeOf, verifyDatagram } from '../../shared/qcf1.js';
import type { TestDaemon } from '../../testkit/daemons.js';

/** Rewrites a reply body (the request's body given too); return it unchanged to pass it on. */
export type Rewrite = (reply: Record<string, unknown>, request: Record<string, unknown> | undefined) => Record<string, unknown>;

export class InsiderRelay {
  port = 0;
  private listener: Socket | undefined;
  private readonly upstream = new Map<string, Socket>();
  private readonly requests = new Map<string, Record<string, unknown>>();
  rewritten = 0;

  constructor(
    private readonly target: { host: string; port: number },
    private readonly key: string,
    private readonly rewrite: Rewrite,
    private readonly listenPort = 0,
  ) {}

  get peer(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const sock = dgram.createSocket('udp4');
    sock.on('error', () => undefined);
    await new Promise<void>((resolve) => sock.bind(this.listenPort, '127.0.0.1', () => resolve()));
    this.listener = sock;
    this.port = sock.address().port;
    sock.on('message', (msg, client) => this.fromClient(msg, client));
    return this;
  }

  private fromClient(msg: Buffer, client: RemoteInfo): void {
    if (msg.length >= 36) this.requests.set(msg.subarray(20, 36).toString('hex'), decodeBody(msg) ?? {});
    const key = `${client.address}:${client.port}`;
    let up = this.upstream.get(key);
    if (!up) {
      up = dgram.createSocket('udp4');
      up.on('error', () => undefined);
      up.on('message', (reply) => this.listener?.send(this.forge(reply), client.port, client.address));
      up.bind(0, '127.0.0.1');
      this.upstream.set(key, up);
    }
    up.send(msg, this.target.port, this.target.host);
  }

  /** The reply, its body rewritten and signed again with the shared key. */
  private forge(reply: Buffer): Buffer {
    const ring = Keyring.fromStrings([this.key]);
    const v = verifyDatagram(reply, ring, KIND_REPLY);
    const body = v.ok ? decodeBody(reply) : undefined;
    if (!v.ok || !body) return reply;
    const salt = reply.subarray(20, 36);
    const next = this.rewrite(body, this.requests.get(salt.toString('hex')));
    if (next === body) return reply;
    this.rewritten++;
    return frame(KIND_REPLY, v.key, timeOf(reply), salt, 0, packBody(next));
  }

  async close(): Promise<void> {
    for (const s of [this.listener, ...this.upstream.values()]) {
      try {
        s?.close();
      } catch {
        /* closed */
      }
    }
    this.upstream.clear();
  }
}

/**
 * An insider holding `key` put in front of daemon `d` (it takes the daemon's advertised address,
 * so clients reach the daemon through it), kept in `relays` for the caller to stop.
 */
export async function insiderBefore(d: TestDaemon, key: string, rewrite: Rewrite, relays: InsiderRelay[]): Promise<InsiderRelay> {
  const f = d.front();
  const r = await new InsiderRelay(f.target, key, rewrite, f.port).start();
  relays.push(r);
  return r;
}
