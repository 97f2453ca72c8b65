/**
 * Test harness that runs REAL etcd servers (Debian's etcd-server 3.4.x, installed by
 * test/etcd/install-etcd.sh) as child processes on free loopback ports.
 *
 * Node built-ins only, so it can be used from any test without pulling in the etcd3 client.
 *
 *   const cluster = await startEtcd({ clusterSize: 3 });
 *   cluster.endpoints;              // ['http://127.0.0.1:41234', ...] (client URLs, all members)
 *   cluster.memberEndpoints(1);     // ['http://127.0.0.1:41236'] (client URL of member 1 only)
 *   await cluster.etcdctl(['put', '/k', 'v'], 1);   // through member 1; resolves to stdout
 *   await cluster.stopMember(0);    // SIGTERM (SIGKILL after a grace period)
 *   await cluster.startMember(0);   // same data dir, same ports; resolves when healthy again
 *   await cluster.compact(rev);     // etcdctl compaction --physical
 *   await cluster.stop();           // kills everything, removes the temp data dir
 *
 * TLS on the client URLs (peer URLs stay plain http on loopback):
 *
 *   const c = await startEtcd({ tls: { certFile, keyFile, caFile, clientCertAuth: true, clientCertFile, clientKeyFile } });
 *   c.endpoints;                    // ['https://127.0.0.1:41234']; etcdctl and /health use the CA (and client cert)
 *
 * After `auth enable`, tell the harness the credentials etcdctl must use from then on:
 *
 *   c.setEtcdctlUser('root:PASS');  // or startEtcd({ etcdctlUser: 'root:PASS' }) for a data dir with auth on
 *
 * Every member runs in its own process group (spawn `detached`) and, where util-linux's
 * `setpriv` exists, with a parent-death signal, so nothing outlives the test process: groups
 * are killed on stop(), on process 'exit' and on SIGINT/SIGTERM/SIGHUP.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, type WriteStream } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface StartEtcdOptions {
  /** Cluster name; used for member names (`NAME-0`, ...), the cluster token and the temp dir. */
  name?: string;
  /**
   * Base directory for member data dirs (`<dataDir>/member-<i>`) and logs. When given it is
   * created if needed and NOT removed by stop(); otherwise a temp dir is made (under /dev/shm
   * when writable, for cheap fsyncs) and removed by stop().
   */
  dataDir?: string;
  /** Number of members, 1 (default) to 5. Stopping one member and keeping quorum needs 3. */
  clusterSize?: number;
  /** Deadline for the cluster (or a restarted member) to report healthy. Default 30 000 ms. */
  startTimeoutMs?: number;
  /** Raft heartbeat interval (ms). Default 100 (etcd default). */
  heartbeatIntervalMs?: number;
  /** Raft election timeout (ms). Default 1000 (etcd default). */
  electionTimeoutMs?: number;
  /** Extra command-line flags for every member. */
  extraArgs?: string[];
  /** Serve the client URLs over TLS (https://127.0.0.1:PORT). Default: plain http. */
  tls?: EtcdTlsOptions;
  /**
   * `NAME:PASSWORD` passed as `--user` to every etcdctl call (for a cluster with auth enabled).
   * Can be changed later with `setEtcdctlUser`. etcdctl ignores it while auth is still off.
   */
  etcdctlUser?: string;
}

/** TLS for the client URLs. All files are PEM; the harness only passes their paths on. */
export interface EtcdTlsOptions {
  /** Server certificate (`--cert-file`); it must be valid for IP 127.0.0.1 (subjectAltName). */
  certFile: string;
  /** Server private key (`--key-file`). */
  keyFile: string;
  /**
   * CA that signed the server certificate: etcdctl and the health probe trust it. With
   * `clientCertAuth` it is also etcd's `--trusted-ca-file`, which client certificates must
   * chain to. (etcd 3.4 demands a client certificate whenever `--trusted-ca-file` is given,
   * so the harness passes it only together with `--client-cert-auth`.)
   */
  caFile: string;
  /** `--client-cert-auth --trusted-ca-file=caFile`: every client must present a certificate. */
  clientCertAuth?: boolean;
  /** Client certificate and key for etcdctl and the health probe; required with `clientCertAuth`. */
  clientCertFile?: string;
  clientKeyFile?: string;
}

