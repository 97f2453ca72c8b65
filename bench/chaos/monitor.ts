// Direct pings to each daemon (not through its relay), one at a time, a few times a second:
// what each daemon serves, in the order it served it, for the rule that a daemon's serial never
// goes down. A raw request per ping (no quorum logic, which would refuse an older serial).
import { ConfdClient } from '../../client/confd-client.js';
import type { Keyring } from '../../shared/keyring.js';
import type { ChaosDaemon } from './chaos-daemon.js';
import type { Recorder } from './recorder.js';
import { sleep } from './timing.js';

const EVERY_MS = 200;
const PING_TIMEOUT_MS = 1000;

export async function monitor(daemons: readonly ChaosDaemon[], keyring: Keyring, rec: Recorder, stop: AbortSignal): Promise<void> {
  const client = new ConfdClient({ keyring, peers: daemons.map((d) => d.td.peer), retransmitMs: 200 });
  try {
    await Promise.all(
      daemons.map(async (d, i) => {
        const peer = client.peerList[i];
        while (!stop.aborted) {
          if (d.state === 'up') {
            const reply = await client.requestOne(peer, { op: 'ping' }, { timeoutMs: PING_TIMEOUT_MS }).reply;
            if (reply && reply.status === 0 && reply.serial > 0) rec.served(d.name, reply.serial, reply.instance);
          }
          await sleep(EVERY_MS, stop);
        }
      }),
    );
  } finally {
    client.close();
  }
}
