#!/usr/bin/env node
// Several qconfd processes sharing one UDP port (node:cluster: the primary binds the socket and
// every worker reads datagrams from it; the kernel hands each datagram to one of them).
//
//   node dist/daemon/workers.js --workers N [qconfd flags...]
//
// An experiment, measured by bench/run.ts ("workers"), not wired into qconfd: each worker keeps
// its own replica, caches, counters and, above all, its own replay memory. A replayed datagram
// that the kernel hands to another worker than the original would be answered again (up to once
// per worker), which the protocol does not allow. Sharing the replay memory needs threads
// (SharedArrayBuffer) and per-thread sockets on one port (SO_REUSEPORT: dgram's `reusePort`,
// Node ≥ 22.12), which Node 20 lacks.
import cluster from 'node:cluster';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

export function runWorkers(n: number, args: string[]): void {
  cluster.setupPrimary({ exec: join(HERE, 'main.js'), args, silent: false });
  const workers = Array.from({ length: n }, () => cluster.fork());
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const w of workers) w.process.kill(signal);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => (sig === 'SIGHUP' ? workers.forEach((w) => w.process.kill('SIGHUP')) : stop(sig)));
  }
  let alive = n;
  cluster.on('exit', (_w, code) => {
    if (!stopping) stop('SIGTERM');
    if (--alive === 0) process.exit(code ?? 0);
  });
}

if (cluster.isPrimary && process.argv[1]?.endsWith('workers.js')) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--workers');
  const n = i >= 0 ? Math.max(1, Number(argv[i + 1]) || 1) : 2;
  if (i >= 0) argv.splice(i, 2);
  runWorkers(n, argv);
}
