// qconfd and `qconf publish` against a real etcd that wants TLS (server certificate, then client
// certificates too) or password authentication: the --etcd-ca/--etcd-cert/--etcd-key and
// --etcd-user/--etcd-password-file flags are used, a daemon without the right ones gets no
// data, `qconfd --check` names the endpoint it could not read, and bad flag combinations are
// refused with exit 2. Certificates are made at test time with openssl in a temp dir (a
// throwaway CA, a server certificate for IP:127.0.0.1, a client certificate, and a second,
// unrelated CA); no key material is committed. Everything listens on 127.0.0.1 only.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { TestDaemon, runCli } from '../../testkit/daemons.js';
import { DAEMON_JS } from '../../testkit/paths.js';
import { KEY_A, tempDir, writeAtomic, writeKeyFile } from '../../testkit/fixtures.js';
import { spawnTracked, stopProcess } from '../../testkit/processes.js';
import { type EtcdCluster } from '../../testkit/etcd/cluster.js';
import { trackEach } from '../support/tracked.js';
import { untilValue } from '../support/until.js';

const PREFIX = '/qconf/test';
const ROOT_PW = 'r00t-Secret';
const READER_PW = 'reader-Secret';

const owned = trackEach();
/** This test's daemons (released after it). */
const daemons = owned.daemons;

// ---------------------------------------------------------------------------------------------
// certificates (openssl, at test time)

interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second CA that signed nothing etcd uses: trusting it must not let a client in. */
  otherCa: string;
  /** A client certificate signed by the other CA (rejected by etcd's --client-cert-auth). */
  otherClientCert: string;
  otherClientKey: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (e) {
    const err = e as Error & { stderr?: Buffer };
    throw new Error(`openssl ${args.join(' ')} failed (is openssl installed? test/install-deps.sh): ${err.message}\n${err.stderr?.toString() ?? ''}`);
  }
}

const serial = (): string => `0x${Math.floor(Math.random() * 2 ** 48).toString(16)}`;

/** P-256 key + certificate `name` signed by `ca` (or self-signed when ca is undefined). */
function issue(dir: string, name: string, subject: string, ext: string[], ca?: string): { cert: string; key: string } {
  const key = join(dir, `${name}-key.pem`);
  const cert = join(dir, `${name}.pem`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext.join('\n') + '\n');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], dir);
  openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr], dir);
  const signer = ca ? ['-CA', join(dir, `${ca}.pem`), '-CAkey', join(dir, `${ca}-key.pem`)] : ['-signkey', key];
  openssl(['x509', '-req', '-in', csr, ...signer, '-extfile', extFile, '-days', '2', '-set_serial', serial(), '-out', cert], dir);
  return { cert, key };
}

let pkiMemo: Pki | undefined;
/** Made on first use inside a test, so a missing openssl FAILS the tests instead of skipping them. */
function pki(): Pki {
  if (pkiMemo) return pkiMemo;
  const dir = join(tempDir('qconf-pki-'), 'pki');
  mkdirSync(dir, { mode: 0o700 });
  const caExt = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash'];
  const ca = issue(dir, 'ca', '/CN=qconf test CA', caExt);
  const server = issue(dir, 'server', '/CN=127.0.0.1', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1',
    'authorityKeyIdentifier=keyid',
  ], 'ca');
  const clientExt = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth', 'authorityKeyIdentifier=keyid'];
  const client = issue(dir, 'client', '/CN=qconf-client', clientExt, 'ca');
  const other = issue(dir, 'other-ca', '/CN=some other CA', caExt);
  const otherClient = issue(dir, 'other-client', '/CN=qconf-client', clientExt, 'other-ca');
  pkiMemo = {
    dir,
    ca: ca.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    otherCa: other.cert,
    otherClientCert: otherClient.cert,
    otherClientKey: otherClient.key,
  };
  return pkiMemo;
}

// ---------------------------------------------------------------------------------------------
// daemons and probes

function etcdDaemon(endpoints: string[], extra: string[] = []): TestDaemon {
  const d = new TestDaemon({ noFile: true, args: ['--etcd', endpoints.join(','), '--etcd-prefix', PREFIX, ...extra] });
  daemons.push(d);
  return d;
}

function clientFor(d: TestDaemon): ConfdClient {
  return owned.client([d.peer], { retransmitMs: 100 });
}

