// qconfd --check: validate what a start would use — flags and QCONFD_* variables, key files
// (permissions included), the document (or, once it exists, the etcd connection), the ports —
// without serving. Exit 0 with a summary (warnings allowed), 1 naming each problem. Used as
// the units' ExecStartPre= (so it runs as the service's user, with its sandbox: a key file the
// daemon could not read fails here, visibly) and by hand before a restart.
import { loadPeer } from '../shared/peer-packages.js';
import dgram from 'node:dgram';
import { statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { QconfError } from '../shared/errors.js';
import { loadKeyring, readRawKeyFile } from '../shared/keyring.js';
import { etcd3Options, etcdClientSettings } from '../shared/etcd-connection.js';
import { etcdKeyPrefix } from '../shared/etcd-mapping.js';
import { readDocument } from './source/file.js';
import { readCache } from './source/replica-copy.js';
import { GanetiLoadError, buildGanetiView } from './ganeti/view.js';
import { KEY_FILE_REQUIRED, type DaemonOptions, type ParsedOptions } from './options.js';
import { udpPortHolder } from './port-holder.js';
import { redactDocumentMessage } from './redact.js';
import { readAccessFile } from './access/access-file.js';
import { AccessPolicy } from './access/policy.js';
import { Stats } from './stats.js';
import { sealDocument } from './document-signature.js';
import { drain } from './slices.js';
import { loadTrustKeys, type TrustKeys } from '../shared/signing.js';

export interface CheckReport {
  /** What was checked and found good, one line each. */
  ok: string[];
  /** Not fatal: the daemon starts, but an operator should know. */
  warnings: string[];
  /** Each one would stop the daemon from starting or serving correctly. */
  problems: string[];
}

/**
 * A check of the replica source. The file source's is below; the etcd source adds its own
 * here (connect with a short deadline, read the prefix with limit 1, report the revision, and
 * name the endpoint, TLS file or credential that failed) — return false when `opts` does not
 * configure that source.
 */
export type SourceCheck = (opts: DaemonOptions, report: CheckReport) => Promise<boolean>;

export const SOURCE_CHECKS: SourceCheck[] = [checkFileSource, checkEtcdSource];

/** The etcd source: TLS and password files readable, the prefix readable within a deadline. */
async function checkEtcdSource(opts: DaemonOptions, r: CheckReport): Promise<boolean> {
  const e = opts.etcd;
  if (e === undefined) return false;
  let settings;
  try {
    settings = etcdClientSettings(e);
  } catch (err) {
    r.problems.push((err as Error).message);
    return true;
  }
  const { Etcd3 } = await loadPeer('etcd3', () => import('etcd3'));
  const client = new Etcd3(etcd3Options(e.endpoints, settings));
  try {
    const res = await Promise.race([
      client.getAll().prefix(etcdKeyPrefix(e.prefix)).limit(1).exec(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000)),
    ]);
    r.ok.push(`etcd ${e.endpoints.join(',')}: prefix ${e.prefix} readable at revision ${res.header.revision}`);
  } catch (err) {
    // Unreachable etcd is not fatal: the daemon serves its cache (if any) and reconnects.
    const cache = opts.cacheDir ? await readCache(opts.cacheDir, e.prefix, opts.maxDocumentBytes) : undefined;
    const msg = `etcd ${e.endpoints.join(',')}: prefix ${e.prefix} not readable (${(err as Error).message})`;
    if (cache) r.warnings.push(`${msg}; qconfd would serve its cached replica (serial ${cache.serial}) as stale`);
    else r.warnings.push(`${msg}; qconfd would answer not_ready until etcd answers`);
  } finally {
    client.close();
  }
  return true;
}

function mode(path: string): string {
  try {
    return (statSync(path).mode & 0o777).toString(8).padStart(4, '0');
  } catch {
    return '?';
  }
}

function from(parsed: ParsedOptions, name: string): string {
  const s = parsed.sources[name];
  return s === 'env' ? ` (from QCONFD_${name.toUpperCase().replace(/-/g, '_')})` : '';
}

