// One client's calls under chaos, each recorded as the checker needs it: gets and mgets of
// random paths, waitFors of conditions that will come true (a newer serial, a changed value, a
// mode among three, a subtree appearing or disappearing), and one watch. Every loop is bounded
// by its stop signal, and every call by its timeout.
import type { ConfdClient } from '../../client/confd-client.js';
import type { MgetEntry, QueryResult } from '../../client/index.js';
import type { WaitCondition, WaitResult } from '../../client/wait-for.js';
import { MODES, READ_PATHS } from './document.js';
import { ABSENT, type Digest, type ReadRecord, type WaitConditionRecord } from './history.js';
import { droppingEvents, type FirstReplyReader } from './planted.js';
import type { Report } from './recorder.js';
import { sleep, uniform } from './timing.js';
import { digestOf } from './value-digest.js';

const GET_TIMEOUT_MS = 3000;
/**
 * How long a watch's daemons hold each request, and how often it checks its quorum. The hold also
 * caps its retransmission interval (client/wait-for.ts): about 1.2 s, within the checker's
 * recovery time for a daemon that is reachable again.
 */
const WATCH_HOLD_MS = 1000;
const WATCH_CHECK_MS = 4000;

export interface CallsOptions {
  name: string;
  client: ConfdClient;
  rand: () => number;
  emit: (r: Report) => void;
  stop: AbortSignal;
  /** The planted first-reply client, used for gets instead of `client`. */
  firstReply?: FirstReplyReader;
  dropWatchEvents?: boolean;
}

/** A quorum result as the checker records it: a value (with its serial), or why there is none. */
function outcomeOf(r: QueryResult<unknown>): Pick<ReadRecord, 'outcome' | 'serial' | 'detail'> {
  if (r.kind === 'ok' || r.kind === 'not_found') return { outcome: 'value', serial: r.serial };
  if (r.kind === 'no_quorum') return { outcome: 'unavailable', detail: r.error.message };
  return { outcome: 'error', detail: r.error.code };
}

function valueOf(r: QueryResult<unknown>): Digest {
  return r.kind === 'ok' ? digestOf(r.answer) : ABSENT;
}

function entryDigest(e: MgetEntry): Digest {
  if (e.status === 0) return digestOf(e.answer);
  if (e.error?.code === 'not_found') return ABSENT;
  return `error:${e.error?.code ?? e.status}`;
}

export class ClientCalls {
  private seq = 0;
  /** What this client last read at each path: a changedFrom wait starts from it. */
  private readonly known = new Map<string, { etag: string | undefined; digest: Digest }>();
  private newest = 0;
  /** Calls made and not yet ended. */
  private readonly inflight = new Set<Omit<ReadRecord, 'client' | 'seq' | 'completedAt' | 'outcome'>>();