interface State {
  serial: number;
  doc: unknown;
  error: string | undefined;
  stale: boolean;
}

async function stateOf(d: TestDaemon): Promise<State> {
  const c = clientFor(d);
  const [g, p] = await Promise.all([c.get('', { timeoutMs: 2000 }), c.ping({ timeoutMs: 2000 })]);
  return { serial: g.serial, doc: g.answer, error: g.error?.code, stale: (p.answer as { stale?: boolean } | undefined)?.stale ?? true };
}

const fresh = (doc: unknown, rev?: number) => (s: State) => !s.stale && JSON.stringify(s.doc) === JSON.stringify(doc) && (rev === undefined || s.serial === rev);

/**
 * A daemon that cannot read etcd: it has logged a failed read (so it really tried, and the
 * data was already in etcd), and it answers not_ready, marked stale. The callers check it after
 * a correctly configured daemon on the same etcd got the data, so "no data" is not "not yet".
 */
async function expectNoData(d: TestDaemon, errorPattern?: RegExp): Promise<void> {
  const first = await d.waitForLog((l) => l.event === 'etcd_unreachable', 30_000);
  if (errorPattern) expect(String(first.msg)).toMatch(errorPattern);
  const s = await stateOf(d);
  expect(s.error, `${d.nodeName}: ${JSON.stringify(s)}\n${d.output.slice(-3000)}`).toBe('not_ready');
  expect(s.stale, `${d.nodeName}: ${JSON.stringify(s)}\n${d.output.slice(-3000)}`).toBe(true);
}

const cliEnv = (ds: TestDaemon[]) => ({ QCONF_PEERS: ds.map((d) => d.peer).join(','), QCONF_KEY_FILE: ds[0].keyFile });

/** `qconf publish FILE --etcd ... --etcd-prefix PREFIX EXTRA`. */
async function publish(doc: object, endpoints: string[], extra: string[]) {
  const file = join(tempDir(), 'doc.json');
  writeAtomic(file, doc);
  return runCli(['publish', file, '--etcd', endpoints.join(','), '--etcd-prefix', PREFIX, ...extra]);
}

/** Runs `qconfd ARGS` to completion (for --check and for flag errors); kills it after `timeoutMs`. */
async function qconfdOnce(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const keyFile = writeKeyFile(tempDir(), [KEY_A]);
  const child = spawnTracked(process.execPath, [DAEMON_JS, '--key-file', keyFile, '--port', '0', ...args], { env: { ...process.env } });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
  clearTimeout(timer);
  if (timedOut) {
    await stopProcess(child, 'SIGKILL');
    throw new Error(`qconfd ${args.join(' ')} still running after ${timeoutMs} ms\n${stdout}\n${stderr}`);
  }
  return { code: await exited, stdout, stderr };
}

const checkArgs = (endpoint: string, extra: string[]) => ['--check', '--etcd', endpoint, '--etcd-prefix', PREFIX, ...extra];
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function writeSecret(text: string): string {
  const p = join(tempDir(), 'etcd-password');
  writeFileSync(p, text, { mode: 0o600 });
  return p;
}

// ---------------------------------------------------------------------------------------------

