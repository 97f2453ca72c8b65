// One member of a real etcd cluster as a child process (Debian's etcd-server, installed by
// test/etcd/install-etcd.sh): finding the binaries, starting and stopping the process in its own
// group, its log, its /health probe, and the bookkeeping that kills every member and removes
// their temp dirs when this process goes away. cluster.ts puts members together.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, createWriteStream, mkdtempSync, readdirSync, rmSync, type WriteStream } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export const INSTALL_HINT = 'run `bash test/etcd/install-etcd.sh` (apt-get install etcd-server etcd-client) first';

const LOG_TAIL_BYTES = 64 * 1024;

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

/** Absolute path of `bin` (etcd or etcdctl): `$envName` if set, else found on PATH; throws with an install hint. */
function binary(bin: string, envName: string): string {
  const fromEnv = process.env[envName];
  if (fromEnv) {
    try {
      accessSync(fromEnv, fsConstants.X_OK);
    } catch {
      throw new Error(`${envName}=${fromEnv} is not an executable file: ${INSTALL_HINT}`);
    }
    return fromEnv;
  }
  const p = findOnPath(bin);
  if (!p) throw new Error(`${bin} binary not found on PATH: ${INSTALL_HINT}`);
  return p;
}

/** The etcd binary (QCONF_ETCD_BIN overrides). */
export const etcdBinary = (): string => binary('etcd', 'QCONF_ETCD_BIN');
/** The etcdctl binary (QCONF_ETCDCTL_BIN overrides). */
export const etcdctlBinary = (): string => binary('etcdctl', 'QCONF_ETCDCTL_BIN');

/** Environment without ETCD_* / ETCDCTL_* variables (etcd reads ETCD_<FLAG> as flags). */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('ETCD_') || k.startsWith('ETCDCTL_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export function execFileText(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
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
// process bookkeeping: kill every group we started when this process goes away

const liveGroups = new Set<number>();
/** Temp base dirs owned by clusters not yet stopped; removed on exit. */
export const ownedDirs = new Set<string>();
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

export function installExitHooks(): void {
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
export interface HttpsCredentials {
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
export async function probeHealth(clientUrl: string, tls?: HttpsCredentials): Promise<{ ok: boolean; detail: string }> {
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

// ---------------------------------------------------------------------------------------------
// members

export class Member implements EtcdMember {
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

export function pickBaseDir(name: string): string {
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
