// What the load generator (bench/loadgen.ts, a child process) is asked to do and what it
// reports back: a job (targets, requests, concurrency, window) and its result (queries/s,
// latency percentiles, the daemon's CPU and RSS, the other processes' CPU, serials, gaps).
// Shared by the child and every parent that sends it jobs.

export type LoadKind = 'qcf1' | 'plj0' | 'echo';

export interface Plj0Template {
  type: number;
  /** Omitted from the request when undefined. */
  query?: unknown;
}

export interface Job {
  kind: LoadKind;
  targets: Array<{ host: string; port: number }>;
  /** qcf1 / echo: MessagePack request bodies, base64. */
  bodies?: string[];
  /** qcf1: the key line (UTF-8), as in a key file. */
  key?: string;
  /** qcf1: seal every request's body (docs/protocol.md, "Sealed traffic"); replies come sealed. */
  seal?: boolean;
  /** plj0: raw hmac.key bytes, base64. */
  plj0Key?: string;
  plj0?: Plj0Template[];
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Pre-generated requests at most (the run stops early if they run out). */
  maxRequests: number;
  /** Rate the generator sizes its pre-generated requests for (queries/s). */
  expectRate: number;
  timeoutMs: number;
  /** Decode and verify every Nth reply (status, serial, MAC); 0: never. */
  verifyEvery: number;
  /** Processes whose CPU and RSS are reported (the daemon; all of a multi-process daemon). */
  pids: number[];
  seed: number;
  /** Send at most this many queries/s (0: as fast as replies come back). */
  rateLimit?: number;
  /** Take the bodies (templates) in order, cycling, instead of at random: a warm-up pass over each. */
  inOrder?: boolean;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  kind: LoadKind;
  sent: number;
  received: number;
  lost: number;
  late: number;
  windowMs: number;
  qps: number;
  latencyMs: Percentiles;
  daemonCpuPct: number;
  daemonRssMB: number;
  daemonHwmMB: number;
  loadgenCpuPct: number;
  /** CPU used by everything else on the machine during the window (% of one core): noise. */
  otherCpuPct: number;
  /** Sampled replies by status ("0", "1", "1:not_found", ...). */
  statuses: Record<string, number>;
  badReplies: number;
  /** Each serial seen in sampled replies, with when it was first seen (ms since the window began). */
  serials: Array<{ serial: number; firstMs: number }>;
  /** Longest time without any reply inside the window, and when it began (ms since window start). */
  maxGapMs: number;
  maxGapAtMs: number;
  exhausted: boolean;
  generateMs: number;
  /** Replies per 10 ms bin over the window (for reload timelines). */
  bins?: number[];
}

export function percentiles(samples: Float64Array, n: number): Percentiles {
  if (n === 0) return { p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  const s = samples.subarray(0, n).sort();
  const q = (p: number) => s[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: s[n - 1], mean: sum / n };
}
