// systemd's notify protocol (sd_notify(3)) without a native addon: readiness, status lines,
// watchdog pings and STOPPING=1, each sent by running `systemd-notify`.
//
// Why systemd-notify. The protocol is one AF_UNIX datagram to $NOTIFY_SOCKET, and Node's
// standard library cannot send AF_UNIX datagrams (node:dgram is UDP only; node:net is stream
// sockets). A native addon is ruled out, and a helper such as socat or python is not present
// everywhere; `systemd-notify` is, wherever systemd is.
//
// The race, and why there is none here. A message is attributed to a unit by the sender's
// cgroup, which PID 1 looks up when it processes the datagram; if the sender has already
// exited, the lookup fails and the message is ignored — even with NotifyAccess=all (see
// systemd-notify(1), "may be attributed to units correctly only if ..."). Since systemd 246,
// systemd-notify waits for PID 1 to process each message unless --no-block is given: after
// the message it sends BARRIER=1 with one end of a pipe (SCM_RIGHTS) and waits until PID 1
// closes it (sd_notify_barrier(3)). So it is still alive, in the unit's cgroup, when PID 1
// reads the message. We never pass --no-block. (Debian 12 ships systemd 252.)
//
// Attribution, and NotifyAccess=all. systemd-notify first tries to send with the credentials
// of its parent (qconfd) and, lacking privileges for that (qconfd has no capabilities), falls
// back to its own PID. A message from a PID other than the main one is accepted only with
// NotifyAccess=all, so the units set it. The cost: any process of the unit may send status —
// here that is qconfd and the systemd-notify children it starts, nothing else (the unit's
// system-call filter, no new privileges, no capabilities). systemd-analyze security counts it
// (0.2 of the exposure score).
//
// Cost. Each message forks a short-lived process. Messages are rare (start, each reload,
// stop, and a watchdog ping every WatchdogSec/2), spawned asynchronously from timers and
// reload callbacks, never from the datagram path; one runs at a time, in order, and a status
// or ping still queued is replaced by a newer one rather than piled up. Without NOTIFY_SOCKET
// (not started by systemd) nothing is ever spawned.
import { spawn } from 'node:child_process';

export type NotifyLog = (level: 'debug' | 'warn', fields: Record<string, unknown>, msg: string) => void;

export interface NotifierOptions {
  /** $NOTIFY_SOCKET; without it the notifier does nothing. */
  socket?: string;
  /** Watchdog interval requested by the manager (WATCHDOG_USEC), in microseconds. */
  watchdogUsec?: number;
  /** The program to run (default `systemd-notify`, looked up on PATH). */
  command?: string;
  /** Environment for the program (must carry NOTIFY_SOCKET). */
  env?: NodeJS.ProcessEnv;
  log?: NotifyLog;
  /** Longest a single systemd-notify may run before it is killed. */
  sendTimeoutMs?: number;
}

interface Message {
  fields: string[];
  /** A status-only message or a watchdog ping may be replaced by a newer one of its kind. */
  kind: 'status' | 'watchdog' | 'other';
}

/** One-line, bounded STATUS text (the protocol is newline-separated assignments). */
function statusText(s: string): string {
  const one = s.replace(/[\r\n]+/g, ' ').trim();
  return one.length > 200 ? one.slice(0, 197) + '...' : one;
}

export class Notifier {
  private readonly socket: string | undefined;
  private readonly watchdogUsec: number;
  private readonly command: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly log: NotifyLog;
  private readonly sendTimeoutMs: number;
  private readonly queue: Message[] = [];
  private busy = false;
  private disabled = false;
  private idle: Array<() => void> = [];
  private watchdogTimer: NodeJS.Timeout | undefined;
  /** Messages delivered (systemd-notify exited 0), for tests and logs. */
  sent = 0;

  constructor(opts: NotifierOptions = {}) {
    this.socket = opts.socket !== undefined && opts.socket !== '' ? opts.socket : undefined;
    this.watchdogUsec = opts.watchdogUsec ?? 0;
    this.command = opts.command ?? 'systemd-notify';
    this.env = opts.env ?? process.env;
    this.log = opts.log ?? (() => {});
    this.sendTimeoutMs = opts.sendTimeoutMs ?? 10_000;
  }

