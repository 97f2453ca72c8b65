// The report `npm run bench` writes (bench/RESULTS.md unless --out): the sections' markdown in
// order under a header with the targets table, the charts beside it, and the tables that set
// this build's figures beside a baseline build's (--baseline-js).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt, fmtInt, ratio } from './format.js';

export class Report {
  /** The sections' text, in the order they were rendered. */
  readonly body: string[] = [];
  readonly targets: Array<{ target: string; measured: string; verdict: string }> = [];

  constructor(private readonly chartDir: string) {}

  private sections = 0;

  /** A section of the report: its heading (`## N. title`, numbered in the order rendered), then `lines`. */
  section(title: string, ...lines: string[]): void {
    this.body.push(`## ${++this.sections}. ${title.replace(/^\d+\.\s*/, '')}`, '', ...lines);
  }

  /** A target of the issue, met or missed (undefined: not measured in this run). */
  target(what: string, measured: string, met: boolean | undefined, note = ''): void {
    this.targets.push({ target: what, measured, verdict: met === undefined ? 'not measured' : `${met ? '**met**' : '**missed**'}${note ? ` ${note}` : ''}` });
  }

  /** Write a chart (SVG) beside the report, which links it by this name. */
  chart(name: string, svg: string): void {
    writeFileSync(join(this.chartDir, name), svg);
  }

  /** The whole report: `header`, the targets, `notes`, then the sections. */
  render(header: string[], notes: string[]): string {
    return [
      ...header,
      '## Targets',
      '',
      '| target | measured | |',
      '|---|---|---|',
      ...this.targets.map((t) => `| ${t.target} | ${t.measured} | ${t.verdict} |`),
      '',
      ...notes,
      ...this.body,
      'Charts: [queries/s per daemon](chart-throughput.svg), [queries/s against config size](chart-scaling.svg).',
      '',
    ].join('\n');
  }
}

/** One figure measured on both builds. `digits` 0 prints whole numbers with thousands separators. */
export interface AbRow {
  what: string;
  current: number;
  baseline: number;
  digits: number;
  /** Other processes' CPU (% of a core) during each window: a ratio from a disturbed window says little. */
  others?: [number, number];
}

/**
 * This build's figures beside the baseline's, and their ratio (this build / baseline: above 1
 * is more queries/s, or more time, memory or gap, than the baseline).
 */
export function abTable(rows: AbRow[], how: string): string[] {
  if (rows.length === 0) return [];
  const f = (n: number, digits: number) => (digits === 0 ? fmtInt(n) : fmt(n, digits));
  return [
    `**This build against the baseline** (--baseline-js). ${how}`,
    '',
    '| measurement | this build | baseline | this / baseline | others CPU (this / baseline) |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.what} | ${f(r.current, r.digits)} | ${f(r.baseline, r.digits)} | ${ratio(r.current, r.baseline)} | ${r.others ? `${fmt(r.others[0], 0)}% / ${fmt(r.others[1], 0)}%` : '–'} |`),
    '',
  ];
}
