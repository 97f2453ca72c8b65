// A client process of the chaos run: a few ConfdClients, each making gets, mgets and waitFors
// in loops, the first also watching a path; every call is reported on stdout, one JSON line
// each (recorder.ts, `Report`). It stops when told ("stop" on stdin) or at its deadline,
// whichever comes first, lets the calls in flight end, and exits.
//
//   node dist/bench/chaos/client-worker.js '<WorkerConfig as JSON>'
import { setMaxListeners } from 'node:events';
import { createInterface } from 'node:readline';
import { ConfdClient } from '../../client/confd-client.js';
import { loadKeyring } from '../../shared/keyring.js';
import { seededRandom } from '../../testkit/random.js';
import { ClientCalls } from './client-calls.js';
import { FirstReplyReader, type Plant } from './planted.js';
import type { Report } from './recorder.js';

export interface WorkerConfig {
  name: string;
  seed: number;
  peers: string[];
  keyFile: string;
  clients: number;
  watchPath: string;
  /** Unix ms: stop by then even if not told. */
  deadline: number;
  plant?: Plant;
}

/** How long after the stop the calls in flight may take to end before the process gives up. */
const DRAIN_MS = 10_000;

async function main(): Promise<number> {
  const cfg = JSON.parse(process.argv[2] ?? '') as WorkerConfig;
  const rand = seededRandom(cfg.seed);
  const { keyring } = loadKeyring(cfg.keyFile);
  const emit = (r: Report) => process.stdout.write(JSON.stringify(r) + '\n');
  const stop = new AbortController();
  // Every sleep and fault of the run listens for the stop.
  setMaxListeners(1000, stop.signal);
  const deadline = setTimeout(() => stop.abort(), Math.max(0, cfg.deadline - Date.now()));
  createInterface({ input: process.stdin }).on('line', (l) => l.trim() === 'stop' && stop.abort());
  process.stdin.on('end', () => stop.abort());

  const clients: ConfdClient[] = [];
  const runs: ClientCalls[] = [];
  const loops: Promise<void>[] = [];
  let firstReply: FirstReplyReader | undefined;
  for (let i = 0; i < cfg.clients; i++) {
    const client = new ConfdClient({ keyring, peers: cfg.peers });
    clients.push(client);
    if (cfg.plant === 'first-reply' && i === 0) firstReply = new FirstReplyReader({ keyring, peers: cfg.peers });
    const calls = new ClientCalls({
      name: `${cfg.name}.c${i}`,
      client,
      rand: seededRandom(Math.floor(rand() * 2 ** 31)),
      emit,
      stop: stop.signal,
      firstReply: i === 0 ? firstReply : undefined,
      dropWatchEvents: cfg.plant === 'drop-watch-event',
    });
    runs.push(calls);
    loops.push(calls.reads(), calls.waits());
    if (i === 0) loops.push(calls.watch(cfg.watchPath, `${cfg.name}.w`));
  }
  await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  clearTimeout(deadline);
  // Every call ends by its own timeout; one that does not is reported (the checker's `hung`).
  const drained = await Promise.race([Promise.all(loops).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), DRAIN_MS).unref())]);
  if (!drained) for (const r of runs) r.reportUnfinished();
  for (const c of clients) c.close();
  firstReply?.close();
  return 0;
}

main().then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (e: unknown) => {
    process.stderr.write(`client worker failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
