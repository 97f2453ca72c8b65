// A QCF1 service in-process, for unit tests of the request path: the daemon's own Qcf1Service
// with everything a daemon would give it, and requests as a client frames them (`to` naming the
// service's address, padded as a first request is).
import { randomBytes } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import { AddressValidation } from '../../daemon/address-validation.js';
import { OwnAddresses } from '../../daemon/own-addresses.js';
import { Qcf1Service } from '../../daemon/qcf1/service.js';
import { ReplayGuard } from '../../daemon/replay-guard.js';
import type { SealPolicy } from '../../daemon/qcf1/sealing.js';
import type { Replica } from '../../daemon/replica.js';
import type { Stats } from '../../daemon/stats.js';
import type { Keyring } from '../../shared/keyring.js';
import { KIND_REQUEST } from '../../shared/qcf1.js';
import { encodeDatagram } from './raw-client.js';

/** The address the service answers to. */
export const SERVICE_TO = '127.0.0.1:1814';
export const CLIENT: RemoteInfo = { address: '127.0.0.1', port: 9, family: 'IPv4', size: 0 };

export function qcf1Service(o: { keyring: Keyring; replica: Replica; stats: Stats; send: (b: Buffer, to: RemoteInfo) => void; replay?: ReplayGuard; sealRequired?: SealPolicy }): Qcf1Service {
  const own = new OwnAddresses({ bind: '127.0.0.1', port: 1814 });
  return new Qcf1Service({
    keyring: () => o.keyring,
    replica: o.replica,
    stats: o.stats,
    replay: o.replay ?? new ReplayGuard({ windowMs: 60_000, capacity: 1000 }),
    maxSkewMs: 60_000,
    identity: { node: 'n1', instance: '0123456789abcdef' },
    version: 't',
    waitLimits: { total: 10, perSource: 10, perKey: 10 },
    waitCapMs: 1000,
    destinations: () => own,
    validation: new AddressValidation(),
    send: o.send,
    debug: () => undefined,
    onError: (e) => {
      throw e;
    },
    sealRequired: o.sealRequired,
  });
}

/** A signed request for the service, padded to 1200 bytes as a first request is. */
export function serviceRequest(keyring: Keyring, body: Record<string, unknown>, salt = randomBytes(16)): Buffer {
  const full = { ...body, to: SERVICE_TO };
  const bare = encodeDatagram(KIND_REQUEST, keyring.signer, Date.now(), salt, { ...full, pad: Buffer.alloc(0) });
  return encodeDatagram(KIND_REQUEST, keyring.signer, Date.now(), salt, { ...full, pad: Buffer.alloc(Math.max(0, 1200 - bare.length - 1)) });
}
