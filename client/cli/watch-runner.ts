// `qconf watch PATH -- CMD [ARGS]`: runs a command once per change of a value, as etcdctl's
// `watch -- cmd` and consul-template do. One run at a time: changes during a run leave one more
// run queued (for the newest value); --debounce lets a burst of changes settle into one run. The
// value and its serial reach the command in its environment.
import { spawn, type ChildProcess } from 'node:child_process';

export interface WatchedValue {
  serial: number;
  exists: boolean;
  value?: unknown;
}

export interface RunnerOptions {
  /** The path as given (QCONF_WATCH_PATH). */
  path: string;
  command: string;
  args: readonly string[];
  debounceMs: number;
  /** The environment the command's own is made from. */
  env: NodeJS.ProcessEnv;
  /** A run failed (exit status ≠ 0, killed by a signal, or could not start): why, in words. */
  onFailure: (why: string) => void;
}

/** The command's environment for one value: the caller's, with QCONF_WATCH_*. */
export function watchEnv(base: NodeJS.ProcessEnv, path: string, v: WatchedValue): NodeJS.ProcessEnv {
  return {
    ...base,
    QCONF_WATCH_PATH: path,
    QCONF_WATCH_SERIAL: String(v.serial),
    QCONF_WATCH_EXISTS: v.exists ? '1' : '0',
    QCONF_WATCH_VALUE: v.exists ? JSON.stringify(v.value) : '',
  };
}

export class CommandRunner {
  /** The value the next run is for (the newest seen since the last run began). */
  private queued: WatchedValue | undefined;
  private running: ChildProcess | undefined;
  /** Settles when the run in progress (if any) has ended. */
  private current: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: RunnerOptions) {}

  /** A new value: run the command for it, after the debounce and after a run in progress. */
  change(v: WatchedValue): void {
    if (this.stopped) return;
    this.queued = v;
    if (this.o.debounceMs === 0) return this.next();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.next();
    }, this.o.debounceMs);
  }

  private next(): void {
    if (this.running !== undefined || this.stopped || this.queued === undefined || this.timer !== undefined) return;
    const v = this.queued;
    this.queued = undefined;
    this.current = this.run(v).then(() => this.next());
  }

  private run(v: WatchedValue): Promise<void> {
    return new Promise((resolve) => {
      const child = spawn(this.o.command, this.o.args, { stdio: ['ignore', 'inherit', 'inherit'], env: watchEnv(this.o.env, this.o.path, v) });
      this.running = child;
      let failed: string | undefined;
      let ended = false;
      const end = (why: string | undefined) => {
        if (ended) return;
        ended = true;
        this.running = undefined;
        failed ??= why;
        if (failed !== undefined && !this.stopped) this.o.onFailure(`${failed} (serial ${v.serial})`);
        resolve();
      };
      // A command that cannot start emits 'error' (and maybe no 'close').
      child.once('error', (e: NodeJS.ErrnoException) => end(`${this.o.command}: cannot be run (${e.code ?? e.message})`));
      child.once('close', (code, signal) => end(signal ? `${this.o.command} was killed by ${signal}` : code !== 0 ? `${this.o.command} exited with ${code}` : undefined));
    });
  }

  /** No more runs; a run in progress is sent SIGTERM (SIGKILL after `graceMs`) and awaited. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const child = this.running;
    if (child === undefined) return;
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.current;
    clearTimeout(kill);
  }
}