export interface EtcdMember {
  readonly index: number;
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** PID of the running etcd process, or null while stopped. */
  readonly pid: number | null;
  readonly running: boolean;
}

export interface StopMemberOptions {
  /** Signal sent first. Default SIGTERM (graceful: a leader hands off leadership). */
  signal?: NodeJS.Signals;
  /** After this long the process group gets SIGKILL. Default 10 000 ms. */
  graceMs?: number;
}

export interface EtcdCluster {
  readonly name: string;
  /** Base dir holding `member-<i>` data dirs and `member-<i>.log` logs. */
  readonly baseDir: string;
  readonly members: readonly EtcdMember[];
  /** Client URLs of all members (running or not), e.g. for `new Etcd3({ hosts: endpoints })`. */
  readonly endpoints: string[];
  /** Client URL(s) of member i only. */
  memberEndpoints(i: number): string[];
  stopMember(i: number, opts?: StopMemberOptions): Promise<void>;
  /** Restarts member i with the SAME data dir and ports; resolves when it reports healthy. */
  startMember(i: number): Promise<void>;
  /**
   * Runs `etcdctl --endpoints=... ARGS` (API v3) against member i or all members; resolves to
   * stdout. With `tls` it passes `--cacert` (and `--cert`/`--key`), with a user `--user`.
   */
  etcdctl(args: string[], member?: number): Promise<string>;
  /** `NAME:PASSWORD` for every later etcdctl call (after `auth enable`), or undefined for none. */
  setEtcdctlUser(user: string | undefined): void;
  /** Compacts the key-value history up to `revision` (physically). Older revisions become unreadable. */
  compact(revision: number | string | bigint): Promise<void>;
  /** Current store revision as reported by member i (or any member), via `endpoint status`. */
  revision(member?: number): Promise<number>;
  /** Resolves when member i (or every running member) reports healthy on /health. */
  waitHealthy(member?: number, timeoutMs?: number): Promise<void>;
  /** Last lines of member i's log (all starts of that member). */
  logTail(i: number, lines?: number): string;
  /** Stops every member (SIGKILL to each group) and removes the temp dir unless `dataDir` was given. */
  stop(): Promise<void>;
}

export const INSTALL_HINT = 'run `bash test/etcd/install-etcd.sh` (apt-get install etcd-server etcd-client) first';

const DEFAULT_START_TIMEOUT_MS = 30_000;
const LOG_TAIL_BYTES = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// binaries

function findOnPath(bin: string): string | null {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const d of [...dirs, '/usr/bin', '/usr/local/bin', '/usr/sbin']) {
    const p = join(d, bin);
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  return null;
}

function checkExecutable(p: string, envName: string): string {
  try {
    accessSync(p, fsConstants.X_OK);
  } catch {
    throw new Error(`${envName}=${p} is not an executable file: ${INSTALL_HINT}`);
  }
  return p;
}

/** Absolute path of the etcd binary (env QCONF_ETCD_BIN overrides); throws with an install hint. */
export function etcdBinary(): string {
  const fromEnv = process.env.QCONF_ETCD_BIN;
  if (fromEnv) return checkExecutable(fromEnv, 'QCONF_ETCD_BIN');
  const p = findOnPath('etcd');
  if (!p) throw new Error(`etcd binary not found on PATH: ${INSTALL_HINT}`);
  return p;
}

