// Real qconfd daemons as child processes (this build's dist/daemon/main.js), ready only once
// they answer a ping, and the real qconf CLI run as a command.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { ConfdClient } from '../client/confd-client.js';
import { Keyring } from '../shared/keyring.js';
import { KEY_A, freePort, tempDir, writeAtomic, writeKeyFile } from './fixtures.js';
import { CLI_JS, DAEMON_JS } from './paths.js';
import { spawnTracked, stopProcess } from './processes.js';

export interface DaemonOptions {
  doc?: unknown;
  /** Serve this existing file instead of writing `doc`. */
  file?: string;
  /** Pass no --file (another source, e.g. --etcd, comes in `args`). */
  noFile?: boolean;
  keys?: string[];
  nodeName?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  port?: number;
  /** Wait for a ping answer (default true). */
  waitReady?: boolean;
  /** --log-level (default debug: a failing test shows what the daemon did). */
  logLevel?: string;
  /** Advertise two front ports for relays (default true); false passes no --advertise. */
  advertise?: boolean;
  /**
   * How the process is made: by default in a group of its own that dies with this process
   * (processes.ts). The benchmarks pass theirs, which keeps a measured daemon in their session.
   */
  spawn?: (cmd: string, args: string[], opts: SpawnOptions) => ChildProcess;
}

export class TestDaemon {
  child!: ChildProcess;
  output = '';
  readonly dir: string;
  readonly file: string;
  readonly keyFile: string;
  readonly nodeName: string;
  port = 0;
  /**
   * Ports advertised as this daemon's (`--advertise 127.0.0.1:PORT`), for relays put in front of
   * it: requests name the address they are sent to, and a relay's is not the daemon's.
   */
  frontPorts: number[] = [];
  private fronts = 0;
  private readonly opts: DaemonOptions;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });

  constructor(opts: DaemonOptions) {
    this.opts = opts;
    this.dir = tempDir('qconfd-');
    this.file = opts.file ?? join(this.dir, 'config.json');
    if (opts.doc !== undefined && opts.file === undefined) writeAtomic(this.file, opts.doc as object);
    this.keyFile = writeKeyFile(this.dir, opts.keys ?? [KEY_A]);
    this.nodeName = opts.nodeName ?? `node-${Math.random().toString(36).slice(2, 8)}`;
  }

  get peer(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** A relay in front of this daemon: where it listens (advertised) and where it forwards to. */
  front(): { port: number; target: { host: string; port: number } } {
    if (this.opts.advertise === false) throw new Error('a daemon started with advertise: false has no front ports');
    const port = this.frontPorts[this.fronts++ % this.frontPorts.length];
    return { port, target: { host: '127.0.0.1', port: this.port } };
  }

  async start(): Promise<this> {
    // A port found free can be taken (by any process binding port 0) before the daemon binds
    // it: a port picked here is picked again when that happens (a restart keeps its port).
    const picked = this.port === 0 && this.opts.port === undefined;
    if (this.port === 0) this.port = this.opts.port ?? (await freePort());
    if (this.frontPorts.length === 0 && this.opts.advertise !== false) this.frontPorts = await Promise.all([freePort(), freePort()]);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.spawn();
      } catch (e) {
        if (!picked || attempt >= 5 || !this.output.includes('EADDRINUSE')) throw e;
        this.output = '';
        this.port = await freePort();
      }
    }
  }

  private async spawn(): Promise<this> {
    const fileArgs = this.opts.noFile ? [] : ['--file', this.file];
    const advertise = this.frontPorts.length > 0 ? ['--advertise', this.frontPorts.map((p) => `127.0.0.1:${p}`).join(',')] : [];
    const logLevel = ['--log-level', this.opts.logLevel ?? 'debug'];
    const args = [DAEMON_JS, ...fileArgs, '--key-file', this.keyFile, '--port', String(this.port), '--node-name', this.nodeName, ...logLevel, ...advertise, ...(this.opts.args ?? [])];
    this.child = (this.opts.spawn ?? spawnTracked)(process.execPath, args, { env: { ...process.env, ...this.opts.env } });
    this.child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    if (this.opts.waitReady !== false) await this.waitReady();
    return this;
  }

  /** Ready when a ping is answered (not a sleep): the socket is bound and serving. */
  async waitReady(deadlineMs = 30_000): Promise<void> {
    const client = new ConfdClient({ keyring: Keyring.fromStrings(this.opts.keys ?? [KEY_A]), peers: [this.peer], retransmitMs: 100 });
    const deadline = Date.now() + deadlineMs;
    try {
      while (Date.now() < deadline) {
        if (this.child.exitCode !== null) throw new Error(`qconfd exited with ${this.child.exitCode}:\n${this.output}`);
        const r = await client.ping({ timeoutMs: 500 });
        // Only this daemon's answer: another process's daemon on the port (bound first, this
        // one about to exit with EADDRINUSE) answers the same key too.
        if (!r.timedOut && r.peers.some((p) => p.node === this.nodeName)) return;
        if (!r.timedOut) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`qconfd on port ${this.port} not ready after ${deadlineMs} ms:\n${this.output.slice(-4000)}`);
    } finally {
      client.close();
    }
  }

  /** Resolve once the daemon's output contains a JSON log line matching `pred`. */
  async waitForLog(pred: (line: Record<string, unknown>) => boolean, deadlineMs = 30_000, from = 0): Promise<Record<string, unknown>> {
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline) {
      for (const line of this.output.slice(from).split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const obj = JSON.parse(line) as Record<string, unknown>;
          if (pred(obj)) return obj;
        } catch {
          /* partial line */
        }
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`log line not seen within ${deadlineMs} ms:\n${this.output.slice(-4000)}`);
  }

  logLines(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const line of this.output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* partial line */
      }
    }
    return out;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return stopProcess(this.child, signal);
  }

  writeDoc(doc: unknown): void {
    writeAtomic(this.file, doc as object);
  }
}

export async function startDaemons(n: number, opts: (i: number) => DaemonOptions): Promise<TestDaemon[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => new TestDaemon(opts(i)).start()));
}

export async function stopAll(daemons: TestDaemon[]): Promise<void> {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real qconf CLI as a child process. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(process.execPath, [CLI_JS, ...args], { env: { ...process.env, QCONF_PEERS: '', QCONF_KEY_FILE: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      void stopProcess(child, 'SIGKILL');
      reject(new Error(`qconf ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
