// The library's instrumentation, the way undici instruments itself: every query and wait is
// traced on the node:diagnostics_channel tracing channel `qconf:query` (start, end, asyncStart,
// asyncEnd, error), with what it asked and what came of it. Free when nobody subscribes.
import { tracingChannel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';

/** The context object each event of `qconf:query` carries; the outcome fields are set at the end. */
export interface QueryTrace {
  /** The request's op (`get`, `mget`, `list`, `ping`, `stats`, `wait`). */
  op: string;
  /** The path asked about, when the op has one. */
  path?: string;
  /** Peers the client knows (it asks `coverage` of them). */
  peers: number;
  /** Daemons asked (hedging included). */
  sent?: number;
  /** Daemons that replied. */
  replies?: number;
  /** The serial of the result. */
  serial?: number;
  /** The result's kind (ok, not_found, no_quorum, error), or `aborted`, `closed`, `failed`. */
  outcome?: string;
  /** From the call to its end, in milliseconds. */
  durationMs?: number;
}

/** The name of the tracing channel every query and wait is traced on (`diagnostics_channel.tracingChannel`). */
export const QUERY_CHANNEL = 'qconf:query';
const channel = tracingChannel<unknown, QueryTrace>(QUERY_CHANNEL);

interface Outcome {
  kind: string;
  sent: number;
  replies: number;
  serial: number;
}

/** Run `fn` traced on `qconf:query` (untraced when nobody listens). */
export function traced<T extends Outcome>(what: { op: string; path?: string }, peers: number, fn: () => Promise<T>): Promise<T> {
  if (!channel.hasSubscribers) return fn();
  const t0 = performance.now();
  const ctx: QueryTrace = { op: what.op, path: what.path, peers };
  return channel.tracePromise(async () => {
    try {
      const r = await fn();
      Object.assign(ctx, { sent: r.sent, replies: r.replies, serial: r.serial, outcome: r.kind });
      return r;
    } catch (e) {
      const code = (e as { code?: unknown; name?: unknown }).code;
      ctx.outcome = code === 'closed' ? 'closed' : (e as { name?: unknown }).name === 'AbortError' ? 'aborted' : 'failed';
      throw e;
    } finally {
      ctx.durationMs = performance.now() - t0;
    }
  }, ctx);
}