/** Absolute path of the etcdctl binary (env QCONF_ETCDCTL_BIN overrides); throws with an install hint. */
export function etcdctlBinary(): string {
  const fromEnv = process.env.QCONF_ETCDCTL_BIN;
  if (fromEnv) return checkExecutable(fromEnv, 'QCONF_ETCDCTL_BIN');
  const p = findOnPath('etcdctl');
  if (!p) throw new Error(`etcdctl binary not found on PATH: ${INSTALL_HINT}`);
  return p;
}

/** Environment without ETCD_* / ETCDCTL_* variables (etcd reads ETCD_<FLAG> as flags). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('ETCD_') || k.startsWith('ETCDCTL_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function execFileText(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const msg = `${file} ${args.join(' ')} failed: ${err.message.trim()}\nstderr: ${String(stderr).trim()}\nstdout: ${String(stdout).trim()}`;
        reject(new Error(msg));
        return;
      }
      resolve(String(stdout));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// ports

/**
 * Reserves `count` distinct free loopback TCP ports by binding them all at once (so they are
 * distinct), then releases them for etcd to bind. A small race with other processes remains.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<Server>((resolve, reject) => {
      const s = createServer();
      s.unref();
      s.once('error', reject);
      s.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve(s));
    })),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('unexpected server address');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

// ---------------------------------------------------------------------------------------------
// process bookkeeping: kill every group we started when this process goes away

const liveGroups = new Set<number>();
/** Temp base dirs owned by clusters not yet stopped; removed on exit. */
const ownedDirs = new Set<string>();
let exitHooksInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

