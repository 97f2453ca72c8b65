// Test harness around the REAL Ganeti 3.0 confd daemon and Python confd client, unpacked from
// Debian's packages by test/ganeti/fetch-ganeti.sh (see README.md there). Interop and
// differential tests use it to run the reference implementation on loopback.
//
// Node built-ins only, so it works before/without the project's own client code.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const FETCH_HINT = 'run `bash test/ganeti/fetch-ganeti.sh` as root first';

export interface GanetiPaths {
  /** The unpacked package tree (`<cache>/root`). */
  root: string;
  /** The real ganeti-confd binary (Haskell, from ganeti-haskell-3.0). */
  confd: string;
  /** PYTHONPATH under which `import ganeti.confd.client` works. */
  pythonPath: string;
  /** Debian's interpreter, which has the Python modules fetch-ganeti.sh installs. */
  python: string;
  /** Ganeti's testsuite data (`cluster_config_2.*.json`, ...). */
  testData: string;
}

export function ganetiPaths(): GanetiPaths {
  const cache = process.env['QCONF_GANETI_CACHE'] || path.join(REPO_ROOT, '.cache', 'ganeti');
  const root = path.join(cache, 'root');
  return {
    root,
    confd: path.join(root, 'usr/lib/ganeti/3.0/usr/sbin/ganeti-confd'),
    pythonPath: path.join(root, 'usr/share/ganeti/3.0'),
    // Not `python3` from PATH: a pyenv/venv interpreter would lack the apt-installed modules.
    python: process.env['QCONF_GANETI_PYTHON'] || '/usr/bin/python3',
    testData: path.join(root, 'usr/share/ganeti/testsuite/test/data'),
  };
}