describe('etcd over TLS', () => {
  it('server TLS: --etcd-ca reads, watches and publishes; no CA or a wrong CA gets nothing; --check warns naming the endpoint', async () => {
    const k = pki();
    const t0 = Date.now();
    const cluster = await owned.etcd({ tls: { certFile: k.serverCert, keyFile: k.serverKey, caFile: k.ca } });
    console.log(`[timing] TLS etcd healthy in ${Date.now() - t0} ms`);
    const ep = cluster.endpoints;
    expect(ep[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    await cluster.etcdctl(['put', `${PREFIX}/cluster/master`, '"n1"']);

    const good = etcdDaemon(ep, ['--etcd-ca', k.ca]);
    const noCa = etcdDaemon(ep);
    const wrongCa = etcdDaemon(ep, ['--etcd-ca', k.otherCa]);
    await Promise.all([good, noCa, wrongCa].map((d) => d.start()));
    const rev0 = await cluster.revision();
    await untilValue(() => stateOf(good), fresh({ cluster: { master: 'n1' } }, rev0), 'TLS daemon reads the prefix');

    // publish over TLS; every serial it prints is one the daemon reaches.
    const pub = await publish({ cluster: { master: 'n2', name: 'c1' }, nodes: { n1: { ip: '10.0.0.1' } } }, ep, ['--etcd-ca', k.ca]);
    expect(pub.code, pub.stderr).toBe(0);
    const serial1 = Number(pub.stdout.trim());
    expect(serial1).toBe(await cluster.revision());
    const w = await runCli(['wait', '--serial', String(serial1), '--timeout', '30000'], cliEnv([good]));
    expect(w.code, w.stderr + w.stdout).toBe(0);
    const whole = await runCli(['get', '', '--strict'], cliEnv([good]));
    expect(JSON.parse(whole.stdout)).toEqual({ cluster: { master: 'n2', name: 'c1' }, nodes: { n1: { ip: '10.0.0.1' } } });

    // The watch runs over TLS too: a change made with etcdctl arrives.
    await cluster.etcdctl(['put', `${PREFIX}/nodes/n1/ip`, '"10.0.0.9"']);
    const rev = await cluster.revision();
    await untilValue(() => stateOf(good), fresh({ cluster: { master: 'n2', name: 'c1' }, nodes: { n1: { ip: '10.0.0.9' } } }, rev), 'watched change');

    // Without the CA (system roots) or with an unrelated CA: the server certificate is not trusted.
    await expectNoData(noCa);
    await expectNoData(wrongCa);
    for (const d of [noCa, wrongCa]) expect(d.logLines().filter((l) => l.event === 'etcd_state' && l.state === 'connected')).toEqual([]);

    // publish without the right CA fails (exit 4) and changes nothing.
    for (const extra of [[], ['--etcd-ca', k.otherCa]]) {
      const bad = await publish({ cluster: { master: 'evil' } }, ep, extra);
      expect(bad.code, `${extra.join(' ')}: ${bad.stdout}${bad.stderr}`).toBe(4);
      expect(bad.stderr).toMatch(/etcd/);
    }
    expect(await cluster.revision()).toBe(rev);

    // --check: ok with the CA, a warning naming the endpoint without it (still exit 0: etcd
    // being unreachable does not stop qconfd from starting).
    const ok = await qconfdOnce(checkArgs(ep[0], ['--etcd-ca', k.ca]));
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`ok: etcd ${re(ep[0])}: prefix ${re(PREFIX)} readable at revision ${rev}`));
    for (const extra of [[], ['--etcd-ca', k.otherCa]]) {
      const c = await qconfdOnce(checkArgs(ep[0], extra));
      expect(c.code, c.stdout + c.stderr).toBe(0);
      expect(c.stdout).toMatch(new RegExp(`warning: etcd ${re(ep[0])}: prefix ${re(PREFIX)} not readable \\(.+\\); qconfd would answer not_ready`));
      expect(c.stdout).not.toMatch(/ok: etcd/);
    }
  });

  it('client-cert-auth: --etcd-cert/--etcd-key get in, the CA alone or a foreign client certificate does not', async () => {
    const k = pki();
    const cluster = await owned.etcd({
      tls: { certFile: k.serverCert, keyFile: k.serverKey, caFile: k.ca, clientCertAuth: true, clientCertFile: k.clientCert, clientKeyFile: k.clientKey },
    });
    const ep = cluster.endpoints;
    await cluster.etcdctl(['put', `${PREFIX}/v`, '1']);
    const mtls = ['--etcd-ca', k.ca, '--etcd-cert', k.clientCert, '--etcd-key', k.clientKey];

    const good = etcdDaemon(ep, mtls);
    const caOnly = etcdDaemon(ep, ['--etcd-ca', k.ca]);
    const foreign = etcdDaemon(ep, ['--etcd-ca', k.ca, '--etcd-cert', k.otherClientCert, '--etcd-key', k.otherClientKey]);
    await Promise.all([good, caOnly, foreign].map((d) => d.start()));
    await untilValue(() => stateOf(good), fresh({ v: 1 }, await cluster.revision()), 'mTLS daemon reads the prefix');

    const pub = await publish({ v: 2, w: { x: true } }, ep, mtls);
    expect(pub.code, pub.stderr).toBe(0);
    const serial1 = Number(pub.stdout.trim());
    const w = await runCli(['wait', '--serial', String(serial1), '--timeout', '30000'], cliEnv([good]));
    expect(w.code, w.stderr + w.stdout).toBe(0);
    await untilValue(() => stateOf(good), fresh({ v: 2, w: { x: true } }, serial1), 'published document');

    await expectNoData(caOnly);
    await expectNoData(foreign);
    for (const d of [caOnly, foreign]) expect(d.logLines().filter((l) => l.event === 'etcd_state' && l.state === 'connected')).toEqual([]);

    const bad = await publish({ v: 3 }, ep, ['--etcd-ca', k.ca]);
    expect(bad.code, bad.stdout + bad.stderr).toBe(4);
    expect(await cluster.revision()).toBe(serial1);

    const ok = await qconfdOnce(checkArgs(ep[0], mtls));
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`ok: etcd ${re(ep[0])}: prefix ${re(PREFIX)} readable at revision ${serial1}`));
    const warn = await qconfdOnce(checkArgs(ep[0], ['--etcd-ca', k.ca]));
    expect(warn.code, warn.stdout + warn.stderr).toBe(0);
    expect(warn.stdout).toMatch(new RegExp(`warning: etcd ${re(ep[0])}: prefix ${re(PREFIX)} not readable`));
  });
});