function killAllGroupsNow(): void {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  liveGroups.clear();
  if (!process.env.QCONF_ETCD_KEEP) {
    for (const d of ownedDirs) rmSync(d, { recursive: true, force: true });
  }
  ownedDirs.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllGroupsNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killAllGroupsNow();
      process.removeListener(sig, handler);
      // Keep the default behaviour (terminate) unless someone else handles the signal.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

// ---------------------------------------------------------------------------------------------
// health

/** PEM contents for an https GET (the CA to trust, and a client certificate if etcd wants one). */
interface HttpsCredentials {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

function httpGet(url: string, timeoutMs: number, tls?: HttpsCredentials): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const opts = { method: 'GET', timeout: timeoutMs, agent: false } as const;
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    };
    const req = url.startsWith('https:') ? httpsRequest(url, { ...opts, ...tls }, onResponse) : request(url, opts, onResponse);
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** One /health probe: true iff etcd answers {"health":"true"} (it has a leader and can serve a read). */
async function probeHealth(clientUrl: string, tls?: HttpsCredentials): Promise<{ ok: boolean; detail: string }> {
  try {
    const { status, body } = await httpGet(`${clientUrl}/health`, 2_000, tls);
    let ok = false;
    try {
      ok = status === 200 && (JSON.parse(body) as { health?: unknown }).health === 'true';
    } catch {
      ok = false;
    }
    return { ok, detail: `HTTP ${status} ${body.trim()}` };
  } catch (e) {
    return { ok: false, detail: (e as Error).message };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// members

class Member implements EtcdMember {
  proc: ChildProcess | null = null;
  exited: Promise<void> = Promise.resolve();
  exitInfo: string | null = null;
  private tail = '';
  private log: WriteStream | null = null;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    readonly logFile: string,
    private readonly argv: string[],
  ) {}

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  get running(): boolean {
    return this.proc !== null && this.exitInfo === null;
  }

  private append(chunk: Buffer | string): void {
    const s = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    this.tail = (this.tail + s).slice(-LOG_TAIL_BYTES);
    this.log?.write(s);
  }

  logTail(lines = 40): string {
    return this.tail.split('\n').slice(-lines - 1).join('\n');
  }

  start(): void {
    if (this.running) throw new Error(`etcd member ${this.name} is already running`);
    installExitHooks();
    const etcd = etcdBinary();
    // setpriv --pdeathsig: the kernel kills etcd if this (Node) process dies without running
    // its exit hooks (e.g. SIGKILLed vitest worker). setpriv execs etcd, so pid is etcd's pid.
    const setpriv = findOnPath('setpriv');
    const [file, args] = setpriv ? [setpriv, ['--pdeathsig', 'SIGKILL', '--', etcd, ...this.argv]] : [etcd, this.argv];
    this.log ??= createWriteStream(this.logFile, { flags: 'a' });
    this.append(`\n=== ${new Date().toISOString()} starting ${this.name}: ${etcd} ${this.argv.join(' ')}\n`);
    this.exitInfo = null;
    const proc = spawn(file, args, {
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: kill(-pid) takes any children along
    });
    this.proc = proc;
    proc.stdout?.on('data', (c: Buffer) => this.append(c));
    proc.stderr?.on('data', (c: Buffer) => this.append(c));
    this.exited = new Promise<void>((resolve) => {
      let done = false;
      const finish = (info: string): void => {
        if (done) return;
        done = true;
        this.exitInfo = info;
        if (proc.pid !== undefined) liveGroups.delete(proc.pid);
        this.append(`\n=== ${new Date().toISOString()} ${this.name} ${info}\n`);
        resolve();
      };
      proc.once('error', (e) => finish(`failed to spawn: ${e.message}`));
      proc.once('exit', (code, signal) => finish(`exited (code ${code}, signal ${signal})`));
    });
    if (proc.pid !== undefined) liveGroups.add(proc.pid);
  }

  async stop(opts: StopMemberOptions = {}): Promise<void> {
    const proc = this.proc;
    if (!proc || this.exitInfo !== null || proc.pid === undefined) return;
    const pid = proc.pid;
    killGroup(pid, opts.signal ?? 'SIGTERM');
    const graceMs = opts.graceMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(true), graceMs); }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      killGroup(pid, 'SIGKILL');
      await this.exited;
    }
    // Also reap anything left in the group (etcd has no children, but be thorough).
    killGroup(pid, 'SIGKILL');
    liveGroups.delete(pid);
  }

  closeLog(): Promise<void> {
    const log = this.log;
    this.log = null;
    if (!log) return Promise.resolve();
    return new Promise((r) => log.end(() => r()));
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temp dirs left by test processes that died without cleaning up (e.g. SIGKILLed:
 * their etcd members died with them through the parent-death signal, but a dir under /dev/shm
 * keeps holding RAM, ~120 MB per member because etcd preallocates its 64 MB WAL).
 */
function sweepStaleDirs(parent: string): void {
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return;
  }
  for (const e of entries) {
    const m = /^qconf-etcd-(\d+)-/.exec(e);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    rmSync(join(parent, e), { recursive: true, force: true });
  }
}

function pickBaseDir(name: string): string {
  const candidates = [process.env.QCONF_ETCD_TMPDIR, '/dev/shm', tmpdir()].filter((d): d is string => !!d);
  for (const d of candidates) {
    try {
      accessSync(d, fsConstants.W_OK);
      sweepStaleDirs(d);
      return mkdtempSync(join(d, `qconf-etcd-${process.pid}-${name}-`));
    } catch {
      /* try next */
    }
  }
  return mkdtempSync(join(tmpdir(), `qconf-etcd-${process.pid}-${name}-`));
}

let clusterCounter = 0;

