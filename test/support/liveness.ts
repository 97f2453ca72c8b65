// A second client that keeps pinging a daemon while a test does something hostile to it, and
// records how long each ping took to be answered: the daemon's liveness as any client sees it.
// QCF1 pings always; plj0 pings too (alternating) when given the daemon's Ganeti key.
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring } from '../../shared/keyring.js';
import { confdQuery } from '../ganeti/harness.js';
import { KEY_A } from './fixtures.js';

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
