// A local mirror of a subtree, for agents that read config many times a second: filled by quorum
// reads, kept fresh by one held quorum wait on the whole subtree (not one per key), read
// synchronously with no datagram at all. While no quorum answers it keeps serving what it has
// (stale-if-error), says so (`stale`, `ageMs`, a status event), and catches up when the quorum is
// back. Changes are announced per path, as events and as an async iterator.
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { QconfError, isQconfError } from '../shared/errors.js';
import { escapeSegment, parsePointer, resolveSegments } from '../shared/json-pointer.js';
import type { ConfdClient } from './confd-client.js';
import type { MgetEntry } from './types.js';

/** Options of `client.mirror(prefix, options)`. */
export interface MirrorOptions<T = unknown> {
  /** No quorum for longer than this makes the mirror `stale` (default 15 s). */
  maxStalenessMs?: number;
  /**
   * How long each daemon holds the mirror's wait (default 5 s): also how often a quorum confirms
   * the mirror is current when nothing changes, so `ageMs` stays below about this.
   */
  holdMs?: number;
  /** How many of the peers each read and wait asks: default `min(peers, 6)`, -1 for all. */
  coverage?: number;
  /** Give up the first fill after this long (default 10 s; `ready` then rejects). */
  timeoutMs?: number;
  /** Check (and type) the subtree on every update; an update that fails it is not applied. */
  parse?: (v: unknown) => T;
}

/** A change at one path (relative pointer below the mirror's prefix; "" is the whole subtree). */
export interface MirrorChange {
  /** Tells the events apart. */
  type: 'change';
  /** Paths whose value changed, most specific first found (a parent path implies its children). */
  paths: string[];
  /** The serial the mirror holds now. */
  serial: number;
}

/** The mirror lost its quorum (`quorum: false`, it serves what it has) or found it again. */
export interface MirrorStatus {
  /** Tells the events apart. */
  type: 'status';
  /** Whether a quorum answers now. */
  quorum: boolean;
  /** The mirror's `stale`: no quorum for longer than `maxStalenessMs`. */
  stale: boolean;
  /** The mirror's `ageMs`: since a quorum last confirmed it current. */
  ageMs: number;
}

/** What a mirror announces: a change, or news of its quorum. */
export type MirrorEvent = MirrorChange | MirrorStatus;

/** How large a subtree one `mget` fetches at once when it does not fit in one reply. */
const MGET_BATCH = 64;
/** Parsed pointers kept for `get`. */
const POINTER_MEMO = 4096;
/** Batches of a large subtree read at once. */
const MGETS_IN_FLIGHT = 4;
/** A child listed but gone by the time it was read (the parts' serials then differ: read again). */
const ABSENT = Symbol('absent');
/** Attempts at a consistent fill (every part read at one serial) before waiting for the next change. */
const FILL_ATTEMPTS = 5;

/**
 * A subtree kept in memory (`client.mirror(prefix)`): `get` reads it with no I/O; `on('change')`
 * and `changes()` announce what changed. Close it (or `await using` it) when done.
 */
export class Mirror<T = unknown> {
  /** The subtree's JSON pointer. */
  readonly prefix: string;
  private value: unknown = undefined;
  private present = false;
  private etag: string | undefined;
  private serialNo = 0;
  /** When a quorum last confirmed the value current (ms). */
  private confirmedAt = 0;
  private lostAt = 0;
  private closed = false;
  private readonly ac = new AbortController();
  private readonly events = new EventEmitter<{ change: [MirrorChange]; status: [MirrorStatus] }>();
  private readonly waiting = new Set<(e: MirrorEvent | undefined) => void>();
  private readonly queue: MirrorEvent[] = [];
  /** Settles with the first fill: rejects with `no_quorum` when no quorum answered in `timeoutMs`. */
  readonly ready: Promise<void>;

  constructor(
    private readonly client: ConfdClient,
    prefix: string,
    private readonly o: MirrorOptions<T> = {},
  ) {
    const p = parsePointer(prefix);
    if (!p.ok) throw new QconfError('usage', `mirror prefix: ${p.message}`);
    this.prefix = prefix;
    this.ready = this.run();
    // The loop's failures are reported through `ready` (the first fill) and status events.
    this.ready.catch(() => undefined);
  }

  /** The serial of the snapshot the mirror holds (0 before the first fill). */
  get serial(): number {
    return this.serialNo;
  }

  /** Milliseconds since a quorum last confirmed the mirror current. */
  get ageMs(): number {
    return this.confirmedAt === 0 ? Infinity : Date.now() - this.confirmedAt;
  }

  /** No quorum for longer than maxStalenessMs: the mirror serves what it last had. */
  get stale(): boolean {
    return this.ageMs > (this.o.maxStalenessMs ?? 15_000);
  }

