// Floods of dropped datagrams are summarised: one log line per interval with the counts by
// reason since the previous line, never one line per datagram.
import type { Logger } from 'pino';
import type { Stats } from './stats.js';

export function startDropSummary(stats: Stats, log: Logger, intervalMs = 10_000): () => void {
  let last: Record<string, number> = {};
  const timer = setInterval(() => {
    const delta: Record<string, number> = {};
    let total = 0;
    for (const [reason, n] of Object.entries(stats.drops)) {
      const d = n - (last[reason] ?? 0);
      if (d > 0) {
        delta[reason] = d;
        total += d;
      }
    }
    last = { ...stats.drops };
    if (total > 0) log.warn({ event: 'drops', total, reasons: delta, intervalMs }, `dropped ${total} datagrams`);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