/**
 * Users root and qconfd (role reader: read on /qconf/), then `auth enable`; etcdctl goes on as
 * root. With `grantReader: false` qconfd exists but holds no role yet (every read is denied).
 */
async function enableAuth(c: EtcdCluster, { grantReader = true } = {}): Promise<void> {
  await c.etcdctl(['user', 'add', `root:${ROOT_PW}`]);
  await c.etcdctl(['user', 'add', `qconfd:${READER_PW}`]);
  await c.etcdctl(['role', 'add', 'reader']);
  await c.etcdctl(['role', 'grant-permission', 'reader', 'read', '--prefix=true', '/qconf/']);
  if (grantReader) await c.etcdctl(['user', 'grant-role', 'qconfd', 'reader']);
  await c.etcdctl(['auth', 'enable']);
  c.setEtcdctlUser(`root:${ROOT_PW}`);
  // Auth really is on: anonymous requests are refused now.
  c.setEtcdctlUser(undefined);
  await expect(c.etcdctl(['get', `${PREFIX}/x`])).rejects.toThrow(/user name is empty|permission denied/);
  c.setEtcdctlUser(`root:${ROOT_PW}`);
}

describe('etcd with authentication', () => {
  it('--etcd-user/--etcd-password-file read and follow the prefix; a wrong password gets nothing; publish as root', async () => {
    const cluster = await owned.etcd();
    const ep = cluster.endpoints;
    await enableAuth(cluster);
    await cluster.etcdctl(['put', `${PREFIX}/cluster/master`, '"n1"']);

    const reader = ['--etcd-user', 'qconfd', '--etcd-password-file', writeSecret(`${READER_PW}\n`)]; // trailing newline is not part of it
    const good = etcdDaemon(ep, reader);
    const wrong = etcdDaemon(ep, ['--etcd-user', 'qconfd', '--etcd-password-file', writeSecret('not-the-password\n')]);
    await Promise.all([good, wrong].map((d) => d.start()));
    await untilValue(() => stateOf(good), fresh({ cluster: { master: 'n1' } }, await cluster.revision()), 'authenticated daemon reads the prefix');

    // Changes made by root (etcdctl) reach the read-only user's watch.
    await cluster.etcdctl(['put', `${PREFIX}/cluster/name`, '"c1"']);
    await cluster.etcdctl(['del', `${PREFIX}/cluster/master`]);
    const rev = await cluster.revision();
    await untilValue(() => stateOf(good), fresh({ cluster: { name: 'c1' } }, rev), 'root changes seen');

    // publish with root's credentials; the daemon follows.
    const rootCreds = ['--etcd-user', 'root', '--etcd-password-file', writeSecret(ROOT_PW)];
    const pub = await publish({ cluster: { master: 'n3', name: 'c1' } }, ep, rootCreds);
    expect(pub.code, pub.stderr).toBe(0);
    const serial1 = Number(pub.stdout.trim());
    expect(serial1).toBe(await cluster.revision());
    const w = await runCli(['wait', '--serial', String(serial1), '--timeout', '30000'], cliEnv([good]));
    expect(w.code, w.stderr + w.stdout).toBe(0);
    await untilValue(() => stateOf(good), fresh({ cluster: { master: 'n3', name: 'c1' } }, serial1), 'published document');

    await expectNoData(wrong, /authentication failed/);
    expect(wrong.logLines().filter((l) => l.event === 'etcd_state' && l.state === 'connected')).toEqual([]);

    // publish as the read-only user, with a wrong password, or anonymously: refused, nothing written.
    for (const extra of [reader, ['--etcd-user', 'root', '--etcd-password-file', writeSecret('nope')], []]) {
      const bad = await publish({ cluster: { master: 'evil' } }, ep, extra);
      expect(bad.code, `${extra.join(' ')}: ${bad.stdout}${bad.stderr}`).toBe(4);
      expect(bad.stderr).toMatch(/etcd/);
    }
    expect(await cluster.revision()).toBe(serial1);

    const ok = await qconfdOnce(checkArgs(ep[0], reader));
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`ok: etcd ${re(ep[0])}: prefix ${re(PREFIX)} readable at revision ${serial1}`));
    const warn = await qconfdOnce(checkArgs(ep[0], ['--etcd-user', 'qconfd', '--etcd-password-file', writeSecret('nope')]));
    expect(warn.code, warn.stdout + warn.stderr).toBe(0);
    expect(warn.stdout).toMatch(new RegExp(`warning: etcd ${re(ep[0])}: prefix ${re(PREFIX)} not readable \\(.*authentication failed`));
    // The password never appears in what --check prints.
    expect(ok.stdout + ok.stderr + warn.stdout + warn.stderr).not.toContain(READER_PW);
  });

  it('a daemon without credentials gets no data', async () => {
    const cluster = await owned.etcd();
    await enableAuth(cluster);
    await cluster.etcdctl(['put', `${PREFIX}/v`, '1']);
    const anonymous = etcdDaemon(cluster.endpoints);
    await anonymous.start();
    await expectNoData(anonymous, /user name is empty/);
  });

  it('keeps retrying a read that etcd refuses: a user granted read permission later gets the data', async () => {
    const cluster = await owned.etcd();
    await enableAuth(cluster, { grantReader: false });
    await cluster.etcdctl(['put', `${PREFIX}/v`, '1']);
    const d = etcdDaemon(cluster.endpoints, ['--etcd-user', 'qconfd', '--etcd-password-file', writeSecret(READER_PW)]);
    await d.start();
    await expectNoData(d, /permission denied/);
    await cluster.etcdctl(['user', 'grant-role', 'qconfd', 'reader']);
    // The README: it "reconnects with backoff (0.25 s doubling to 5 s), re-reading the prefix".
    await untilValue(() => stateOf(d), fresh({ v: 1 }, await cluster.revision()), 'read after the role was granted', 30_000).catch((e: Error) => {
      const failures = d.logLines().filter((l) => l.event === 'etcd_unreachable').length;
      throw new Error(`${e.message}\n(${failures} failed read(s) logged; daemon log tail:)\n${d.output.slice(-3000)}`);
    });
  });

  it('a daemon serving its cache while etcd refuses its reads reports the replica stale', async () => {
    const cluster = await owned.etcd();
    await enableAuth(cluster);
    await cluster.etcdctl(['put', `${PREFIX}/v`, '"cached"']);
    // A daemon with credentials fills the snapshot cache ...
    const cacheDir = tempDir();
    const good = etcdDaemon(cluster.endpoints, ['--etcd-user', 'qconfd', '--etcd-password-file', writeSecret(READER_PW), '--cache-dir', cacheDir]);
    await good.start();
    await untilValue(() => stateOf(good), fresh({ v: 'cached' }, await cluster.revision()), 'authenticated daemon reads the prefix');
    await good.waitForLog((l) => l.event === 'cache_written', 30_000);
    await good.stop();
    // ... then one WITHOUT credentials serves that cache. etcd refuses its reads ("user name is
    // empty") while still answering its status probe: its replica is not being kept up to date,
    // so it must keep saying stale, and it does not see a change.
    const cached = etcdDaemon(cluster.endpoints, ['--cache-dir', cacheDir]);
    await cached.start();
    await cached.waitForLog((l) => l.event === 'etcd_unreachable', 30_000);
    await cluster.etcdctl(['put', `${PREFIX}/v`, '"changed"']);
    const samples: State[] = [];
    for (const end = Date.now() + 6000; Date.now() < end; ) {
      samples.push(await stateOf(cached));
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const s of samples) expect(s.doc).toEqual({ v: 'cached' });
    const staleFlags = samples.map((s) => s.stale).join(' ');
    expect(samples.every((s) => s.stale), `stale flag of ${samples.length} pings over 6 s: ${staleFlags}\n${cached.output.slice(-2000)}`).toBe(true);
  });

  it('TLS and authentication together', async () => {
    const k = pki();
    const cluster = await owned.etcd({ tls: { certFile: k.serverCert, keyFile: k.serverKey, caFile: k.ca } });
    const ep = cluster.endpoints;
    await enableAuth(cluster);
    const both = ['--etcd-ca', k.ca, '--etcd-user', 'qconfd', '--etcd-password-file', writeSecret(READER_PW)];
    const d = etcdDaemon(ep, both);
    await d.start();
    const pub = await publish({ a: { b: 1 } }, ep, ['--etcd-ca', k.ca, '--etcd-user', 'root', '--etcd-password-file', writeSecret(ROOT_PW)]);
    expect(pub.code, pub.stderr).toBe(0);
    const serial1 = Number(pub.stdout.trim());
    const w = await runCli(['wait', '--serial', String(serial1), '--timeout', '30000'], cliEnv([d]));
    expect(w.code, w.stderr + w.stdout).toBe(0);
    await untilValue(() => stateOf(d), fresh({ a: { b: 1 } }, serial1), 'TLS + auth daemon follows');
  });
});

