// Publishing a whole document: to an etcd prefix in one transaction (changed keys put,
// vanished keys deleted, guarded against concurrent writers), or to file replicas atomically,
// all with one serial above every serial they hold or a daemon serves. Both return the serial
// the daemons will report.
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { documentToKvs, etcdKeyPrefix, kvsToDocument } from '../../shared/etcd-mapping.js';
import { etcd3Options, etcdClientSettings, prefixRangeEnd, type EtcdConnection } from '../../shared/etcd-connection.js';
import { loadPeer } from '../../shared/peer-packages.js';
import { SIGNATURE_MEMBER, readSignature } from '../../shared/signing.js';

export interface PublishResult {
  serial: number;
  changed: number;
}

/** Why a publish cannot go ahead: the document, a target file, or etcd. */
export class PublishError extends Error {
  constructor(
    readonly code: 'document' | 'target' | 'etcd' | 'busy' | 'too_large',
    message: string,
  ) {
    super(message);
  }
}

/** Signs a document for a serial (client/cli/sign.ts). */
export type SignFor = (doc: Record<string, unknown>, serial: number) => Record<string, unknown>;

function kvsOf(prefix: string, doc: Record<string, unknown>): Map<string, string> {
  try {
    return documentToKvs(prefix, doc);
  } catch (e) {
    throw new PublishError('document', (e as Error).message);
  }
}

/**
 * The kvs of `doc` signed for the next signed serial: above the signed serial there now, above
 * the revision the daemons may serve an unsigned replica at, and at least the document's own.
 * Signed as the daemons will rebuild it from etcd (its objects' keys sorted): its commitment is
 * theirs.
 */
function signedKvs(prefix: string, doc: Record<string, unknown>, sign: SignFor, current: Map<string, string>, revision: number): { kvs: Map<string, string>; serial: number } {
  const before = Number(current.get(`${etcdKeyPrefix(prefix)}${SIGNATURE_MEMBER}/serial`));
  const serial = Math.max(ownSerial(doc), Number.isSafeInteger(before) ? before + 1 : 0, revision + 1);
  const rebuilt = kvsToDocument(prefix, [...kvsOf(prefix, doc)].map(([key, value]) => ({ key, value }))).doc as Record<string, unknown>;
  return { kvs: kvsOf(prefix, sign(rebuilt, serial)), serial };
}

export async function publishToEtcd(conn: EtcdConnection, doc: Record<string, unknown>, sign?: SignFor, attempts = 5): Promise<PublishResult> {
  const unsignedKvs = sign ? undefined : kvsOf(conn.prefix, doc);
  const { Etcd3 } = await loadPeer('etcd3', () => import('etcd3'));
  // An unreadable TLS or password file is a usage error (QconfError usage), as in qconfd.
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
      const read = Number(res.header.revision);
      const signed = sign ? signedKvs(conn.prefix, doc, sign, current, read) : undefined;
      const desired = signed?.kvs ?? (unsignedKvs as Map<string, string>);
      const ops: Array<Record<string, unknown>> = [];
      for (const [k, v] of desired) if (current.get(k) !== v) ops.push({ request_put: { key: Buffer.from(k), value: Buffer.from(v) } });
      for (const k of current.keys()) if (!desired.has(k)) ops.push({ request_delete_range: { key: Buffer.from(k) } });
      if (ops.length === 0) return { serial: newest, changed: 0 };
      // Applies only if nothing under the prefix changed since the read; else read again.
      const txn = await client.kv.txn({
        compare: [{ key: Buffer.from(pfx), range_end: prefixRangeEnd(pfx), target: 'Mod', result: 'Less', mod_revision: String(read + 1) }],
        success: ops,
      } as never);
      // A signed replica's serial is the signed one; an unsigned one's, the revision written.
      if (txn.succeeded) return { serial: signed?.serial ?? Number(txn.header.revision), changed: ops.length };
    }
    throw new PublishError('busy', `the prefix kept changing during ${attempts} attempts; try again`);
  } catch (e) {
    if (e instanceof PublishError) throw e;
    const msg = (e as Error).message;
    if (/too many operations/.test(msg)) {
      throw new PublishError('too_large', `${msg}: the change touches more keys than etcd allows in one transaction (its --max-txn-ops, 128 by default)`);
    }
    throw new PublishError('etcd', `etcd: ${msg}`);
  } finally {
    client.close();
  }
}

