// What the benchmarks run against: the echo ceiling, qconfd (this build's or another's), the
// real ganeti-confd; and the load generator child that drives them. Every process is tracked
// and killed at exit (children.ts).
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfdClient } from '../../client/confd-client.js';
import { RequestType } from '../../shared/plj0/protocol.js';
import { Keyring } from '../../shared/keyring.js';
import { freePort } from '../../testkit/fixtures.js';
import { startGanetiConfd, type GanetiConfd } from '../../testkit/ganeti/confd.js';
import { confdQuery } from '../../testkit/ganeti/plj0-client.js';
import { DAEMON_JS } from '../../testkit/paths.js';
import { spawnChild, stopChild, track } from './children.js';
import type { Job, LoadResult } from './load-job.js';
import { ECHO_JS, LOADGEN_JS } from './paths.js';

export interface Target {
  name: string;
  port: number;
  pids: number[];
  stop(): Promise<void>;
  /** The last output lines (for errors). */
  output(): string;
}

function tail(child: ChildProcess): () => string {
  let out = '';
  const add = (b: Buffer) => {
    out = (out + b.toString()).slice(-Number(process.env.QCONF_BENCH_TAIL ?? 16384));
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => out;
}

export async function startEcho(): Promise<Target> {
  const child = spawnChild(process.execPath, [ECHO_JS]);
  const out = tail(child);
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('echo server did not start')), 10_000);
    child.stdout?.once('data', (b: Buffer) => {
      clearTimeout(t);
      resolve(Number(b.toString().trim()));
    });
  });
  return { name: 'echo', port, pids: [child.pid as number], stop: () => stopChild(child), output: out };
}

export interface QconfdOptions {
  file: string;
  keyFile: string;
  ganetiKeyFile?: string;
  extraArgs?: string[];
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Wait until a QCF1 ping reports this serial (default: any ready snapshot). */
  readyTimeoutMs?: number;
  /** The daemon's entry script (default: this build's dist/daemon/main.js). */
  daemonJs?: string;
}

export interface StartedQconfd extends Target {
  /** From spawn to the first ready ping, ms. */
  startMs: number;
  /** performance.now() at spawn (for later milestones). */
  spawnedAt: number;
  child: ChildProcess;
}

/** Wait until a qconfd on `port` answers a QCF1 ping with a loaded snapshot. */
export async function waitQcf1Ready(port: number, key: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const client = new ConfdClient({ keyring: Keyring.fromStrings([key]), peers: [`127.0.0.1:${port}`], retransmitMs: 50 });
  const end = Date.now() + timeoutMs;
  try {
    while (Date.now() < end) {
      if (!alive()) throw new Error('qconfd exited before it was ready');
      const r = await client.ping({ timeoutMs: 250 }).catch(() => undefined);
      const a = r?.answer as { ready?: boolean } | undefined;
      if (r && !r.timedOut && a?.ready) return;
      await sleep(5);
    }
    throw new Error(`qconfd on port ${port} not ready within ${timeoutMs} ms`);
  } finally {
    client.close();
  }
}

/**
 * What an installed daemon's `#!/usr/bin/env -S [NAME=value ...] node [--flag ...]` line gives
 * it: the environment assignments and node's flags, so the bench runs the daemon as installed.
 */
export function daemonShebang(script: string): { env: Record<string, string>; nodeFlags: string[] } {
  const first = readFileSync(script, 'utf8').split('\n', 1)[0];
  const m = /^#!\S*env -S ((?:\w+=\S+ )*)node((?: --[\w-]+(?:=\S+)?)*)\s*$/.exec(first);
  if (!m) return { env: {}, nodeFlags: [] };
  const env: Record<string, string> = {};
  for (const a of m[1].trim().split(/\s+/).filter(Boolean)) {
    const i = a.indexOf('=');
    env[a.slice(0, i)] = a.slice(i + 1);
  }
  return { env, nodeFlags: m[2].trim().split(/\s+/).filter(Boolean) };
}

export async function startQconfd(o: QconfdOptions): Promise<StartedQconfd> {
  // Loopback only: the daemon binds 127.0.0.1.
  const port = await freePort('127.0.0.1');
  const installed = daemonShebang(o.daemonJs ?? DAEMON_JS);
  const args = [
    ...installed.nodeFlags,
    ...(o.nodeArgs ?? []),
    o.daemonJs ?? DAEMON_JS,
    '--file', o.file,
    '--key-file', o.keyFile,
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--node-name', 'bench',
    '--log-level', 'warn',
    ...(o.ganetiKeyFile ? ['--ganeti-key-file', o.ganetiKeyFile] : []),
    ...(o.extraArgs ?? []),
  ];
  const t0 = performance.now();
  const child = spawnChild(process.execPath, args, { env: { ...(o.env ?? process.env), ...installed.env } });
  const out = tail(child);
  const key = readFileSync(o.keyFile, 'utf8').split('\n')[0];
  try {
    await waitQcf1Ready(port, key, o.readyTimeoutMs ?? 120_000, () => child.exitCode === null && child.signalCode === null);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${out()}`);
  }
  const startMs = performance.now() - t0;
  return { name: 'qconfd', port, pids: [child.pid as number], child, startMs, spawnedAt: t0, stop: () => stopChild(child), output: out };
}

export interface StartedGaneti extends Target {
  startMs: number;
  confd: GanetiConfd;
}

/** The real ganeti-confd on a config file; ready once it answers a ping with status 0. */
export async function startGaneti(configPath: string, hmacKey: Buffer, readyTimeoutMs = 300_000): Promise<StartedGaneti> {
  const t0 = performance.now();
  // Ready means a loaded config: the harness waits for a ping answered with status 0.
  const confd = await startGanetiConfd({ config: configPath, hmacKey, readyTimeoutMs });
  const startMs = performance.now() - t0;
  // The pings sent every 100 ms while a large config loaded are still queued: let it answer
  // them all (a request sent now could find its receive buffer full), bounded.
  const end = Date.now() + 60_000;
  while (Date.now() < end && !(await confdQuery({ port: confd.port, hmacKey, type: RequestType.Ping, timeoutMs: 1000 }).then((r) => r.status === 0, () => false)));
  return { name: 'ganeti-confd', port: confd.port, pids: [confd.pid], confd, startMs, stop: () => confd.stop(), output: () => confd.output() };
}

// ---------------------------------------------------------------------------------------------
// The load generator child.

export class LoadGen {
  private child: ChildProcess;
  constructor() {
    this.child = track(fork(LOADGEN_JS, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }

  /** Run a job; `onWindow` is called when its measured window begins. */
  run(job: Job, hardMs = job.warmupMs + job.durationMs + 120_000, onWindow?: () => void): Promise<LoadResult> {
    const child = this.child;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        cleanup();
        reject(new Error('load generator timed out'));
      }, hardMs);
      const onMsg = (m: { type: string; result?: LoadResult; message?: string }) => {
        if (m.type === 'window') {
          onWindow?.();
          return;
        }
        cleanup();
        if (m.type === 'result' && m.result) resolve(m.result);
        else reject(new Error(`load generator: ${m.message}`));
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`load generator exited (${code})`));
      };
      const cleanup = () => {
        clearTimeout(t);
        child.off('message', onMsg);
        child.off('exit', onExit);
      };
      child.on('message', onMsg);
      child.once('exit', onExit);
      child.send({ cmd: 'run', job });
    });
  }

  close(): void {
    if (this.child.connected) this.child.send({ cmd: 'exit' });
    setTimeout(() => this.child.kill('SIGKILL'), 2000).unref();
  }
}
