// What every section of `npm run bench` (run.ts) shares: the run's options, its keys and work
// dir, the two load generators, the builds measured (this one, and a baseline with
// --baseline-js), and the rules every window is measured by: a quiet machine first, the
// measured daemon a little ahead in priority, a disturbed window measured again.
import { RequestType } from '../../shared/plj0/protocol.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { confdQuery } from '../../testkit/ganeti/plj0-client.js';
import { ganetiExampleKey } from '../../testkit/ganeti-key.js';
import { cpuMs, machineCpuMs } from '../../testkit/proc-stats.js';
import { fmt, fmtInt, progress } from './format.js';
import type { Job, LoadResult, Plj0Template } from './load-job.js';
import type { Report } from './report.js';
import { LoadGen, startQconfd, type StartedQconfd, type Target } from './targets.js';

export interface RunOptions {
  quick: boolean;
  /** Rounds of the interleaved measurements (the median is reported). */
  rounds: number;
  /** The measured window of the side-by-side section. */
  windowMs: number;
  /** The measured window of the scaling sections (generic documents, Ganeti configs). */
  scaleWindowMs: number;
  /** The qconfd measured: this build's dist/daemon/main.js unless --daemon-js names another. */
  daemonJs: string;
  /** --baseline-js: another build's dist/daemon/main.js, measured beside it. */
  baselineJs?: string;
  /** Where the charts go: beside the report that links them. */
  chartDir: string;
}

/** A qconfd build the run measures: the current one and, with --baseline-js, the baseline. */
export interface Build {
  role: 'current' | 'baseline';
  daemonJs: string;
}

/** Other processes' CPU above this (% of a core) during a window marks it as disturbed. */
const NOISY = 25;

/** A section of the run: measured first, rendered into the report once every section has run. */
export interface Section {
  name: string;
  run(): Promise<void>;
  render(report: Report): void;
}

export class RunContext {
  readonly work = mkdtempSync(join(tmpdir(), 'qconf-bench-'));
  /** The QCF1 key every qconfd of the run serves, and its key file. */
  readonly key = randomBytes(32).toString('hex');
  readonly keyFile = join(this.work, 'qconf.key');
  /** Ganeti's example hmac.key (plj0), and a copy qconfd may read. */
  readonly gkey = readFileSync(ganetiExampleKey());
  readonly gkeyFile = join(this.work, 'hmac.key');
  /** Generated Ganeti configs, kept between runs (making the 10,000-node one takes a while). */
  readonly configCache = join(tmpdir(), 'qconf-bench-configs');
  /** Two generators: the reload section drives QCF1 and plj0 at once. */
  readonly lg = new LoadGen();
  readonly lg2 = new LoadGen();
  /** Windows still disturbed when measured again, named in the report. */
  readonly noisyRuns: string[] = [];
  readonly current: Build;
  readonly baseline: Build | undefined;
  private turns = 0;

  constructor(readonly opts: RunOptions) {
    writeFileSync(this.keyFile, this.key + '\n', { mode: 0o600 });
    writeFileSync(this.gkeyFile, this.gkey, { mode: 0o600 });
    this.current = { role: 'current', daemonJs: opts.daemonJs };
    this.baseline = opts.baselineJs === undefined ? undefined : { role: 'baseline', daemonJs: opts.baselineJs };
  }

  /**
   * The builds to measure next, in turn: with a baseline, this build first and the baseline
   * first alternately, so that neither always meets the machine as the other left it.
   */
  nextTurn(): Build[] {
    if (this.baseline === undefined) return [this.current];
    return this.turns++ % 2 === 0 ? [this.current, this.baseline] : [this.baseline, this.current];
  }

