// Shared plumbing of the benchmarks: paths, child bookkeeping (everything started is killed on
// exit, even on error), /proc readings (CPU ticks, RSS), free ports, progress on stderr, and the
// machine description. Node built-ins only.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench/lib
export const DIST = join(HERE, '..', '..');
export const ROOT = join(DIST, '..');
export const DAEMON_JS = join(DIST, 'daemon/main.js');
export const CLI_JS = join(DIST, 'client/cli/main.js');
export const LOADGEN_JS = join(DIST, 'bench/loadgen.js');
export const ECHO_JS = join(DIST, 'bench/echo-server.js');
export const BENCH_DIR = join(ROOT, 'bench');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Children: tracked, killed (SIGKILL, whole process group when detached) on exit.

const children = new Set<ChildProcess>();
const exitHooks: Array<() => void> = [];

export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts }));
}

export function onExit(fn: () => void): void {
  exitHooks.push(fn);
}

export function killAll(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const fn of exitHooks.splice(0)) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
}

let installed = false;
/** Kill every child on exit, on SIGINT/SIGTERM, and after `hardMs` whatever happens. */
export function installCleanup(name: string, hardMs: number): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
  const t = setTimeout(() => {
    process.stderr.write(`\n${name}: over ${Math.round(hardMs / 1000)} s, giving up\n`);
    killAll();
    process.exit(1);
  }, hardMs);
  t.unref();
}

/** Stop a child: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// ---------------------------------------------------------------------------------------------
// /proc readings.

const CLK_TCK = 100; // USER_HZ on Linux

/** utime + stime of every thread of `pid`, in milliseconds; NaN when unreadable. */
export function cpuMs(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // Fields after the command: state is [0], utime is field 14 → [11], stime [12].
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Resident set size and its peak (VmHWM), in MB; NaN when unreadable. */
export function rssMB(pid: number): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'latin1');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

/** Busy and total CPU time of the whole machine (all cores), in ms, from /proc/stat. */
export function machineCpuMs(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice
    const idle = v[3] + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: ((total - idle) * 1000) / CLK_TCK, total: (total * 1000) / CLK_TCK };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** Wait until `pid` uses under `pct`% of a core over 250 ms (bounded); false if it never did. */
export async function waitIdle(pid: number, maxMs: number, pct = 5): Promise<boolean> {
  const end = Date.now() + maxMs;
  while (Date.now() < end) {
    const a = cpuMs(pid);
    await sleep(250);
    const b = cpuMs(pid);
    if (Number.isNaN(a) || Number.isNaN(b)) return false;
    if (((b - a) / 250) * 100 < pct) return true;
  }
  return false;
}

/** A currently free UDP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Output.

const t0 = Date.now();
export function progress(msg: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[${s} s] ${msg}\n`);
}

export function machine(): string {
  const c = cpus();
  const model = c[0]?.model?.trim() ?? '?';
  const mhz = c[0]?.speed ? ` @ ${c[0].speed} MHz` : '';
  return `${c.length} × ${model}${mhz}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}, Node ${process.version}`;
}

export function load(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

export function fmtInt(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

export function fmt(n: number | undefined, digits = 2): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  return n.toFixed(digits);
}

export function ratio(a: number, b: number, digits = 2): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return a > 0 && b === 0 ? '∞' : '–';
  const r = a / b;
  if (r >= 1000) return `${fmtInt(r)}×`;
  return `${r.toFixed(r >= 100 ? 0 : digits)}×`;
}
