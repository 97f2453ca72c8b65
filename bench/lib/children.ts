// The benchmarks' child processes: every one tracked and SIGKILLed when the benchmark exits,
// also on error, on SIGINT/SIGTERM and after a hard time limit. Unlike testkit/processes.ts,
// a child is spawned directly (no setpriv exec in its start time) and stays in this session:
// with the kernel's autogroup scheduling a session of its own would get its own share of the
// CPU, and a measured daemon would be measured under other conditions.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const children = new Set<ChildProcess>();
const exitHooks: Array<() => void> = [];

export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Spawn a tracked child; stdout and stderr are piped unless `opts.stdio` says otherwise. */
export function spawnChild(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts }));
}

/** Also run `fn` when the children are killed (temp dirs to remove, say). */
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
