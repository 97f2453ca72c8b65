// What a chaos run records, and all the checker looks at: publishes, reads, watches, what each
// daemon held and whether clients could reach it, what each daemon answered a direct ping with,
// and the faults injected. Times are Unix milliseconds (Date.now()) of the one machine clock
// every process of a run shares.

/** A value's digest (value-digest.ts); ABSENT for a path with no value. */
export type Digest = string;
export const ABSENT: Digest = 'absent';

/** One publish: a whole document, given a serial. */
export interface PublishRecord {
  serial: number;
  /** When the publisher began writing it (before any daemon could hold it). */
  invokedAt: number;
  /** When a majority of daemons was first seen holding it or a newer one (majorityTimes()). */
  majorityAt?: number;
  /** The whole document's digest. */
  digest: Digest;
  /** The digest of the value at each path the clients read and watch. */
  values: Record<string, Digest>;
}

/**
 * From `at` on, `daemon`'s replica holds `serial` (0: none). Increases are recorded when seen
 * in the daemon's log (after the fact); losses (a restart with an empty or older replica) when
 * the fault is injected (before the fact): so the record never claims more than was held.
 */
export interface HoldEvent {
  at: number;
  daemon: string;
  serial: number;
}

/**
 * From `at` on, clients can (or cannot) reach `daemon`: it runs, is not paused, and its link
 * loses nothing. Recorded when a fault begins (before it bites) and when it ends.
 */
export interface AvailabilityEvent {
  at: number;
  daemon: string;
  available: boolean;
}

/** What `daemon` answered a direct ping with, in the order the pings were made. */
export interface ServedObservation {
  at: number;
  daemon: string;
  serial: number;
  instance?: string;
}

/** What a `waitFor` waited for, with values as digests. */
export type WaitConditionRecord =
  | { kind: 'minSerial'; path: string; minSerial: number }
  | { kind: 'changedFrom'; path: string; from: Digest }
  | { kind: 'equals'; path: string; value: Digest }
  | { kind: 'exists'; path: string }
  | { kind: 'absent'; path: string };

/**
 * How a call ended: `value` a quorum answered (with `serial` and `values`); `unavailable` no
 * quorum; `timeout` a wait not met in time; `error` an error result (its code in `detail`);
 * `threw` the call rejected; `unfinished` it had not ended when the run stopped.
 */
export type ReadOutcome = 'value' | 'unavailable' | 'timeout' | 'error' | 'threw' | 'unfinished';

export interface ReadRecord {
  /** The client (one ConfdClient) that made the call. */
  client: string;
  /** Order in which this client's calls ended. */
  seq: number;
  op: 'get' | 'mget' | 'waitFor';
  invokedAt: number;
  completedAt: number;
  timeoutMs: number;
  outcome: ReadOutcome;
  serial?: number;
  /** What the call returned, by path. */
  values?: Record<string, Digest>;
  condition?: WaitConditionRecord;
  met?: boolean;
  detail?: string;
}

export interface WatchEventRecord {
  at: number;
  serial: number;
  value: Digest;
}

export interface WatchRecord {
  id: string;
  client: string;
  path: string;
  startedAt: number;
  /** When the watch was asked to stop (its signal aborted). */
  stopAt?: number;
  /** When its iterator ended (undefined: it never did). */
  endedAt?: number;
  events: WatchEventRecord[];
  /** When the watch said it lost or found its quorum (for reading a history; no rule uses it). */
  statuses?: { at: number; quorum: boolean; replies: number }[];
}

export interface FaultRecord {
  at: number;
  kind: string;
  target?: string;
  detail?: string;
}

export interface History {
  /** A name for messages ("file", "etcd"). */
  phase: string;
  source: 'file' | 'etcd';
  seed: number;
  daemons: string[];
  /** When the phase's load ended: open intervals are closed here. */
  endedAt: number;
  publishes: PublishRecord[];
  reads: ReadRecord[];
  watches: WatchRecord[];
  holds: HoldEvent[];
  availability: AvailabilityEvent[];
  served: ServedObservation[];
  faults: FaultRecord[];
}