export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const size = opts.clusterSize ?? 1;
  if (!Number.isInteger(size) || size < 1 || size > 5) throw new Error(`clusterSize must be 1..5, got ${size}`);
  // Fail fast (and loudly) when etcd is not installed.
  etcdBinary();
  etcdctlBinary();

  const tls = opts.tls;
  if (tls && tls.clientCertAuth && (!tls.clientCertFile || !tls.clientKeyFile)) {
    throw new Error('startEtcd: tls.clientCertAuth needs tls.clientCertFile and tls.clientKeyFile (for etcdctl and the health probe)');
  }
  if (tls && !tls.clientCertFile !== !tls.clientKeyFile) throw new Error('startEtcd: give tls.clientCertFile and tls.clientKeyFile together');
  const clientScheme = tls ? 'https' : 'http';
  const tlsArgs = tls
    ? [`--cert-file=${tls.certFile}`, `--key-file=${tls.keyFile}`, ...(tls.clientCertAuth ? ['--client-cert-auth', `--trusted-ca-file=${tls.caFile}`] : [])]
    : [];
  // Read once, up front: a missing file fails here, not as a 30 s health timeout.
  const probeTls: HttpsCredentials | undefined = tls
    ? {
        ca: readFileSync(tls.caFile),
        cert: tls.clientCertFile ? readFileSync(tls.clientCertFile) : undefined,
        key: tls.clientKeyFile ? readFileSync(tls.clientKeyFile) : undefined,
      }
    : undefined;
  const etcdctlTlsArgs = tls
    ? [`--cacert=${tls.caFile}`, ...(tls.clientCertFile && tls.clientKeyFile ? [`--cert=${tls.clientCertFile}`, `--key=${tls.clientKeyFile}`] : [])]
    : [];
  let etcdctlUser = opts.etcdctlUser;

  const name = (opts.name ?? `c${++clusterCounter}`).replace(/[^A-Za-z0-9_-]/g, '_');
  const ownsDir = opts.dataDir === undefined;
  const baseDir = opts.dataDir ?? pickBaseDir(name);
  mkdirSync(baseDir, { recursive: true });
  if (ownsDir) {
    installExitHooks();
    ownedDirs.add(baseDir);
  }
  const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;

  const makeMembers = (ports: number[]): Member[] => {
    const specs = Array.from({ length: size }, (_, i) => ({
      name: `${name}-${i}`,
      clientUrl: `${clientScheme}://127.0.0.1:${ports[2 * i]}`,
      peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
      dataDir: join(baseDir, `member-${i}`),
      logFile: join(baseDir, `member-${i}.log`),
    }));
    const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
    const token = `${name}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    return specs.map((s, i) => new Member(i, s.name, s.clientUrl, s.peerUrl, s.dataDir, s.logFile, [
      `--name=${s.name}`,
      `--data-dir=${s.dataDir}`,
      `--listen-client-urls=${s.clientUrl}`,
      `--advertise-client-urls=${s.clientUrl}`,
      `--listen-peer-urls=${s.peerUrl}`,
      `--initial-advertise-peer-urls=${s.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      // Ignored by etcd once the data dir holds a WAL, so restarts with the same argv rejoin.
      '--initial-cluster-state=new',
      `--heartbeat-interval=${opts.heartbeatIntervalMs ?? 100}`,
      `--election-timeout=${opts.electionTimeoutMs ?? 1000}`,
      '--logger=zap',
      '--log-outputs=stderr',
      ...tlsArgs,
      ...(opts.extraArgs ?? []),
    ]));
  };
  let members = makeMembers(await freePorts(size * 2));

  const member = (i: number): Member => {
    const m = members[i];
    if (!m) throw new Error(`no etcd member ${i} (cluster size ${size})`);
    return m;
  };

  const etcdctl = (args: string[], i?: number): Promise<string> => {
    const endpoints = i === undefined ? members.map((m) => m.clientUrl) : [member(i).clientUrl];
    return execFileText(
      etcdctlBinary(),
      [
        `--endpoints=${endpoints.join(',')}`,
        '--dial-timeout=5s',
        '--command-timeout=10s',
        ...etcdctlTlsArgs,
        ...(etcdctlUser !== undefined ? [`--user=${etcdctlUser}`] : []),
        ...args,
      ],
      cleanEnv({ ETCDCTL_API: '3' }),
      20_000,
    );
  };

  const describe = (ms: Member[], lines = 30): string =>
    ms.map((m) => `--- ${m.name} (${m.clientUrl}, log ${m.logFile}) ${m.exitInfo ?? 'running'}:\n${m.logTail(lines)}`).join('\n');

  const waitHealthy = async (which: Member[], timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const last = new Map<Member, string>();
    for (;;) {
      const dead = which.filter((m) => m.exitInfo !== null);
      if (dead.length > 0) {
        throw new Error(`etcd member(s) ${dead.map((m) => m.name).join(', ')} exited while waiting for health (${INSTALL_HINT} if etcd is missing)\n${describe(which)}`);
      }
      const results = await Promise.all(which.map(async (m) => [m, await probeHealth(m.clientUrl, probeTls)] as const));
      for (const [m, r] of results) last.set(m, r.detail);
      if (results.every(([, r]) => r.ok)) return;
      if (Date.now() > deadline) {
        const status = which.map((m) => `${m.name}: ${last.get(m)}`).join('; ');
        throw new Error(`etcd not healthy after ${timeoutMs} ms (${status})\n${describe(which)}`);
      }
      await sleep(100);
    }
  };

  let stopped = false;
  const stopAll = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(members.map((m) => m.stop({ signal: 'SIGKILL', graceMs: 5_000 })));
    await Promise.all(members.map((m) => m.closeLog()));
    if (ownsDir) {
      ownedDirs.delete(baseDir);
      if (!process.env.QCONF_ETCD_KEEP) rmSync(baseDir, { recursive: true, force: true });
    }
  };

  // A port found free can be taken by another process before etcd binds it: retry such a
  // start (only) with fresh ports and wiped data dirs.
  for (let attempt = 1; ; attempt++) {
    try {
      for (const m of members) m.start();
      await waitHealthy(members, startTimeoutMs);
      break;
    } catch (e) {
      if (attempt >= 3 || !/address already in use/.test(String(e))) {
        await stopAll().catch(() => undefined);
        throw e;
      }
      await Promise.all(members.map((m) => m.stop({ signal: 'SIGKILL' })));
      await Promise.all(members.map((m) => m.closeLog()));
      for (const m of members) rmSync(m.dataDir, { recursive: true, force: true });
      members = makeMembers(await freePorts(size * 2));
    }
  }

  const cluster: EtcdCluster = {
    name,
    baseDir,
    members,
    endpoints: members.map((m) => m.clientUrl),
    memberEndpoints: (i) => [member(i).clientUrl],
    stopMember: (i, o) => member(i).stop(o),
    startMember: async (i) => {
      if (stopped) throw new Error('cluster was stopped');
      const m = member(i);
      m.start();
      await waitHealthy([m], startTimeoutMs);
    },
    etcdctl,
    setEtcdctlUser: (user) => {
      etcdctlUser = user;
    },
    compact: async (revision) => {
      await etcdctl(['compaction', '--physical', String(revision)]);
    },
    revision: async (i) => {
      const targets = i === undefined ? members.filter((m) => m.running).map((m) => m.index) : [i];
      let lastErr: unknown = new Error('no running member');
      for (const t of targets) {
        try {
          const out = await etcdctl(['endpoint', 'status', '-w', 'json'], t);
          const parsed = JSON.parse(out) as Array<{ Status?: { header?: { revision?: number | string } } }>;
          const rev = parsed[0]?.Status?.header?.revision;
          if (rev === undefined) throw new Error(`no revision in endpoint status: ${out}`);
          return Number(rev);
        } catch (e) {
          lastErr = e;
        }
      }
      throw lastErr;
    },
    waitHealthy: (i, timeoutMs) =>
      waitHealthy(i === undefined ? members.filter((m) => m.running) : [member(i)], timeoutMs ?? startTimeoutMs),
    logTail: (i, lines) => member(i).logTail(lines),
    stop: stopAll,
  };
  return cluster;
}
