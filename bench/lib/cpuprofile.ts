// Summaries of V8 .cpuprofile files (node --cpu-prof): self time by function, the top of the
// profile as a markdown table.
import { readFileSync } from 'node:fs';
import { basename, relative } from 'node:path';
import { ROOT } from '../../testkit/paths.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  where: string;
  selfMs: number;
  /** Share of the non-idle time. */
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  gcMs: number;
  busyMs: number;
  rows: ProfileRow[];
}

function where(url: string, line: number): string {
  if (url === '') return '';
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith('/')) {
    const r = relative(ROOT, u);
    // A file of another build (--daemon-js) is named from its dist/ on, not by where it lies.
    const d = u.lastIndexOf('/dist/');
    u = !r.startsWith('..') ? r : `(other build) ${d >= 0 ? u.slice(d + 1) : basename(u)}`;
  }
  return `${u}:${line + 1}`;
}

/** Self time per function (same name and location), sorted, over the profile's busy time. */
export function summarizeProfile(path: string, top = 20): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
  }
  const agg = new Map<string, ProfileRow>();
  let idle = 0;
  let gc = 0;
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    total += us;
    const f = n.callFrame;
    const name = f.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    if (name === '(garbage collector)') gc += us;
    const w = where(f.url, f.lineNumber);
    const key = `${name}@${w}`;
    const row = agg.get(key) ?? { name, where: w, selfMs: 0, pct: 0 };
    row.selfMs += us / 1000;
    agg.set(key, row);
  }
  const busy = (total - idle) / 1000;
  const rows = [...agg.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top);
  for (const r of rows) r.pct = busy > 0 ? (r.selfMs / busy) * 100 : 0;
  return { totalMs: total / 1000, idleMs: idle / 1000, gcMs: gc / 1000, busyMs: busy, rows };
}

export function profileTable(s: ProfileSummary): string[] {
  return [
    `Busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled (idle ${s.idleMs.toFixed(0)} ms); garbage collector ${s.gcMs.toFixed(0)} ms (${((s.gcMs / Math.max(1, s.busyMs)) * 100).toFixed(1)}% of busy).`,
    '',
    '| self % of busy | self ms | function | where |',
    '|---:|---:|---|---|',
    ...s.rows.map((r) => `| ${r.pct.toFixed(1)} | ${r.selfMs.toFixed(0)} | \`${r.name}\` | ${r.where} |`),
  ];
}
