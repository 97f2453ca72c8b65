// The packages qconfd (and qconf publish --etcd) need beyond Node: optional peer dependencies of the qconf package, so
// that an agent's `npm install qconf` (the client library) stays small. Each is loaded when the
// daemon needs it; a missing one stops the daemon with a message saying how to install it.
import { QconfError } from './errors.js';

/** What each is for, and the versions package.json names. */
export const PEER_PACKAGES = {
  pino: { range: '^10.4.0', for: 'qconfd (its logs)' },
  etcd3: { range: '^1.1.2', for: 'the etcd source (--etcd) and qconf publish --etcd' },
  'prom-client': { range: '^15.1.3', for: 'the metrics endpoint (--metrics-listen)' },
} as const;

export type PeerPackage = keyof typeof PEER_PACKAGES;

/** `load()` (a dynamic import of `name`, or of a module importing it), or a usage error naming the package to install. */
export async function loadPeer<T>(name: PeerPackage, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code !== 'ERR_MODULE_NOT_FOUND' || !err.message.includes(`'${name}'`)) throw e;
    const p = PEER_PACKAGES[name];
    throw new QconfError('usage', `${p.for} needs the package ${name}, which is not installed: npm install ${name}@'${p.range}' next to qconf (with -g for a global install)`);
  }
}
