// How the benchmarks write: progress lines on stderr, the machine's description, and numbers
// and ratios as the reports print them ("–" for what was not measured).
import { cpus, loadavg, release, totalmem } from 'node:os';

const t0 = Date.now();
export function progress(msg: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[${s} s] ${msg}\n`);
}

export function machine(): string {
  const c = cpus();
  const model = c[0]?.model?.trim() ?? '?';
  const mhz = c[0]?.speed ? ` @ ${c[0].speed} MHz` : '';
  return `${c.length} × ${model}${mhz}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}, Node ${process.version}`;
}

export function load(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

export function fmtInt(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

export function fmt(n: number | undefined, digits = 2): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  return n.toFixed(digits);
}

export function ratio(a: number, b: number, digits = 2): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return a > 0 && b === 0 ? '∞' : '–';
  const r = a / b;
  if (r >= 1000) return `${fmtInt(r)}×`;
  return `${r.toFixed(r >= 100 ? 0 : digits)}×`;
}