function checkKeys(parsed: ParsedOptions, r: CheckReport): void {
  const o = parsed.opts;
  if (!o.keyFile) {
    r.problems.push(KEY_FILE_REQUIRED);
  } else {
    try {
      const { keyring, warnings } = loadKeyring(o.keyFile);
      r.warnings.push(...warnings);
      const ids = keyring.keys.map((k) => k.idHex);
      r.ok.push(`key file ${o.keyFile}${from(parsed, 'key-file')}: ${ids.length} key${ids.length === 1 ? '' : 's'}, signing key id ${ids[0]}${ids.length > 1 ? `, also verifying ${ids.slice(1).join(' ')}` : ''}; mode ${mode(o.keyFile)}`);
    } catch (e) {
      r.problems.push((e as Error).message);
    }
  }
  if (o.ganetiKeyFile) {
    try {
      const { key, warnings } = readRawKeyFile(o.ganetiKeyFile);
      r.warnings.push(...warnings);
      r.ok.push(`Ganeti key file ${o.ganetiKeyFile}${from(parsed, 'ganeti-key-file')}: ${key.length} bytes; mode ${mode(o.ganetiKeyFile)}`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      r.problems.push(e instanceof QconfError ? e.message : `Ganeti key file ${o.ganetiKeyFile}: cannot be read (${code ?? (e as Error).message})`);
    }
  }
}

/** The trust file (--trust-key): readable, not writable by others, every line a public key. */
function checkTrust(parsed: ParsedOptions, r: CheckReport): void {
  const path = parsed.opts.trustKeyFile;
  if (path === undefined) return;
  try {
    const trust = loadTrustKeys(path);
    r.ok.push(`trust file ${path}${from(parsed, 'trust-key')}: ${trust.keys.map((k) => k.id).join(' ')}; mode ${mode(path)}`);
  } catch (e) {
    r.problems.push((e as Error).message);
  }
}

/** The access file: valid as a whole, or the member at fault named. */
function checkAccess(parsed: ParsedOptions, r: CheckReport): void {
  const path = parsed.opts.accessFile;
  if (path === undefined) return;
  try {
    const policy = new AccessPolicy(readAccessFile(path), new Stats());
    r.ok.push(`access file ${path}${from(parsed, 'access-file')}: ${policy.file.keys.size} keys named, ${policy.scopes.length} distinct scopes`);
    for (const line of policy.describe()) r.ok.push(`  access ${line}`);
  } catch (e) {
    r.problems.push((e as Error).message);
  }
}

/** The file source: the document parses and has a serial; a missing one is only a warning. */
async function checkFileSource(opts: DaemonOptions, r: CheckReport): Promise<boolean> {
  const path = opts.file;
  if (path === undefined) return false;
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') {
      r.problems.push(`document ${path}: cannot be read (${code})`);
      return true;
    }
    let dirOk = false;
    try {
      dirOk = statSync(dirname(path)).isDirectory();
    } catch {
      /* reported below */
    }
    r.warnings.push(
      `document ${path} does not exist yet: qconfd will start, answer not_ready and load it when it appears` +
        (dirOk ? '' : ` (its directory ${dirname(path)} is missing too: qconfd will poll for it)`),
    );
    return true;
  }
  try {
    // The daemon's own read: a regular file only (checked on the open file), at most
    // --max-document-bytes, nested at most MAX_DOCUMENT_DEPTH deep.
    const { doc, serial } = await readDocument(path, false, opts.maxDocumentBytes);
    r.ok.push(`document ${path}: serial ${serial}, ${st.size} bytes`);
    // With --trust-key, the signature the daemon would check (a refusal is a problem, as at start).
    let trust: TrustKeys | undefined;
    try {
      trust = opts.trustKeyFile === undefined ? undefined : loadTrustKeys(opts.trustKeyFile);
    } catch {
      /* reported with the trust file */
    }
    if (trust !== undefined) {
      const sealed = drain(sealDocument(doc, serial, trust, path));
      r.ok.push(`document ${path}: signed by ${sealed.signed?.signed.key}, serial ${sealed.serial}, valid until ${new Date(sealed.signed?.signed.expires ?? 0).toISOString()}`);
    }
    if (opts.ganetiKeyFile) {
      const view = buildGanetiView(doc);
      if (view instanceof GanetiLoadError) r.problems.push(`document ${path}: not usable as a Ganeti config.data: ${view.message}`);
      else {
        view.inst.get(); // the daemon makes the instance indexes after its first answer; made here too
        r.ok.push(`document ${path}: loads as a Ganeti configuration (for --ganeti-key-file)`);
      }
    }
  } catch (e) {
    r.problems.push(redactDocumentMessage(e instanceof QconfError ? `document ${e.message}` : `document ${path}: ${(e as Error).message}`));
  }
  return true;
}

