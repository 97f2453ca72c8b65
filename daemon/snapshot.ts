// An immutable replica snapshot: the document, its serial, and views derived from it once (the
// document never changes underneath them). It knows no protocol: each protocol service keeps
// its own caches per snapshot (daemon/reply-cache.ts), dropped with it.
import { QconfError } from '../shared/errors.js';
import type { SignedContent } from './document-signature.js';

export type ReplicaSource = 'file' | 'etcd';

export interface SnapshotInit {
  doc: unknown;
  serial: number;
  source: ReplicaSource;
  loadedAt?: number;
  /** Where it came from, for logs (a path, an etcd revision). */
  origin?: string;
  /** A signed document's signature and commitment (answers carry proofs). */
  signed?: SignedContent;
}

export class Snapshot {
  readonly doc: unknown;
  readonly serial: number;
  readonly source: ReplicaSource;
  readonly loadedAt: number;
  readonly origin: string;
  readonly signed: SignedContent | undefined;
  /** Views built over the document by protocol front ends (e.g. the Ganeti indexes). */
  private readonly views = new Map<string, unknown>();

  constructor(init: SnapshotInit) {
    this.doc = init.doc;
    this.serial = init.serial;
    this.source = init.source;
    this.loadedAt = init.loadedAt ?? Date.now();
    this.origin = init.origin ?? '';
    this.signed = init.signed;
  }

  /** Whether view `name` has been built (or is being built). */
  hasView(name: string): boolean {
    return this.views.has(name);
  }

  /** Install a view built elsewhere (e.g. incrementally, before the snapshot is served). */
  setView(name: string, v: unknown): void {
    this.views.set(name, v);
  }

  /** A view derived from the document once, on first use, then shared by every request. */
  view<T>(name: string, build: (doc: unknown) => T): T {
    if (this.views.has(name)) return this.views.get(name) as T;
    const v = build(this.doc);
    this.views.set(name, v);
    return v;
  }
}

export function isSerial(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Validate a parsed document for the file source: an object with a top-level `serial_no`. */
export function documentSerial(doc: unknown, origin: string): number {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new QconfError('document', `${origin}: the document is not a JSON object`);
  }
  const serial = (doc as Record<string, unknown>).serial_no;
  if (serial === undefined) throw new QconfError('document', `${origin}: no top-level serial_no`);
  if (!isSerial(serial)) throw new QconfError('document', `${origin}: serial_no is not a non-negative integer`);
  return serial;
}