describe('bad TLS and credential flags', () => {
  it('qconfd and qconf publish refuse them with exit 2 and a message naming the flag', async () => {
    const k = pki();
    const ep = 'https://127.0.0.1:1'; // never contacted: the flags are refused first
    const pw = writeSecret('pw');
    const cases: Array<{ args: string[]; message: RegExp }> = [
      { args: ['--etcd-ca', k.ca, '--etcd-cert', k.clientCert], message: /--etcd-cert and --etcd-key go together/ },
      { args: ['--etcd-ca', k.ca, '--etcd-key', k.clientKey], message: /--etcd-cert and --etcd-key go together/ },
      { args: ['--etcd-cert', k.clientCert, '--etcd-key', k.clientKey], message: /--etcd-ca is required with --etcd-cert\/--etcd-key/ },
      { args: ['--etcd-user', 'qconfd'], message: /--etcd-user and --etcd-password-file go together/ },
      { args: ['--etcd-password-file', pw], message: /--etcd-user and --etcd-password-file go together/ },
      { args: ['--etcd-ca', join(k.dir, 'missing-ca.pem')], message: new RegExp(`--etcd-ca ${re(join(k.dir, 'missing-ca.pem'))}: cannot be read \\(ENOENT\\)`) },
      { args: ['--etcd-ca', k.dir], message: new RegExp(`--etcd-ca ${re(k.dir)}: cannot be read \\(EISDIR\\)`) },
      { args: ['--etcd-ca', k.ca, '--etcd-cert', k.clientCert, '--etcd-key', join(k.dir, 'nope.pem')], message: /--etcd-key .*nope\.pem: cannot be read \(ENOENT\)/ },
      { args: ['--etcd-user', 'qconfd', '--etcd-password-file', join(k.dir, 'nope')], message: /--etcd-password-file .*nope: cannot be read \(ENOENT\)/ },
    ];
    for (const { args, message } of cases) {
      const d = new TestDaemon({ noFile: true, waitReady: false, args: ['--etcd', ep, '--etcd-prefix', PREFIX, ...args] });
      daemons.push(d);
      await d.start();
      const r = await d.exited;
      expect(r.code, `qconfd ${args.join(' ')}:\n${d.output}`).toBe(2);
      expect(d.output, args.join(' ')).toMatch(message);
      // --check names the same problem (exit 1: a problem, not a usage error).
      const c = await qconfdOnce(checkArgs(ep, args));
      expect(c.code, `--check ${args.join(' ')}:\n${c.stdout}${c.stderr}`).toBe(1);
      expect(c.stderr).toMatch(new RegExp(`problem: .*${message.source}`));
      const p = await publish({ a: 1 }, [ep], args);
      expect(p.code, `publish ${args.join(' ')}:\n${p.stdout}${p.stderr}`).toBe(2);
      expect(p.stderr, args.join(' ')).toMatch(message);
    }
  });
});
