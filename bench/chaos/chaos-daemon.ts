// One daemon of the chaos cluster: a real qconfd child process (testkit's TestDaemon) that can be
// killed, restarted and paused, whose log is read as it is written to learn which serial it
// holds, and the faulty relay in front of it that clients talk through.
import { TestDaemon, type DaemonOptions } from '../../testkit/daemons.js';
import type { Recorder } from './recorder.js';
import { CLEAN, FaultyRelay, type LinkFaults, type StaleOptions } from './relay.js';

/** Events whose `serial` is the serial the daemon now serves (null: none). */
const SERVING_EVENTS = new Set(['start', 'reload']);
/** Events that are defects whatever the faults. */
const DEFECT_EVENTS = new Set(['internal_error', 'fatal']);

export type DaemonState = 'down' | 'up' | 'paused';

export class ChaosDaemon {
  readonly td: TestDaemon;
  state: DaemonState = 'down';
  private relayed: FaultyRelay | undefined;
  /** How far the daemon's output has been read. */
  private offset = 0;
  /** A stop the harness asked for: its exit is no problem. */
  private stopping = false;

  constructor(
    readonly name: string,
    opts: DaemonOptions,
    private readonly rec: Recorder,
  ) {
    this.td = new TestDaemon({ ...opts, nodeName: name, logLevel: 'info' });
  }

  get relay(): FaultyRelay {
    if (!this.relayed) throw new Error(`daemon ${this.name} has no relay yet`);
    return this.relayed;
  }

  /** Where clients reach it: its relay. */
  get front(): string {
    return `127.0.0.1:${this.relay.port}`;
  }

  /** Start the process (again) and wait for its ping answer; its log is followed from now on. */
  async start(): Promise<void> {
    this.offset = this.td.output.length;
    this.stopping = false;
    await this.td.start();
    const child = this.td.child;
    this.state = 'up';
    child.stdout?.on('data', () => this.scan());
    child.once('exit', (code, signal) => {
      this.scan();
      this.state = 'down';
      this.rec.setFlags(this.name, { running: false, paused: false });
      if (!this.stopping) this.rec.problem(`daemon ${this.name} exited by itself (${signal ?? `status ${code}`}):\n${this.td.output.slice(-2000)}`);
    });
    this.scan();
    this.rec.setFlags(this.name, { running: true, paused: false });
  }

  /** The relay in front of it, on its first advertised port (made once, after the first start). */
  async startRelay(seed: number, stale?: StaleOptions): Promise<void> {
    this.relayed = await new FaultyRelay(this.td.frontPorts[0], this.td.port, seed, stale).start();
  }

  /** Read the complete log lines written since the last look. */
  private scan(): void {
    const out = this.td.output;
    const end = out.lastIndexOf('\n');
    if (end < this.offset) return;
    const text = out.slice(this.offset, end);
    this.offset = end + 1;
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      const event = String(o.event);
      if (SERVING_EVENTS.has(event)) this.rec.hold(this.name, typeof o.serial === 'number' ? o.serial : 0);
      if (DEFECT_EVENTS.has(event)) this.rec.problem(`daemon ${this.name} logged ${event}: ${line}`);
    }
  }

  /** SIGKILL it (a crash); clients cannot reach it from this moment. */
  async kill(): Promise<void> {
    this.stopping = true;
    this.rec.setFlags(this.name, { running: false });
    await this.td.stop('SIGKILL');
    this.state = 'down';
  }

  /** SIGSTOP its process group: requests queue up, and are answered late after resume(). */
  pause(): void {
    if (this.state !== 'up') return;
    this.rec.setFlags(this.name, { paused: true });
    process.kill(-(this.td.child.pid as number), 'SIGSTOP');
    this.state = 'paused';
  }

  resume(): void {
    if (this.state !== 'paused') return;
    process.kill(-(this.td.child.pid as number), 'SIGCONT');
    this.state = 'up';
    this.rec.setFlags(this.name, { paused: false });
  }

  /** Change its link's faults; a lossy link makes it unreachable for the checker's watch rule. */
  setLink(toDaemon: LinkFaults, toClient: LinkFaults = toDaemon): void {
    this.relay.setFaults(toDaemon, toClient);
    this.rec.setFlags(this.name, { linkClean: toDaemon.loss === 0 && toClient.loss === 0 });
  }

  healLink(): void {
    this.setLink(CLEAN);
  }

  /** Stop for good at the end of a phase (the relay too). */
  async close(): Promise<void> {
    this.stopping = true;
    if (this.state !== 'down') await this.td.stop('SIGKILL').catch(() => undefined);
    this.state = 'down';
    await this.relayed?.close();
  }
}