export function ganetiAvailable(): boolean {
  const p = ganetiPaths();
  try {
    fs.accessSync(p.confd, fs.constants.X_OK);
    fs.accessSync(p.python, fs.constants.X_OK);
    fs.accessSync(path.join(p.pythonPath, 'ganeti/confd/client.py'), fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Throws a clear error (tests must fail, not skip) when Ganeti has not been fetched. */
export function requireGaneti(): GanetiPaths {
  const p = ganetiPaths();
  if (!ganetiAvailable()) {
    throw new Error(`Ganeti 3.0 is not available (expected ${p.confd}): ${FETCH_HINT}`);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Child process bookkeeping: everything started here is killed with its process group on stop,
// on timeout, and when this process exits.

const liveGroups = new Set<number>();
const liveRootDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
    for (const dir of liveRootDirs) fs.rmSync(dir, { recursive: true, force: true });
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

const SETPRIV = '/usr/bin/setpriv';

/**
 * Spawns in a new process group (so stop() reaches grandchildren too). Where util-linux's
 * setpriv exists (always on Debian), the child also gets PR_SET_PDEATHSIG, so it dies even when
 * this process is SIGKILLed and no exit hook runs.
 */
function spawnTracked(cmd: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  installExitHook();
  const [file, argv] = fs.existsSync(SETPRIV)
    ? [SETPRIV, ['--pdeathsig', 'KILL', '--', cmd, ...args]]
    : [cmd, args];
  const child = spawn(file, argv, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pgid = child.pid;
  if (pgid !== undefined) {
    liveGroups.add(pgid);
    child.once('exit', () => {
      // The leader is gone; take any stragglers in its group with it.
      killGroup(pgid, 'SIGKILL');
      liveGroups.delete(pgid);
    });
  }
  return child;
}

/** Keeps the last `limit` characters of a child's stdout+stderr for error messages. */
class OutputTail {
  private text = '';
  constructor(private readonly limit = 16 * 1024) {}
  attach(child: ChildProcess): void {
    const add = (chunk: Buffer): void => {
      this.text = (this.text + chunk.toString('utf8')).slice(-this.limit);
    };
    child.stdout?.on('data', add);
    child.stderr?.on('data', add);
  }
  toString(): string {
    return this.text;
  }
}

/** Resolves once the child has exited and its stdout/stderr are drained. */
function closed(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const done = child.stdout?.closed !== false && child.stderr?.closed !== false;
  if ((child.exitCode !== null || child.signalCode !== null) && done) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
}

// ---------------------------------------------------------------------------------------------
// Minimal plj0 client (protocol spec section 1): just enough to check readiness and make simple
// queries without depending on the project's own client.

export interface ConfdReply {
  status: number;
  answer: unknown;
  serial: number;
  /** The reply's outer salt, i.e. the request's rsalt. */
  salt: string;
  raw: Buffer;
}

export interface ConfdQueryOptions {
  port: number;
  hmacKey: Buffer;
  type: number;
  /** Omitted from the request when undefined. */
  query?: unknown;
  host?: string;
  timeoutMs?: number;
}

function hmacSha1(key: Buffer, text: string): string {
  return createHmac('sha1', key).update(text, 'utf8').digest('hex');
}

/** Builds a signed request datagram; the timestamp salt is the current time unless given. */
export function encodeConfdRequest(
  hmacKey: Buffer,
  type: number,
  query: unknown,
  rsalt: string,
  now = Math.floor(Date.now() / 1000),
): Buffer {
  const inner: Record<string, unknown> = { protocol: 1, type };
  if (query !== undefined) inner['query'] = query;
  inner['rsalt'] = rsalt;
  const msg = JSON.stringify(inner);
  const salt = String(now);
  const outer = JSON.stringify({ msg, salt, hmac: hmacSha1(hmacKey, salt + msg) });
  return Buffer.from(`plj0${outer}`, 'utf8');
}

/** Verifies and decodes a reply datagram; returns undefined for anything not validly signed. */
export function decodeConfdReply(hmacKey: Buffer, raw: Buffer): ConfdReply | undefined {
  if (raw.subarray(0, 4).toString('latin1') !== 'plj0') return undefined;
  try {
    const outer = JSON.parse(raw.subarray(4).toString('utf8')) as Record<string, unknown>;
    const { msg, salt, hmac } = outer;
    if (typeof msg !== 'string' || typeof salt !== 'string' || typeof hmac !== 'string') return undefined;
    if (hmacSha1(hmacKey, salt + msg) !== hmac.toLowerCase()) return undefined;
    const inner = JSON.parse(msg) as { status: number; answer: unknown; serial: number };
    return { status: inner.status, answer: inner.answer, serial: inner.serial, salt, raw };
  } catch {
    return undefined;
  }
}

/** One request, one matching signed reply (or a timeout error). */
export async function confdQuery(opts: ConfdQueryOptions): Promise<ConfdReply> {
  const host = opts.host ?? '127.0.0.1';
  const rsalt = randomUUID();
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    return await new Promise<ConfdReply>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no reply from confd at ${host}:${opts.port} within ${opts.timeoutMs ?? 5000} ms`)),
        opts.timeoutMs ?? 5000,
      );
      sock.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sock.on('message', (raw) => {
        const reply = decodeConfdReply(opts.hmacKey, raw);
        if (reply?.salt === rsalt) {
          clearTimeout(timer);
          resolve(reply);
        }
      });
      sock.send(encodeConfdRequest(opts.hmacKey, opts.type, opts.query, rsalt), opts.port, host);
    });
  } finally {
    sock.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The daemon.

export interface StartGanetiConfdOptions {
  /** A config document (written as JSON), a path to copy, or undefined for no config.data. */
  config: unknown | string;
  /** Raw hmac.key contents; Ganeti's own keys end in "\n", which is part of the key. */
  hmacKey: Buffer;
  /**
   * Readiness needs an OK ping (status 0), i.e. a loaded config. Set false to start the daemon
   * with a broken or missing config: then any signed reply counts as ready.
   */
  requireConfigLoaded?: boolean;
  /** Pass -d (DEBUG logging, one line per request). */
  debug?: boolean;
  readyTimeoutMs?: number;
}

export interface GanetiConfd {
  port: number;
  host: string;
  rootDir: string;
  /** `<rootDir>/var/lib/ganeti/config.data`, which the daemon watches for reloads. */
  configPath: string;
  pid: number;
  /** The tail of the daemon's stdout/stderr (its log, also in var/log/ganeti/conf-daemon.log). */
  output(): string;
  /** Kills the daemon (and its process group) and removes rootDir. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/** A currently free UDP port on loopback (the daemon may still lose a race for it: retried). */
async function freeUdpPort(): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, HOST, () => resolve());
  });
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

/** Creates the directory layout the daemon insists on under GANETI_ROOTDIR. */
function makeRootDir(config: unknown, hmacKey: Buffer): { rootDir: string; configPath: string } {
  const rootDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qconf-ganeti-'));
  liveRootDirs.add(rootDir);
  const dataDir = path.join(rootDir, 'var/lib/ganeti');
  fs.mkdirSync(dataDir, { recursive: true });
  // Without these it exits at startup: it opens its log file and writes a pid file first.
  fs.mkdirSync(path.join(rootDir, 'var/log/ganeti'), { recursive: true });
  fs.mkdirSync(path.join(rootDir, 'var/run/ganeti'), { recursive: true });
  const configPath = path.join(dataDir, 'config.data');
  if (typeof config === 'string') fs.copyFileSync(config, configPath);
  else if (config !== undefined) fs.writeFileSync(configPath, JSON.stringify(config), { mode: 0o640 });
  fs.writeFileSync(path.join(dataDir, 'hmac.key'), hmacKey, { mode: 0o400 });
  return { rootDir, configPath };
}

type ReadyResult = { ok: true } | { ok: false; reason: string; portInUse: boolean };

/** Pings every 100 ms until a suitable signed reply arrives, the daemon exits, or the deadline. */
async function waitReady(
  child: ChildProcess,
  tail: OutputTail,
  port: number,
  hmacKey: Buffer,
  requireConfigLoaded: boolean,
  timeoutMs: number,
): Promise<ReadyResult> {
  const sock = dgram.createSocket('udp4');
  let timer: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  try {
    return await new Promise<ReadyResult>((resolve) => {
      const pending = new Set<string>();
      const ping = (): void => {
        const rsalt = randomUUID();
        pending.add(rsalt);
        sock.send(encodeConfdRequest(hmacKey, 0, undefined, rsalt), port, HOST);
      };
      sock.on('message', (raw) => {
        const reply = decodeConfdReply(hmacKey, raw);
        if (reply === undefined || !pending.has(reply.salt)) return;
        if (reply.status === 0 || !requireConfigLoaded) {
          resolve({ ok: true });
        } else {
          // The daemon loads the config before it starts answering, so an error reply here
          // is final until config.data changes: fail now rather than at the deadline.
          resolve({ ok: false, reason: `ganeti-confd did not load its config: ${describe(reply.answer)}`, portInUse: false });
        }
      });
      // A failed send (before the daemon is up) is harmless: the next ping retries.
      sock.on('error', () => {});
      child.once('error', (err) => resolve({ ok: false, reason: `spawn failed: ${err.message}`, portInUse: false }));
      // 'close' rather than 'exit': the output must be drained to tell why it died.
      child.once('close', (code, signal) => {
        const out = tail.toString();
        resolve({
          ok: false,
          reason: `ganeti-confd exited (code ${code}, signal ${signal}) before answering a ping`,
          portInUse: /in use|EADDRINUSE|resource busy/i.test(out),
        });
      });
      deadline = setTimeout(() => {
        resolve({
          ok: false,
          reason:
            `ganeti-confd did not answer a plj0 PING ${requireConfigLoaded ? 'with status 0 ' : ''}` +
            `within ${timeoutMs} ms`,
          portInUse: false,
        });
      }, timeoutMs);
      sock.bind(0, HOST, () => {
        ping();
        timer = setInterval(ping, 100);
      });
    });
  } finally {
    clearInterval(timer);
    clearTimeout(deadline);
    sock.close();
  }
}

function describe(answer: unknown): string {
  return typeof answer === 'string' ? answer : JSON.stringify(answer);
}

async function stopChild(child: ChildProcess): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return; // never started
  const done = closed(child);
  if (child.exitCode === null && child.signalCode === null) killGroup(pgid, 'SIGTERM');
  const grace = setTimeout(() => killGroup(pgid, 'SIGKILL'), 5000);
  await done;
  clearTimeout(grace);
}

/**
 * Starts the real ganeti-confd on a free 127.0.0.1 UDP port, in a fresh GANETI_ROOTDIR, and
 * resolves once it answers a signed PING.
 */
export async function startGanetiConfd(opts: StartGanetiConfdOptions): Promise<GanetiConfd> {
  const paths = requireGaneti();
  const requireConfigLoaded = opts.requireConfigLoaded ?? true;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const { rootDir, configPath } = makeRootDir(opts.config, opts.hmacKey);
  const removeRootDir = (): void => {
    fs.rmSync(rootDir, { recursive: true, force: true });
    liveRootDirs.delete(rootDir);
  };

  let failure = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freeUdpPort();
    const args = ['-f', '--no-user-checks', '-p', String(port), '-b', HOST];
    if (opts.debug) args.push('-d');
    const child = spawnTracked(paths.confd, args, { ...process.env, GANETI_ROOTDIR: rootDir });
    const tail = new OutputTail();
    tail.attach(child);
    const ready = await waitReady(child, tail, port, opts.hmacKey, requireConfigLoaded, readyTimeoutMs);
    if (ready.ok) {
      let stopped: Promise<void> | undefined;
      return {
        port,
        host: HOST,
        rootDir,
        configPath,
        pid: child.pid!,
        output: () => tail.toString(),
        stop: () => (stopped ??= stopChild(child).then(removeRootDir)),
      };
    }
    await stopChild(child);
    failure = `${ready.reason}\n--- daemon output (tail) ---\n${tail.toString()}`;
    if (!ready.portInUse) break;
  }
  removeRootDir();
  throw new Error(failure);
}

// ---------------------------------------------------------------------------------------------
// The Python client.

export interface PythonResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/**
 * Runs `python3 -c script` with Ganeti's library importable. Extra env vars are added on top of
 * this process's environment. The interpreter is killed after `timeoutMs`.
 */
export async function runGanetiPythonClient(
  script: string,
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<PythonResult> {
  const paths = requireGaneti();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: paths.pythonPath, ...env };
  delete childEnv['PYTHONHOME'];
  const child = spawnTracked(paths.python, ['-c', script], childEnv);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer = setTimeout(() => {
    stderr += `\n[harness] killed after ${timeoutMs} ms`;
    void stopChild(child);
  }, timeoutMs);
  try {
    const result = await Promise.race([
      closed(child),
      new Promise<never>((_, reject) => child.once('error', reject)),
    ]);
    return { stdout, stderr, code: result.code };
  } finally {
    clearTimeout(timer);
  }
}
