// Child processes that cannot outlive their parent: each in its own process group, killed with
// its children when stopped, and at the latest when this process exits (even after a failure).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

// With util-linux's setpriv, the kernel kills a child whose parent died without running its
// exit hooks (a SIGKILLed test worker); setpriv execs the command, so the pid stays the child's.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

const live = new Set<ChildProcess>();

/** Signal `child`'s whole group (its children too); a child already gone is left alone. */
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

/** SIGKILL what is left of an exited child's group (grandchildren it left behind). */
function killStragglers(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* ESRCH: nothing left */
  }
}

let hooked = false;

/** Spawn `cmd` in a group of its own; stdout and stderr are piped unless `opts.stdio` says otherwise. */
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  if (!hooked) {
    // Installed with the first child, not at import: importing has no effect.
    hooked = true;
    process.on('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL');
    });
  }
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
      killStragglers(child);
      resolve({ code, signal: sig });
    });
    killGroup(child, signal);
  });
}

/** Resolves once the child has exited and its stdout and stderr are drained (all its output read). */
export function closed(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const drained = child.stdout?.closed !== false && child.stderr?.closed !== false;
  if ((child.exitCode !== null || child.signalCode !== null) && drained) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
}