  close(): void {
    this.lg.close();
    this.lg2.close();
    rmSync(this.work, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------------
  // Measuring.

  /** Run a job; a window disturbed by other processes is run again (once) after a pause. */
  async measure(label: string, job: Job, gen: LoadGen = this.lg): Promise<LoadResult> {
    prioritise([...job.pids, process.pid]);
    // Briefly wait for other processes to calm down (bounded: the run must finish).
    await quiet(4000);
    let r = await gen.run(job);
    if (r.otherCpuPct > NOISY) {
      progress(`  ${label}: other processes used ${r.otherCpuPct.toFixed(0)}% of a core; measuring again`);
      await quiet(10_000);
      const again = await gen.run(job);
      if (again.otherCpuPct < r.otherCpuPct) r = again;
      if (r.otherCpuPct > NOISY) this.noisyRuns.push(`${label} (other processes ${r.otherCpuPct.toFixed(0)}%)`);
    }
    progress(
      `  ${label}: ${fmtInt(r.qps)} q/s, p50 ${fmt(r.latencyMs.p50, 3)} ms, p99 ${fmt(r.latencyMs.p99, 3)} ms, daemon CPU ${fmt(r.daemonCpuPct, 0)}%` +
        `${r.lost ? `, lost ${r.lost}` : ''}${r.badReplies ? `, bad replies ${r.badReplies}` : ''}`,
    );
    return r;
  }

  /**
   * One pass over every distinct request of `job`, in order (bounded by two minutes): the window
   * that follows then measures the steady state, caches filled, whatever this machine's speed.
   */
  async warmPass(job: Job): Promise<void> {
    const n = job.bodies?.length ?? job.plj0?.length ?? 0;
    await this.lg.run({ ...job, inOrder: true, warmupMs: 0, durationMs: 120_000, maxRequests: n, expectRate: Math.max(n, 1) });
  }

  private base(): Omit<Job, 'kind' | 'targets' | 'pids'> {
    return { concurrency: 64, warmupMs: 1000, durationMs: this.opts.windowMs, maxRequests: 2_500_000, expectRate: 100_000, timeoutMs: 1000, verifyEvery: 128, seed: 1 };
  }

  qcf1Job(t: Target, bodies: string[], extra: Partial<Job> = {}): Job {
    return { ...this.base(), kind: 'qcf1', targets: loopback(t), pids: t.pids, bodies, key: this.key, expectRate: 110_000, ...extra };
  }

  plj0Job(t: Target, templates: Plj0Template[], extra: Partial<Job> = {}): Job {
    return { ...this.base(), kind: 'plj0', targets: loopback(t), pids: t.pids, plj0: templates, plj0Key: this.gkey.toString('base64'), expectRate: 110_000, ...extra };
  }

  // -------------------------------------------------------------------------------------------
  // Daemons.

  /** qconfd (this build's unless `build` says otherwise) serving `file`, with plj0 unless `ganeti: false`. */
  qconfd(file: string, opts: { ganeti?: boolean; readyTimeoutMs?: number } = {}, build: Build = this.current): Promise<StartedQconfd> {
    return startQconfd({
      file,
      keyFile: this.keyFile,
      ganetiKeyFile: opts.ganeti === false ? undefined : this.gkeyFile,
      readyTimeoutMs: opts.readyTimeoutMs,
      daemonJs: build.daemonJs,
    });
  }

  /** The plj0 ping answering status 0: the Ganeti view is served. */
  async plj0Ready(port: number, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      try {
        const r = await confdQuery({ port, hmacKey: this.gkey, type: RequestType.Ping, timeoutMs: 500 });
        if (r.status === 0) return;
      } catch {
        /* not yet */
      }
      await sleep(20);
    }
    throw new Error(`plj0 not ready on port ${port}`);
  }
}

const loopback = (t: { port: number }) => [{ host: '127.0.0.1', port: t.port }];

/** Best effort: the measured processes get a little priority over whatever else runs here. */
export function prioritise(pids: number[]): void {
  for (const pid of pids) {
    try {
      setPriority(pid, -5);
    } catch {
      /* not permitted: measured as they are */
    }
  }
}

/** Wait (bounded) until the machine's other load is low. */
export async function quiet(maxMs: number): Promise<void> {
  const end = Date.now() + maxMs;
  while (Date.now() < end) {
    const a = machineCpuMs();
    await sleep(500);
    const b = machineCpuMs();
    if (((b.busy - a.busy) / 500) * 100 < 20) return;
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

export function median<T>(xs: T[], key: (x: T) => number): T {
  const s = [...xs].sort((a, b) => key(a) - key(b));
  return s[Math.floor((s.length - 1) / 2)];
}
