// Publishing a whole document: to an etcd prefix in one transaction (changed keys put,
// vanished keys deleted, guarded against concurrent writers), or to a file replica atomically
// with a bumped serial_no. Both return the serial the daemons will report.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { documentToKvs, etcdKeyPrefix } from '../../shared/etcd-mapping.js';
import { etcd3Options, etcdClientSettings, prefixRangeEnd, type EtcdConnection } from '../../shared/etcd-connection.js';
import { QconfError } from '../../shared/errors.js';
import { loadPeer } from '../../shared/peer-packages.js';

export interface PublishResult {
  serial: number;
  changed: number;
}

export async function publishToEtcd(conn: EtcdConnection, doc: Record<string, unknown>, attempts = 5): Promise<PublishResult> {
  let desired: Map<string, string>;
  try {
    desired = documentToKvs(conn.prefix, doc);
  } catch (e) {
    throw new QconfError('document', (e as Error).message);
  }
  const { Etcd3 } = await loadPeer('etcd3', () => import('etcd3'));
  const settings = etcdClientSettings(conn);
  const client = new Etcd3(etcd3Options(conn.endpoints, settings, 5000));
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
        compare: [{ key: Buffer.from(pfx), range_end: prefixRangeEnd(pfx), target: 'Mod', result: 'Less', mod_revision: String(read + 1) }],
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
  writeFileAtomic(path, JSON.stringify({ ...doc, serial_no: serial }, null, 2) + '\n');
  return { serial, changed: 1 };
}
