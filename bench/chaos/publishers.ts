// The publishers of the two phases. File: each daemon has its own replica file; a publish
// writes the new document to a random majority first and to the others later, each after its
// own delay, as a real distribution would. etcd: a publish is one transaction (`qconf
// publish --etcd`'s own code), made only while etcd runs; a transaction whose outcome was lost
// is looked up afterwards.
import { rmSync } from 'node:fs';
import { publishToEtcd } from '../../client/cli/publish-to.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import { etcd3Options, prefixRangeEnd, type EtcdConnection } from '../../shared/etcd-connection.js';
import { etcdKeyPrefix, kvsToDocument } from '../../shared/etcd-mapping.js';
import { writeAtomic } from '../../testkit/fixtures.js';
import type { ChaosDaemon } from './chaos-daemon.js';
import { initialDoc, nextDoc, valuesOf, type ChaosDoc } from './document.js';
import type { Recorder } from './recorder.js';
import { Timers, uniform } from './timing.js';
import { digestOf } from './value-digest.js';

export interface Publisher {
  /** Publish the next document (may do nothing, e.g. while etcd is down). */
  publish(): Promise<void>;
  readonly serial: number;
  stop(): void;
}

/** How long the daemons outside the first majority wait for a publish, at most (ms). */
const LATER_MS = 2500;
/** How long a daemon restarted empty waits for the current document, at most (ms). */
const REPAIR_MS = 3000;

export class FilePublisher implements Publisher {
  private doc = initialDoc();
  serial = 1;
  /** The serial in each daemon's file (0: no file). */
  private readonly fileSerial = new Map<string, number>();
  private readonly timers = new Timers();

  constructor(
    private readonly daemons: readonly ChaosDaemon[],
    private readonly rand: () => number,
    private readonly rec: Recorder,
  ) {}

  /** The document as a file replica holds it. */
  private served(): Record<string, unknown> {
    return { serial_no: this.serial, ...this.doc };
  }

  /** The first document, written before the daemons start. */
  initial(): Record<string, unknown> {
    const served = this.served();
    this.rec.publish({ serial: this.serial, invokedAt: Date.now(), digest: digestOf(served), values: valuesOf(served) });
    for (const d of this.daemons) this.fileSerial.set(d.name, this.serial);
    return served;
  }

  async publish(): Promise<void> {
    this.doc = nextDoc(this.doc, this.rand);
    this.serial++;
    const served = this.served();
    this.rec.publish({ serial: this.serial, invokedAt: Date.now(), digest: digestOf(served), values: valuesOf(served) });
    const order = shuffle(this.daemons, this.rand);
    const first = Math.floor(order.length / 2) + 1;
    for (const d of order.slice(0, first)) this.deliver(d);
    for (const d of order.slice(first)) this.timers.after(uniform(this.rand, 0, LATER_MS), () => this.deliver(d));
  }

  /** Write the newest document to `d`'s file, unless it already has it. */
  private deliver(d: ChaosDaemon): void {
    if ((this.fileSerial.get(d.name) ?? 0) >= this.serial) return;
    writeAtomic(d.td.file, this.served());
    this.fileSerial.set(d.name, this.serial);
  }

  /** Remove `d`'s replica file (it restarts empty); the current document reaches it later. */
  empty(d: ChaosDaemon): void {
    rmSync(d.td.file, { force: true });
    this.fileSerial.set(d.name, 0);
    this.timers.after(uniform(this.rand, 500, REPAIR_MS), () => this.deliver(d));
  }

  /** Daemons whose file is behind the newest publish. */
  behind(): ChaosDaemon[] {
    return this.daemons.filter((d) => (this.fileSerial.get(d.name) ?? 0) < this.serial);
  }

  stop(): void {
    this.timers.clear();
  }
}

export class EtcdPublisher implements Publisher {
  private doc = initialDoc();
  serial = 0;
  /** While false (etcd stopped), publishes are skipped. */
  etcdUp = true;
  private busy: Promise<void> = Promise.resolve();

  constructor(
    private readonly conn: EtcdConnection,
    private readonly rand: () => number,
    private readonly rec: Recorder,
  ) {}

  /** Run `fn` when no publish is in flight (etcd is stopped only between transactions). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.busy.then(fn);
    this.busy = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  initial(): Promise<void> {
    return this.exclusive(() => this.put(this.doc));
  }

  publish(): Promise<void> {
    return this.exclusive(async () => {
      if (!this.etcdUp) return;
      await this.put(nextDoc(this.doc, this.rand));
    });
  }

  private async put(doc: ChaosDoc): Promise<void> {
    const invokedAt = Date.now();
    let serial: number | undefined;
    try {
      serial = (await publishToEtcd(this.conn, doc)).serial;
    } catch (e) {
      serial = await this.lookUp(doc);
      if (serial === undefined) this.rec.problem(`etcd publish failed and was not applied: ${(e as Error).message}`);
    }
    if (serial === undefined) return;
    this.doc = doc;
    this.serial = serial;
    this.rec.publish({ serial, invokedAt, digest: digestOf(doc), values: valuesOf(doc) });
  }

  /**
   * Whether a transaction whose answer was lost was applied: the prefix read back equals `doc`.
   * Then its serial is the newest key's revision (every publish changes /cfg/a).
   */
  private async lookUp(doc: ChaosDoc): Promise<number | undefined> {
    const { Etcd3 } = await import('etcd3');
    const client = new Etcd3(etcd3Options(this.conn.endpoints, {}, 5000));
    try {
      const pfx = etcdKeyPrefix(this.conn.prefix);
      const res = await client.kv.range({ key: Buffer.from(pfx), range_end: prefixRangeEnd(pfx) });
      const kvs = res.kvs.map((kv) => ({ key: kv.key.toString('utf8'), value: kv.value.toString('utf8') }));
      if (canonicalJson(kvsToDocument(this.conn.prefix, kvs).doc) !== canonicalJson(doc)) return undefined;
      return Math.max(...res.kvs.map((kv) => Number(kv.mod_revision)));
    } catch {
      return undefined;
    } finally {
      client.close();
    }
  }

  stop(): void {
    this.etcdUp = false;
  }
}

function shuffle<T>(items: readonly T[], rand: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
