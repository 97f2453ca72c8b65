// What /proc says about a process (CPU time, resident memory) and about the whole machine (busy
// CPU time): the benchmarks' daemon figures and the tests' bounds on CPU and memory per request.
// A reading that cannot be made is NaN, so that any comparison with it fails.
import { readFileSync } from 'node:fs';

/** USER_HZ on Linux: the unit of the tick counts in /proc. */
const CLK_TCK = 100;

/** utime + stime of every thread of `pid`, in milliseconds. */
export function cpuMs(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // Fields after the command: state is [0], utime is field 14 → [11], stime [12].
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Resident set size and its peak (VmHWM), in MB. */
export function rssMB(pid: number): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'latin1');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

/** Busy and total CPU time of the whole machine (all cores), in ms, from /proc/stat. */
export function machineCpuMs(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice
    const idle = v[3] + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: ((total - idle) * 1000) / CLK_TCK, total: (total * 1000) / CLK_TCK };
  } catch {
    return { busy: NaN, total: NaN };
  }
}
