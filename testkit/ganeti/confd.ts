// The REAL Ganeti 3.0 confd daemon on loopback, unpacked from Debian's packages by
// test/ganeti/fetch-ganeti.sh (see test/ganeti/README.md): where it is, whether it is there, and
// starting it on a config in a fresh root dir, ready once it answers a signed ping. The
// interop and differential tests run it as the reference; the bench measures it.
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, tempDir } from '../fixtures.js';
import { ROOT } from '../paths.js';
import { closed, spawnTracked, stopProcess } from '../processes.js';
import { decodeConfdReply, encodeConfdRequest } from './plj0-client.js';

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
  const cache = process.env['QCONF_GANETI_CACHE'] || path.join(ROOT, '.cache', 'ganeti');
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

/** Stop a child (SIGTERM to its group, SIGKILL after 5 s) and wait until its output is drained. */
export async function stopGanetiChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined) return; // never started
  await stopProcess(child, 'SIGTERM', 5000);
  await closed(child);
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

/** Creates the directory layout the daemon insists on under GANETI_ROOTDIR (removed at exit at the latest). */
function makeRootDir(config: unknown, hmacKey: Buffer): { rootDir: string; configPath: string } {
  const rootDir = tempDir('qconf-ganeti-');
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

/**
 * Starts the real ganeti-confd on a free 127.0.0.1 UDP port, in a fresh GANETI_ROOTDIR, and
 * resolves once it answers a signed PING.
 */
export async function startGanetiConfd(opts: StartGanetiConfdOptions): Promise<GanetiConfd> {
  const paths = requireGaneti();
  const requireConfigLoaded = opts.requireConfigLoaded ?? true;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const { rootDir, configPath } = makeRootDir(opts.config, opts.hmacKey);
  const removeRootDir = (): void => fs.rmSync(rootDir, { recursive: true, force: true });

  let failure = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    // A port found free can be taken before the daemon binds it: such a start is retried.
    const port = await freePort(HOST);
    const args = ['-f', '--no-user-checks', '-p', String(port), '-b', HOST];
    if (opts.debug) args.push('-d');
    const child = spawnTracked(paths.confd, args, { env: { ...process.env, GANETI_ROOTDIR: rootDir } });
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
        stop: () => (stopped ??= stopGanetiChild(child).then(removeRootDir)),
      };
    }
    await stopGanetiChild(child);
    failure = `${ready.reason}\n--- daemon output (tail) ---\n${tail.toString()}`;
    if (!ready.portInUse) break;
  }
  removeRootDir();
  throw new Error(failure);
}
