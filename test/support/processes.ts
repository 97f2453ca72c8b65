// Child processes of a test file: each in its own process group, killed with its children when
// the test stops it, and at the latest when the test process exits (even after a failure).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

// With util-linux's setpriv, the kernel kills a child whose test process died without running
// its exit hooks (a SIGKILLed worker); setpriv execs the command, so the pid stays the child's.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
}

process.on('exit', () => {
  for (const c of live) killGroup(c, 'SIGKILL');
});

export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const [c, a] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', cmd, ...args]] : [cmd, args];
  const child = spawn(c, a, { ...opts, detached: true, stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Signal the child's group and wait for it to exit; SIGKILL after `graceMs`. */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    const t = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
    child.once('exit', (code, sig) => {
      clearTimeout(t);
      // The group may hold grandchildren; they go too.
      killGroup(child, 'SIGKILL');
      resolve({ code, signal: sig });
    });
    killGroup(child, signal);
  });
}

export async function killAll(): Promise<void> {
  await Promise.all([...live].map((c) => stopProcess(c, 'SIGKILL', 1000)));
}
