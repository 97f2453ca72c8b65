// Watching a daemon stay responsive while a test attacks it: another client pings it every
// `everyMs` from its own socket and records how long each ping took to be answered. Also the
// daemon's resident memory, read from /proc.
import { readFileSync } from 'node:fs';
import { RawClient, request } from './raw-client.js';

export interface LivenessReport {
  pings: number;
  /** Pings that got no answer within `lostAfterMs`. */
  lost: number;
  /** Longest time to an answer (a lost ping counts as `lostAfterMs`). */
  maxMs: number;
}

export interface LivenessProbe {
  stop(): Promise<LivenessReport>;
}

export async function probeLiveness(port: number, everyMs = 50, lostAfterMs = 2000): Promise<LivenessProbe> {
  const c = await RawClient.open(port);
  const to = `127.0.0.1:${port}`;
  const report: LivenessReport = { pings: 0, lost: 0, maxMs: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const r = await c.exchange(request({ op: 'ping' }, { to }), lostAfterMs);
      const ms = performance.now() - t0;
      report.pings++;
      if (r === undefined) report.lost++;
      report.maxMs = Math.max(report.maxMs, r === undefined ? lostAfterMs : ms);
      const wait = everyMs - ms;
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      c.close();
      return report;
    },
  };
}

/** Resident memory of a process, in MB. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU time (user + system) a process has used, in ms. */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime are fields 14 and 15 of the line (11 and 12 after the command), in ticks.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}