  /**
   * From the environment systemd gives a service: NOTIFY_SOCKET, and WATCHDOG_USEC (honoured
   * only when WATCHDOG_PID is absent or names this process, as sd_watchdog_enabled(3) does).
   */
  static fromEnv(env: NodeJS.ProcessEnv, log?: NotifyLog, pid = process.pid): Notifier {
    let watchdogUsec = 0;
    const usec = env.WATCHDOG_USEC;
    const wpid = env.WATCHDOG_PID;
    if (usec !== undefined && /^[0-9]+$/.test(usec) && (wpid === undefined || wpid === '' || wpid === String(pid))) {
      watchdogUsec = Number(usec);
    }
    return new Notifier({ socket: env.NOTIFY_SOCKET, watchdogUsec, env, log });
  }

  /** Whether messages are sent at all (NOTIFY_SOCKET set, systemd-notify usable). */
  get enabled(): boolean {
    return this.socket !== undefined && !this.disabled;
  }

  /** Watchdog ping interval in ms (half of WATCHDOG_USEC), or 0 when no watchdog is asked for. */
  get watchdogIntervalMs(): number {
    return this.enabled && this.watchdogUsec > 0 ? Math.max(1, Math.floor(this.watchdogUsec / 2000)) : 0;
  }

  /** READY=1 with a status line, in one datagram. */
  ready(status: string): void {
    this.enqueue({ fields: ['READY=1', `STATUS=${statusText(status)}`], kind: 'other' });
  }

  status(status: string): void {
    this.enqueue({ fields: [`STATUS=${statusText(status)}`], kind: 'status' });
  }

  stopping(status: string): void {
    this.stopWatchdog();
    this.enqueue({ fields: ['STOPPING=1', `STATUS=${statusText(status)}`], kind: 'other' });
  }

  /** Ping every WATCHDOG_USEC/2 while `healthy()` holds (a stuck event loop pings nothing). */
  startWatchdog(healthy: () => boolean = () => true): void {
    const every = this.watchdogIntervalMs;
    if (every === 0 || this.watchdogTimer) return;
    const ping = () => {
      if (healthy()) this.enqueue({ fields: ['WATCHDOG=1'], kind: 'watchdog' });
    };
    ping();
    this.watchdogTimer = setInterval(ping, every);
    this.watchdogTimer.unref();
  }

  stopWatchdog(): void {
    clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
  }

  /** Resolve once every queued message has been handed over (or after `timeoutMs`). */
  flush(timeoutMs = 5000): Promise<void> {
    if (!this.busy && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.idle.push(done);
    });
  }

  private enqueue(m: Message): void {
    if (!this.enabled) return;
    if (m.kind !== 'other') {
      // A newer status replaces a queued one; a ping already queued makes another pointless.
      const i = this.queue.findIndex((q) => q.kind === m.kind);
      if (i >= 0) {
        if (m.kind === 'status') this.queue[i] = m;
        return;
      }
    }
    this.queue.push(m);
    this.next();
  }

  private next(): void {
    if (this.busy) return;
    const m = this.queue.shift();
    if (m === undefined || !this.enabled) {
      this.queue.length = 0;
      const waiters = this.idle;
      this.idle = [];
      for (const w of waiters) w();
      return;
    }
    this.busy = true;
    let stderr = '';
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.busy = false;
      this.next();
    };
    const child = spawn(this.command, m.fields, { env: this.env, stdio: ['ignore', 'ignore', 'pipe'] });
    const timer = setTimeout(() => {
      this.log('warn', { event: 'notify_failed', reason: 'timeout', message: m.fields[0] }, `systemd-notify did not finish in ${this.sendTimeoutMs} ms`);
      child.kill('SIGKILL');
    }, this.sendTimeoutMs);
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 1000) stderr += d.toString();
    });
    child.once('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code ?? 'spawn';
      // Not installed or not runnable: stop trying, say so once. Anything else (a failed
      // fork under memory pressure) loses this message only.
      const permanent = code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR';
      if (permanent) this.disabled = true;
      this.log('warn', { event: 'notify_failed', reason: code, message: m.fields[0] }, `cannot run ${this.command}: ${err.message}${permanent ? '; systemd notifications are off' : ''}`);
      finish();
    });
    child.once('exit', (code, signal) => {
      if (code === 0) {
        this.sent++;
        this.log('debug', { event: 'notify', message: m.fields[0] }, 'notified the service manager');
      } else {
        this.log('warn', { event: 'notify_failed', reason: signal ?? `exit ${code}`, message: m.fields[0] }, `systemd-notify failed: ${stderr.trim()}`);
      }
      finish();
    });
  }
}
