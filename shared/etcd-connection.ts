// How both the daemon and `qconf publish` describe an etcd connection: endpoints, TLS files
// and a password file, turned into etcd3 client options.
import { readFileSync } from 'node:fs';
import type { IOptions } from 'etcd3';
import { QconfError } from './errors.js';

export interface EtcdConnection {
  endpoints: string[];
  prefix: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  user?: string;
  passwordFile?: string;
}

/** The flags that describe an etcd connection beyond its endpoints, as qconfd and `qconf publish` take them. */
export const ETCD_CONNECTION_FLAGS: ReadonlyArray<{ name: string; arg: string; doc: string }> = [
  { name: 'etcd-prefix', arg: 'PREFIX', doc: 'the etcd key prefix holding the document (key PREFIX/a/b = value at /a/b)' },
  { name: 'etcd-ca', arg: 'PATH', doc: 'CA certificate for TLS to etcd' },
  { name: 'etcd-cert', arg: 'PATH', doc: 'client certificate for TLS to etcd (with --etcd-key)' },
  { name: 'etcd-key', arg: 'PATH', doc: 'client key for TLS to etcd' },
  { name: 'etcd-user', arg: 'NAME', doc: 'etcd user (with --etcd-password-file)' },
  { name: 'etcd-password-file', arg: 'PATH', doc: "file holding the etcd user's password" },
];

export function parseEndpoints(text: string): string[] {
  const list = text.split(/[\s,]+/).filter((s) => s !== '');
  if (list.length === 0) throw new QconfError('usage', '--etcd: no endpoint given');
  for (const e of list) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(e)) throw new QconfError('usage', `--etcd: ${JSON.stringify(e)} is not an http:// or https:// endpoint (e.g. http://127.0.0.1:2379)`);
  }
  return list;
}

function readOrFail(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new QconfError('usage', `${what} ${path}: cannot be read (${(e as NodeJS.ErrnoException).code})`);
  }
}

export interface EtcdClientSettings {
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  auth?: { username: string; password: string };
}

/** Read the TLS and password files named by a connection (secrets never reach a log). */
export function etcdClientSettings(c: EtcdConnection): EtcdClientSettings {
  const out: EtcdClientSettings = {};
  if (c.caFile || c.certFile || c.keyFile) {
    if (!c.caFile) throw new QconfError('usage', '--etcd-ca is required with --etcd-cert/--etcd-key');
    if (!!c.certFile !== !!c.keyFile) throw new QconfError('usage', '--etcd-cert and --etcd-key go together');
    out.tls = {
      ca: readOrFail(c.caFile, '--etcd-ca'),
      cert: c.certFile ? readOrFail(c.certFile, '--etcd-cert') : undefined,
      key: c.keyFile ? readOrFail(c.keyFile, '--etcd-key') : undefined,
    };
  }
  if (c.user || c.passwordFile) {
    if (!c.user || !c.passwordFile) throw new QconfError('usage', '--etcd-user and --etcd-password-file go together');
    const password = readOrFail(c.passwordFile, '--etcd-password-file').toString('utf8').replace(/\r?\n$/, '');
    out.auth = { username: c.user, password };
  }
  return out;
}

export function validatePrefix(prefix: string | undefined): string {
  if (!prefix || !prefix.startsWith('/') || prefix.replace(/\/+$/, '') === '') {
    throw new QconfError('usage', '--etcd-prefix must be a key prefix starting with "/" (e.g. /qconf/cluster1)');
  }
  return prefix;
}

/**
 * etcd3 client options for a connection. Replies may be large (a whole prefix, a big watch
 * batch): gRPC's 4 MiB default receive limit is raised; reads are paged as well.
 */
export function etcd3Options(endpoints: string[], settings: EtcdClientSettings, dialTimeoutMs = 3000): IOptions {
  const o: IOptions = { hosts: endpoints, dialTimeout: dialTimeoutMs, grpcOptions: { 'grpc.max_receive_message_length': 256 << 20 } };
  if (settings.tls) o.credentials = { rootCertificate: settings.tls.ca, privateKey: settings.tls.key, certChain: settings.tls.cert };
  if (settings.auth) o.auth = { username: settings.auth.username, password: settings.auth.password };
  return o;
}

/** The key just after every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixRangeEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, 'utf8');
  b[b.length - 1]++;
  return b;
}