  /** The value at `path` below the prefix ("" or omitted: the whole subtree), or undefined. No I/O. */
  get<V = unknown>(path = ''): V | undefined {
    if (!this.present) return undefined;
    if (path === '') return this.value as V;
    let segments = this.pointers.get(path);
    if (segments === undefined) {
      const p = parsePointer(path);
      if (!p.ok) throw new QconfError('usage', p.message);
      // Agents read the same few paths again and again: parse each once (a bounded memo).
      if (this.pointers.size >= POINTER_MEMO) this.pointers.clear();
      this.pointers.set(path, (segments = p.segments));
    }
    return resolveSegments(this.value, segments) as V | undefined;
  }

  private readonly pointers = new Map<string, string[]>();

  /** The whole subtree, typed by `parse` when one was given. */
  get root(): T | undefined {
    return this.present ? (this.value as T) : undefined;
  }

  /** Calls `listener` with each change, synchronously, once the mirror holds it. */
  on(event: 'change', listener: (e: MirrorChange) => void): this;
  /** Calls `listener` when the quorum is lost or found again. */
  on(event: 'status', listener: (e: MirrorStatus) => void): this;
  on(event: 'change' | 'status', listener: (e: never) => void): this {
    this.events.on(event, listener as (e: MirrorEvent) => void);
    return this;
  }

  /** Removes a listener `on` added. */
  off(event: 'change' | 'status', listener: (e: never) => void): this {
    this.events.off(event, listener as (e: MirrorEvent) => void);
    return this;
  }

  /** Every change and status event from now on, until the mirror is closed. */
  async *changes(): AsyncGenerator<MirrorEvent, void, undefined> {
    for (;;) {
      const next = this.queue.shift() ?? (this.closed ? undefined : await new Promise<MirrorEvent | undefined>((r) => this.waiting.add(r)));
      if (next === undefined) return;
      yield next;
    }
  }

  /** Stops following the cluster (the held wait is abandoned) and ends `changes()`; `get` keeps answering from what it has. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ac.abort(new QconfError('closed', 'mirror is closed'));
    for (const w of [...this.waiting]) w(undefined);
    this.waiting.clear();
  }

  /** Closes the mirror (`close()`), for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private emit(e: MirrorEvent): void {
    if (e.type === 'change') this.events.emit('change', e);
    else this.events.emit('status', e);
    if (this.waiting.size > 0) {
      for (const w of [...this.waiting]) w(e);
      this.waiting.clear();
    } else if (this.queue.length < 10_000) {
      this.queue.push(e);
    }
  }

  /** The first fill, then one held wait after another; ends when the mirror is closed. */
  private async run(): Promise<void> {
    const first = await this.fill(this.o.timeoutMs ?? 10_000);
    if (!first) throw new QconfError('no_quorum', `no quorum to read ${JSON.stringify(this.prefix)}`);
    void this.follow();
  }

  private async follow(): Promise<void> {
    const hold = this.o.holdMs ?? 5000;
    while (!this.closed) {
      let r;
      try {
        r = await this.client.waitFor({ path: this.prefix, changedFrom: this.etag, afterSerial: this.serialNo }, { timeoutMs: hold + 1000, holdMs: hold, coverage: this.o.coverage, signal: this.ac.signal });
      } catch {
        // Closed (the mirror or its client): the loop ends.
        return;
      }
      if (r.kind === 'no_quorum') {
        if (this.lostAt === 0) this.lostAt = Date.now();
        this.emit({ type: 'status', quorum: false, stale: this.stale, ageMs: this.ageMs });
        continue;
      }
      // Refused (the daemons now require sealing): no answer, as without a quorum, and asked again
      // after a hold, not at once.
      if (!r.met && r.kind === 'error' && r.error.code === 'seal_required') {
        if (this.lostAt === 0) this.lostAt = Date.now();
        this.emit({ type: 'status', quorum: false, stale: this.stale, ageMs: this.ageMs });
        await sleep(hold, undefined, { signal: this.ac.signal }).catch(() => undefined);
        continue;
      }
      this.confirmedAt = Date.now();
      if (this.lostAt !== 0) {
        this.lostAt = 0;
        this.emit({ type: 'status', quorum: true, stale: false, ageMs: 0 });
      }
      if (!r.met) continue;
      // The wait's answer is the new value when it fits in a reply; else it is read in parts.
      if (r.kind === 'ok' || r.kind === 'not_found') this.apply(r.kind === 'ok', r.answer, r.etag, r.serial);
      else if (await this.fill(hold)) this.etag = r.etag;
    }
  }

  /** Read the subtree at one serial (in parts when it is too large for one reply); false: no quorum. */
  private async fill(timeoutMs: number): Promise<boolean> {
    for (let attempt = 0; attempt < FILL_ATTEMPTS && !this.closed; attempt++) {
      const serials = new Set<number>();
      let read: { found: boolean; value: unknown; etag: string | undefined } | undefined;
      try {
        read = await this.read(this.prefix, timeoutMs, serials);
      } catch (e) {
        // Refused for good (the key must seal): said as it is, not as a lost quorum.
        if (isQconfError(e, 'seal_required')) throw e;
        return false;
      }
      if (read === undefined) return false;
      // Parts from different snapshots are not one document: read again.
      if (serials.size > 1) continue;
      this.confirmedAt = Date.now();
      this.apply(read.found, read.value, read.etag, [...serials][0] ?? 0);
      return true;
    }
    return false;
  }