/** The document's own serial_no: a whole number, or 0 when it has none. */
export function ownSerial(doc: Record<string, unknown>): number {
  const s = doc.serial_no;
  if (s === undefined) return 0;
  if (typeof s === 'number' && Number.isSafeInteger(s) && s >= 0) return s;
  const what = typeof s === 'string' ? `the string ${JSON.stringify(s)}` : JSON.stringify(s);
  throw new PublishError('document', `serial_no must be a whole number, not ${what}; write it unquoted (or leave it out: publish picks the serial)`);
}

/**
 * A document to publish unsigned: as it is, with the new serial; one already signed (qconf sign)
 * keeps its signed serial, which must be high enough (its signature covers its serial_no).
 */
function signedAsIs(doc: Record<string, unknown>, serial: number): Record<string, unknown> {
  const sig = readSignature(doc);
  if (sig === undefined) return { ...doc, serial_no: serial };
  if (typeof sig === 'string') throw new PublishError('document', `${sig}: sign it again (qconf sign, or publish --sign-key)`);
  if (doc.serial_no !== sig.serial) throw new PublishError('document', `serial_no ${String(doc.serial_no)} is not the signed serial ${sig.serial}: sign it again`);
  if (sig.serial < serial) {
    throw new PublishError('document', `the document is signed for serial ${sig.serial}, but serial ${serial - 1} is held or served already: sign it again with a higher one (qconf sign --serial ${serial}), or publish with --sign-key`);
  }
  return doc;
}

/** A target must be a file path in an existing directory; returns the serial it holds, or -1. */
function targetSerial(path: string): number {
  let dirOk = false;
  try {
    dirOk = statSync(dirname(path)).isDirectory();
  } catch {
    /* reported below */
  }
  if (!dirOk) throw new PublishError('target', `--to ${path}: the directory ${dirname(path)} does not exist`);
  let text: string;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new PublishError('target', `--to ${path}: is a directory; give the file to replace, e.g. ${path.replace(/\/?$/, '/cluster.json')}`);
    // Never read (a FIFO would hang) nor replace anything but a file.
    if (!st.isFile()) throw new PublishError('target', `--to ${path}: is not a regular file`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof PublishError) throw e;
    return -1; // nothing there yet (or unreadable: the write below says so)
  }
  try {
    const s = (JSON.parse(text) as { serial_no?: unknown }).serial_no;
    return typeof s === 'number' && Number.isSafeInteger(s) ? s : -1;
  } catch {
    return -1; // not a document the daemon could serve
  }
}

/**
 * Replace each file replica atomically, all with one serial: the document's own, raised above
 * every target's current serial_no and above the newest serial a daemon serves (`served`, asked
 * once the document and every target are found good), so that no daemon refuses it as older and
 * no wait for it is met by what is served already.
 */
export async function publishToFiles(paths: readonly string[], doc: Record<string, unknown>, served: () => Promise<number>, sign?: SignFor): Promise<PublishResult> {
  let serial = ownSerial(doc);
  for (const path of paths) serial = Math.max(serial, targetSerial(path) + 1);
  serial = Math.max(serial, (await served()) + 1);
  const text = JSON.stringify(sign ? sign({ ...doc, serial_no: serial }, serial) : signedAsIs(doc, serial), null, 2) + '\n';
  for (const path of paths) {
    try {
      writeFileAtomic(path, text);
    } catch (e) {
      throw new PublishError('target', `--to ${path}: cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  return { serial, changed: paths.length };
}