async function checkSource(opts: DaemonOptions, r: CheckReport): Promise<void> {
  for (const check of SOURCE_CHECKS) if (await check(opts, r)) return;
  r.warnings.push('no document source (--file or --etcd): qconfd will answer not_ready to every query');
}

/** Try to bind a port the way the daemon will; in use is a warning (the daemon itself may hold it). */
function probeUdp(port: number, bind: string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    const address = bind ?? '::';
    const type = address.includes(':') ? 'udp6' : 'udp4';
    const s = dgram.createSocket({ type, ipv6Only: false });
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.close();
      if (bind === undefined && type === 'udp6' && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL' || err.code === 'EINVAL')) {
        resolve(probeUdp(port, '0.0.0.0'));
      } else resolve(err.code ?? err.message);
    });
    s.bind({ port, address, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

function probeTcp(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

/** Probe only what was asked for: a bad --port or --bind is a problem already, not probed. */
async function checkPorts(parsed: ParsedOptions, r: CheckReport): Promise<void> {
  const o = parsed.opts;
  const where = `${o.bind ?? '::'} UDP port ${o.port}`;
  if (o.port !== 0 && !parsed.invalid.has('port') && !parsed.invalid.has('bind')) {
    const err = await probeUdp(o.port, o.bind);
    if (err === 'EADDRINUSE') r.warnings.push(`${where} is in use now, by ${udpPortHolder(o.port) ?? 'a running qconfd, or ganeti-confd on a Ganeti node?'}`);
    else if (err === 'EACCES') r.problems.push(`${where}: permission denied (ports below 1024 need privileges qconfd does not have)`);
    else if (err !== undefined) r.problems.push(`${where}: cannot bind (${err})`);
  }
  const m = o.metricsListen;
  if (m && m.port !== 0) {
    const err = await probeTcp(m.port, m.host);
    if (err === 'EADDRINUSE') r.warnings.push(`metrics address ${m.host}:${m.port} is in use now`);
    else if (err !== undefined) r.problems.push(`--metrics-listen ${m.host}:${m.port}: cannot listen (${err})`);
  }
}

export async function runCheck(parsed: ParsedOptions): Promise<CheckReport> {
  const r: CheckReport = { ok: [], warnings: [], problems: [...parsed.problems] };
  const o = parsed.opts;
  const m = o.metricsListen;
  // Only what is good: a bad value (a problem below) is not shown as its default.
  const good: Array<[string, string]> = [
    ['port', `port ${o.port}`],
    ['bind', `bind ${o.bind ?? ':: (dual-stack)'}`],
    ['node-name', `node ${o.nodeName}`],
    ['log-level', `log level ${o.logLevel}`],
    ['metrics-listen', `metrics ${m ? `http://${m.host.includes(':') ? `[${m.host}]` : m.host}:${m.port}/metrics` : 'off'}`],
    ['require-seal', `sealing ${o.requireSeal ? 'required' : 'optional'}`],
  ];
  const shown = good.filter(([name]) => !parsed.invalid.has(name)).map(([, text]) => text);
  if (shown.length > 0) r.ok.push(`options: ${shown.join(', ')}`);
  checkKeys(parsed, r);
  checkAccess(parsed, r);
  checkTrust(parsed, r);
  await checkSource(o, r);
  await checkPorts(parsed, r);
  return r;
}

/** Print the report; returns the exit code (0 fine, 1 problems). */
export function printCheck(r: CheckReport, out: (s: string) => void, err: (s: string) => void): number {
  for (const l of r.ok) out(`  ok: ${l}\n`);
  for (const l of r.warnings) out(`  warning: ${l}\n`);
  for (const l of r.problems) err(`  problem: ${l}\n`);
  if (r.problems.length === 0) {
    out(`qconfd --check: ok${r.warnings.length ? ` (${r.warnings.length} warning${r.warnings.length === 1 ? '' : 's'})` : ''}\n`);
    return 0;
  }
  err(`qconfd --check: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}\n`);
  return 1;
}
