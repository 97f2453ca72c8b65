// Ganeti's confd protocol (plj0) on qconfd's socket. Placeholder until the Ganeti view lands:
// every datagram is dropped and counted, as an unauthenticated one would be.
import type { RemoteInfo } from 'node:dgram';
import type { ReplayGuard } from '../replay-guard.js';
import type { Replica } from '../replica.js';
import type { Stats } from '../stats.js';

export interface Plj0Deps {
  /** The raw bytes of Ganeti's hmac.key (re-read on SIGHUP). */
  key: () => Buffer;
  replica: Replica;
  stats: Stats;
  replay: ReplayGuard;
  /** Where the document comes from, for Ganeti-style error texts. */
  configPath: string;
  send: (bytes: Buffer, to: RemoteInfo) => void;
}

export const PLJ0_MAX_REQUEST_BYTES = 8192;

export class Plj0Service {
  constructor(private readonly d: Plj0Deps) {}

  handle(msg: Buffer, rinfo: RemoteInfo): void {
    void msg;
    void rinfo;
    this.d.stats.drop('not_implemented');
  }
}