  private async read(path: string, timeoutMs: number, serials: Set<number>): Promise<{ found: boolean; value: unknown; etag: string | undefined } | undefined> {
    const signal = this.ac.signal;
    const r = await this.client.get(path, { timeoutMs, coverage: this.o.coverage, signal });
    if (r.kind === 'no_quorum') return undefined;
    if (r.kind === 'ok' || r.kind === 'not_found') serials.add(r.serial);
    if (r.kind === 'ok') return { found: true, value: r.answer, etag: r.etag };
    if (r.kind === 'not_found') return { found: false, value: undefined, etag: '' };
    // An error's serial says nothing (a client demanding verified answers takes it as 0): the
    // parts read next say which document they come from.
    if (r.error.code === 'seal_required') throw new QconfError('seal_required', `${path}: ${r.error.code}: ${r.error.message}`);
    if (r.error.code !== 'too_large') throw new QconfError('protocol', `${path}: ${r.error.code}: ${r.error.message}`);
    // Too large for one reply: its children, a batch of paths at a time.
    const names = await this.client.list(path, 1, { timeoutMs, coverage: this.o.coverage, signal });
    if (names.kind !== 'ok') return names.kind === 'no_quorum' ? undefined : Promise.reject(new QconfError('protocol', `${path}: cannot list it`));
    serials.add(names.serial);
    const isArray = names.container === 'array';
    const batches: string[][] = [];
    for (let i = 0; i < names.answer.length; i += MGET_BATCH) batches.push(names.answer.slice(i, i + MGET_BATCH));
    // A few batches in flight at once: a large subtree is read in a few round trips, not one per batch.
    const values: unknown[][] = new Array(batches.length);
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && next < batches.length) {
        const b = next++;
        const part = await this.readBatch(path, batches[b], timeoutMs, serials);
        if (part === undefined) failed = true;
        else values[b] = part;
      }
    };
    await Promise.all(Array.from({ length: Math.min(MGETS_IN_FLIGHT, batches.length) }, worker));
    if (failed) return undefined;
    const out: Record<string, unknown> | unknown[] = isArray ? [] : {};
    batches.forEach((names, b) =>
      names.forEach((name, j) => {
        const v = values[b][j];
        if (v === ABSENT) return;
        if (Array.isArray(out)) out.push(v);
        else out[name] = v;
      }),
    );
    return { found: true, value: out, etag: undefined };
  }

  /** One batch of children: their values in order (ABSENT for one gone meanwhile), or undefined: no quorum. */
  private async readBatch(path: string, names: string[], timeoutMs: number, serials: Set<number>): Promise<unknown[] | undefined> {
    const batch = names.map((n) => `${path}/${escapeSegment(n)}`);
    const m = await this.client.mget(batch, { timeoutMs, coverage: this.o.coverage, signal: this.ac.signal });
    if (m.kind !== 'ok') return undefined;
    serials.add(m.serial);
    const out: unknown[] = [];
    for (let j = 0; j < batch.length; j++) {
      const e: MgetEntry = m.answer[j];
      if (e.status === 0) out.push(e.answer);
      else if (e.error?.code === 'too_large') {
        const part = await this.read(batch[j], timeoutMs, serials);
        if (part === undefined) return undefined;
        out.push(part.value);
      } else out.push(ABSENT);
    }
    return out;
  }

  private apply(found: boolean, next: unknown, etag: string | undefined, serial: number): void {
    if (found && this.o.parse) {
      try {
        next = this.o.parse(next);
      } catch {
        return;
      }
    }
    const before = this.value;
    const had = this.present;
    this.value = found ? next : undefined;
    this.present = found;
    this.etag = etag ?? this.etag;
    this.serialNo = serial;
    const paths: string[] = [];
    if (had !== found) paths.push('');
    else if (found) diff(before, next, '', paths);
    if (paths.length > 0) this.emit({ type: 'change', paths, serial });
  }
}

/** The paths where `a` and `b` differ (a path whose container type changed stands for all below). */
function diff(a: unknown, b: unknown, at: string, out: string[]): void {
  if (a === b) return;
  const ca = a !== null && typeof a === 'object';
  const cb = b !== null && typeof b === 'object';
  if (!ca || !cb || Array.isArray(a) !== Array.isArray(b)) {
    out.push(at);
    return;
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  const keys = new Set([...ka, ...kb]);
  for (const k of keys) {
    const has = Object.prototype.hasOwnProperty;
    const pa = has.call(a, k);
    const pb = has.call(b, k);
    const child = `${at}/${escapeSegment(k)}`;
    if (pa !== pb) out.push(child);
    else diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], child, out);
  }
}