  constructor(private readonly o: CallsOptions) {}

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.o.rand() * items.length)];
  }

  /** Track a call from its start; the returned function records how it ended. */
  private begin(base: Omit<ReadRecord, 'client' | 'seq' | 'completedAt' | 'outcome'>): (r: Partial<ReadRecord> & Pick<ReadRecord, 'outcome'>) => void {
    this.inflight.add(base);
    return (r) => {
      this.inflight.delete(base);
      this.record({ ...base, ...r });
    };
  }

  /** Report the calls that have not ended (the run is over): the checker counts them as hung. */
  reportUnfinished(): void {
    for (const base of this.inflight) this.record({ ...base, outcome: 'unfinished' });
    this.inflight.clear();
  }

  private record(r: Omit<ReadRecord, 'client' | 'seq' | 'completedAt'>): void {
    const read: ReadRecord = { client: this.o.name, seq: this.seq++, completedAt: Date.now(), ...r };
    if (read.outcome === 'value' && (read.serial ?? 0) > this.newest) this.newest = read.serial ?? 0;
    this.o.emit({ t: 'read', read });
  }

  /** Gets and mgets until stopped. */
  async reads(): Promise<void> {
    while (!this.o.stop.aborted) {
      if (this.o.rand() < 0.6) await this.get(this.pick(READ_PATHS));
      else await this.mget();
      await sleep(uniform(this.o.rand, 10, 120), this.o.stop);
    }
  }

  private async get(path: string): Promise<void> {
    const invokedAt = Date.now();
    const end = this.begin({ op: 'get', invokedAt, timeoutMs: GET_TIMEOUT_MS });
    try {
      if (this.o.firstReply) {
        const reply = await this.o.firstReply.get(path, GET_TIMEOUT_MS);
        if (reply === undefined) return end({ outcome: 'unavailable' });
        const found = reply.status === 0;
        if (!found && reply.error?.code !== 'not_found') return end({ outcome: 'error', detail: reply.error?.code });
        return end({ outcome: 'value', serial: reply.serial, values: { [path]: found ? digestOf(reply.answer) : ABSENT } });
      }
      const r = await this.o.client.get(path, { timeoutMs: GET_TIMEOUT_MS });
      const out = outcomeOf(r);
      if (out.outcome === 'value') this.known.set(path, { etag: r.kind === 'ok' ? r.etag : undefined, digest: valueOf(r) });
      end({ ...out, values: out.outcome === 'value' ? { [path]: valueOf(r) } : undefined });
    } catch (e) {
      end({ outcome: 'threw', detail: (e as Error).message });
    }
  }

  private async mget(): Promise<void> {
    const paths = [...new Set(Array.from({ length: 2 + Math.floor(this.o.rand() * 3) }, () => this.pick(READ_PATHS)))];
    const invokedAt = Date.now();
    const end = this.begin({ op: 'mget', invokedAt, timeoutMs: GET_TIMEOUT_MS });
    try {
      const r = await this.o.client.mget(paths, { timeoutMs: GET_TIMEOUT_MS });
      const out = outcomeOf(r);
      let values: Record<string, Digest> | undefined;
      if (r.kind === 'ok') values = Object.fromEntries(paths.map((p, i) => [p, r.answer[i] ? entryDigest(r.answer[i]) : 'missing']));
      else if (out.outcome === 'value') out.outcome = 'error';
      end({ ...out, values });
    } catch (e) {
      end({ outcome: 'threw', detail: (e as Error).message });
    }
  }

  /** waitFors until stopped. */
  async waits(): Promise<void> {
    while (!this.o.stop.aborted) {
      await this.waitOnce();
      await sleep(uniform(this.o.rand, 10, 200), this.o.stop);
    }
  }

  /** A condition likely to come true within a few publishes, and its record. */
  private condition(): [WaitCondition, WaitConditionRecord] {
    const r = this.o.rand();
    if (r < 0.3) {
      const minSerial = this.newest + 1;
      return [{ minSerial, path: '/cfg/a' }, { kind: 'minSerial', path: '/cfg/a', minSerial }];
    }
    if (r < 0.55 && this.known.size > 0) {
      const path = this.pick([...this.known.keys()]);
      const k = this.known.get(path) as { etag: string | undefined; digest: Digest };
      return [{ path, changedFrom: k.etag }, { kind: 'changedFrom', path, from: k.digest }];
    }
    if (r < 0.8) {
      const mode = this.pick(MODES);
      return [{ path: '/cfg/mode', equals: mode }, { kind: 'equals', path: '/cfg/mode', value: digestOf(mode) }];
    }
    return this.o.rand() < 0.5 ? [{ path: '/toggle', exists: true }, { kind: 'exists', path: '/toggle' }] : [{ path: '/toggle', absent: true }, { kind: 'absent', path: '/toggle' }];
  }

  private async waitOnce(): Promise<void> {
    const [cond, condition] = this.condition();
    const timeoutMs = Math.round(uniform(this.o.rand, 1500, 6000));
    const invokedAt = Date.now();
    const end = this.begin({ op: 'waitFor', invokedAt, timeoutMs, condition });
    try {
      const r: WaitResult<unknown> = await this.o.client.waitFor(cond, { timeoutMs });
      if (!r.met) {
        const outcome = r.kind === 'no_quorum' ? 'unavailable' : r.kind === 'error' && r.error.code === 'timeout' ? 'timeout' : 'error';
        // Each daemon's last reply, to tell a slow quorum from a lost one when reading a history.
        const peers = r.peers.map((p) => `${p.node ?? p.peer}:${p.status}@${p.serial}`).join(' ');
        return end({ met: false, outcome, detail: `${r.error?.code}: ${r.error?.message} [${peers}]` });
      }
      const out = outcomeOf(r);
      end({ met: true, ...out, values: out.outcome === 'value' ? { [condition.path]: valueOf(r) } : undefined });
    } catch (e) {
      end({ outcome: 'threw', detail: (e as Error).message });
    }
  }

  /** Watch `path` until stopped; every change is reported as it is yielded. */
  async watch(path: string, id: string): Promise<void> {
    const ac = new AbortController();
    const { emit } = this.o;
    emit({ t: 'watch-start', id, client: this.o.name, path, at: Date.now() });
    const onStop = () => {
      emit({ t: 'watch-stop', id, at: Date.now() });
      ac.abort();
    };
    this.o.stop.addEventListener('abort', onStop, { once: true });
    if (this.o.stop.aborted) onStop();
    try {
      const events = this.o.client.watch(path, { signal: ac.signal, holdMs: WATCH_HOLD_MS, checkEveryMs: WATCH_CHECK_MS });
      for await (const ev of this.o.dropWatchEvents ? droppingEvents(events) : events) {
        if (ev.type === 'change') emit({ t: 'watch-event', id, at: Date.now(), serial: ev.serial, value: ev.exists ? digestOf(ev.value) : ABSENT });
        else emit({ t: 'watch-status', id, at: Date.now(), quorum: ev.quorum, replies: ev.replies });
      }
    } catch (e) {
      if (!ac.signal.aborted) emit({ t: 'problem', text: `watch ${id} of ${path} failed: ${(e as Error).message}` });
    } finally {
      emit({ t: 'watch-end', id, at: Date.now() });
    }
  }
}
