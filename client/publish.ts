// Publishing a whole document: to an etcd prefix in one transaction (changed keys put,
// vanished keys deleted, guarded against concurrent writers), or to a file replica atomically
// with a bumped serial_no. Both return the serial the daemons will report.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { documentToKvs, etcdKeyPrefix } from '../shared/etcd-mapping.js';
import { etcdClientSettings, type EtcdConnection } from '../shared/etcd-connection.js';
import { QconfError } from '../shared/errors.js';

export interface PublishResult {
  serial: number;
  changed: number;
}

/** The key just after every key starting with `prefix` (etcd's range_end for a prefix). */
function rangeEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, 'utf8');
  b[b.length - 1]++;
  return b;
}

export async function publishToEtcd(conn: EtcdConnection, doc: Record<string, unknown>, attempts = 5): Promise<PublishResult> {
  let desired: Map<string, string>;
  try {
    desired = documentToKvs(conn.prefix, doc);
  } catch (e) {
    throw new QconfError('document', (e as Error).message);
  }
  const { Etcd3 } = await import('etcd3');
  const settings = etcdClientSettings(conn);
  const client = new Etcd3({
    hosts: conn.endpoints,
    dialTimeout: 5000,
    ...(settings.tls ? { credentials: { rootCertificate: settings.tls.ca, privateKey: settings.tls.key, certChain: settings.tls.cert } } : {}),
    ...(settings.auth ? { auth: settings.auth } : {}),
  });
  const pfx = etcdKeyPrefix(conn.prefix);
  try {
    for (let i = 0; i < attempts; i++) {
      const res = await client.getAll().prefix(pfx).exec();
      const current = new Map<string, string>();
      let newest = 0;
      for (const kv of res.kvs) {
        current.set(kv.key.toString('utf8'), kv.value.toString('utf8'));
        newest = Math.max(newest, Number(kv.mod_revision));
      }
      const ops: Array<Record<string, unknown>> = [];
      for (const [k, v] of desired) if (current.get(k) !== v) ops.push({ request_put: { key: Buffer.from(k), value: Buffer.from(v) } });
      for (const k of current.keys()) if (!desired.has(k)) ops.push({ request_delete_range: { key: Buffer.from(k) } });
      if (ops.length === 0) return { serial: newest, changed: 0 };
      const read = Number(res.header.revision);
      // Applies only if nothing under the prefix changed since the read; else read again.
      const txn = await client.kv.txn({
        compare: [{ key: Buffer.from(pfx), range_end: rangeEnd(pfx), target: 'Mod', result: 'Less', mod_revision: String(read + 1) }],
        success: ops,
      } as never);
      if (txn.succeeded) return { serial: Number(txn.header.revision), changed: ops.length };
    }
    throw new QconfError('busy', `the prefix kept changing during ${attempts} attempts; try again`);
  } catch (e) {
    if (e instanceof QconfError) throw e;
    const msg = (e as Error).message;
    if (/too many operations/.test(msg)) {
      throw new QconfError('too_large', `${msg}: the change touches more keys than etcd allows in one transaction (its --max-txn-ops, 128 by default)`);
    }
    throw new QconfError('peer', `etcd: ${msg}`);
  } finally {
    client.close();
  }
}

/** Replace a file replica atomically (temp file, fsync, rename, fsync dir); serial_no bumped. */
export function publishToFile(path: string, doc: Record<string, unknown>): PublishResult {
  let currentSerial = -1;
  try {
    const cur = JSON.parse(readFileSync(path, 'utf8')) as { serial_no?: unknown };
    if (typeof cur.serial_no === 'number' && Number.isSafeInteger(cur.serial_no)) currentSerial = cur.serial_no;
  } catch {
    /* no current document, or an unreadable one: start from the document's own serial */
  }
  const own = typeof doc.serial_no === 'number' && Number.isSafeInteger(doc.serial_no) ? doc.serial_no : 0;
  const serial = Math.max(own, currentSerial + 1);
  const out = { ...doc, serial_no: serial };
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, JSON.stringify(out, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
  return { serial, changed: 1 };
}
