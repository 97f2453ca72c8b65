// A second client that keeps pinging a daemon while a test does something hostile to it, and
// records how long each ping took to be answered: the daemon's liveness as any client sees it.
// QCF1 pings always; plj0 pings too (alternating) when given the daemon's Ganeti key. (Its
// memory and CPU time: testkit/proc-stats.ts.)
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring } from '../../shared/keyring.js';
import { confdQuery } from '../../testkit/ganeti/plj0-client.js';
import { KEY_A } from '../../testkit/fixtures.js';

export interface PingSample {
  protocol: 'qcf1' | 'plj0';
  /** Milliseconds from sending the ping to its answer; Infinity when none came. */
  ms: number;
}

export class PingWatch {
  readonly samples: PingSample[] = [];
  private running = true;
  private readonly loop: Promise<void>;
  private readonly client: ConfdClient;

  /** Start pinging `port` every `everyMs` (each ping waits for its answer, up to `timeoutMs`). */
  constructor(
    readonly port: number,
    opts: { ganetiKey?: Buffer; everyMs?: number; timeoutMs?: number } = {},
  ) {
    // No retransmission within the deadline: a late answer is measured as late, not re-asked.
    this.client = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers: [`127.0.0.1:${port}`], retransmitMs: 60_000 });
    this.loop = this.run(opts.ganetiKey, opts.everyMs ?? 50, opts.timeoutMs ?? 5000);
  }

  private async run(ganetiKey: Buffer | undefined, everyMs: number, timeoutMs: number): Promise<void> {
    let n = 0;
    while (this.running) {
      const plj0 = ganetiKey !== undefined && n++ % 2 === 1;
      const t0 = performance.now();
      let answered: boolean;
      if (plj0) {
        answered = await confdQuery({ port: this.port, hmacKey: ganetiKey, type: 0, timeoutMs }).then(
          () => true,
          () => false,
        );
      } else {
        answered = !(await this.client.ping({ timeoutMs })).timedOut;
      }
      this.samples.push({ protocol: plj0 ? 'plj0' : 'qcf1', ms: answered ? performance.now() - t0 : Infinity });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  /** Stop pinging; resolves with every sample once the last ping is done. */
  async stop(): Promise<PingSample[]> {
    this.running = false;
    await this.loop;
    this.client.close();
    return this.samples;
  }

  /** The samples slower than `ms` (for an assertion message that shows them). */
  slowerThan(ms: number): PingSample[] {
    return this.samples.filter((s) => s.ms > ms);
  }
}

export interface LivenessReport {
  pings: number;
  /** Pings that got no answer. */
  lost: number;
  /** Longest time to an answer (a lost ping counts as the ping's whole deadline). */
  maxMs: number;
}

/** A PingWatch reduced to what most tests assert: no ping lost, none slower than a bound. */
export async function probeLiveness(port: number, everyMs = 50, lostAfterMs = 2000): Promise<{ stop(): Promise<LivenessReport> }> {
  const w = new PingWatch(port, { everyMs, timeoutMs: lostAfterMs });
  return {
    async stop() {
      const samples = await w.stop();
      const lost = samples.filter((p) => p.ms === Infinity).length;
      return { pings: samples.length, lost, maxMs: samples.reduce((m, p) => Math.max(m, p.ms === Infinity ? lostAfterMs : p.ms), 0) };
    },
  };
}
