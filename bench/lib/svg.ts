// Hand-written SVG charts (no dependencies): horizontal bars with values, and line charts on
// logarithmic axes in small multiples. Plain text in the markup, so they read well in a browser,
// on GitHub, and in a diff.

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
export const COLORS = ['#2f6fba', '#d9822b', '#3a9b5c', '#b23a48', '#7a5bb5', '#6b7280'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return '–';
  if (v >= 1e6) return `${(v / 1e6).toFixed(v >= 1e7 ? 0 : 1)}M`;
  if (v >= 1e4) return `${Math.round(v / 1e3)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  if (v >= 10) return String(Math.round(v));
  if (v > 0) return v.toFixed(v >= 1 ? 1 : 2);
  return '0';
}

export interface Bar {
  label: string;
  value: number;
  /** Text after the value (e.g. a ratio). */
  note?: string;
  color?: string;
}

/** Horizontal bars, one per row, the value written at the end of each. */
export function barChart(title: string, subtitle: string, unit: string, bars: Bar[]): string {
  const W = 760;
  const left = 200;
  const right = 190;
  const rowH = 34;
  const top = 64;
  const H = top + bars.length * rowH + 40;
  const max = Math.max(1, ...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
  const scale = (W - left - right) / max;
  const ticks = niceTicks(max, 5);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT}>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="16" y="26" font-size="17" font-weight="600" fill="#111">${esc(title)}</text>`,
    `<text x="16" y="46" font-size="12" fill="#555">${esc(subtitle)}</text>`,
  ];
  for (const t of ticks) {
    const x = left + t * scale;
    out.push(`<line x1="${x.toFixed(1)}" y1="${top - 6}" x2="${x.toFixed(1)}" y2="${top + bars.length * rowH}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${x.toFixed(1)}" y="${top + bars.length * rowH + 16}" font-size="11" fill="#666" text-anchor="middle">${fmtNum(t)}</text>`);
  }
  out.push(`<text x="${left + (W - left - right) / 2}" y="${H - 6}" font-size="11" fill="#444" text-anchor="middle">${esc(unit)}</text>`);
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const w = Number.isFinite(b.value) ? Math.max(1, b.value * scale) : 0;
    out.push(`<text x="${left - 10}" y="${y + rowH / 2 + 4}" font-size="13" fill="#222" text-anchor="end">${esc(b.label)}</text>`);
    out.push(`<rect x="${left}" y="${y + 6}" width="${w.toFixed(1)}" height="${rowH - 12}" rx="3" fill="${b.color ?? COLORS[i % COLORS.length]}"/>`);
    const text = `${Number.isFinite(b.value) ? Math.round(b.value).toLocaleString('en-US') : '–'}${b.note ? `  ${b.note}` : ''}`;
    out.push(`<text x="${(left + w + 8).toFixed(1)}" y="${y + rowH / 2 + 4}" font-size="12" fill="#111">${esc(text)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function niceTicks(max: number, n: number): number[] {
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = 0; t <= max + 1e-9; t += step) out.push(t);
  return out;
}

export interface Series {
  name: string;
  /** [x, y]; y ≤ 0 or NaN is drawn at the floor and marked. */
  points: Array<[number, number]>;
  color?: string;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  series: Series[];
}

/**
 * Small multiples of line charts sharing log-scale axes: x (e.g. config size) and y (e.g.
 * queries/s). Every point is labelled with its value; values at or below the floor are drawn on
 * the floor with "≈0".
 */
export function logLinePanels(title: string, subtitle: string, xLabel: string, yLabel: string, panels: Panel[], opts: { yFloor?: number; xTicks?: number[] } = {}): string {
  const cols = Math.min(panels.length, 2);
  const rows = Math.ceil(panels.length / cols);
  const pw = 380;
  const ph = 250;
  const W = 32 + cols * pw;
  const legendH = 26;
  const top = 62 + legendH;
  const H = top + rows * ph + 24;
  const all = panels.flatMap((p) => p.series.flatMap((s) => s.points));
  const xs = all.map((p) => p[0]).filter((x) => x > 0);
  const ys = all.map((p) => p[1]).filter((y) => Number.isFinite(y) && y > 0);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yFloor = opts.yFloor ?? 1;
  const yMin = Math.max(yFloor, 10 ** Math.floor(Math.log10(Math.max(yFloor, Math.min(...ys)))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys, yMin * 10)));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT}>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="16" y="26" font-size="17" font-weight="600" fill="#111">${esc(title)}</text>`,
    `<text x="16" y="46" font-size="12" fill="#555">${esc(subtitle)}</text>`,
  ];
  // Legend (from the first panel's series).
  let lx = 16;
  for (const [i, s] of (panels[0]?.series ?? []).entries()) {
    const c = s.color ?? COLORS[i % COLORS.length];
    out.push(`<line x1="${lx}" y1="${62 + 8}" x2="${lx + 22}" y2="${62 + 8}" stroke="${c}" stroke-width="3" ${s.dashed ? 'stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${62 + 12}" font-size="12" fill="#222">${esc(s.name)}</text>`);
    lx += 40 + s.name.length * 7;
  }
  panels.forEach((p, k) => {
    const ox = 16 + (k % cols) * pw;
    const oy = top + Math.floor(k / cols) * ph;
    const l = ox + 58;
    const r = ox + pw - 20;
    const t = oy + 24;
    const b = oy + ph - 42;
    const X = (x: number) => (xMax === xMin ? (l + r) / 2 : l + ((Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * (r - l));
    const Y = (y: number) => b - ((Math.log10(Math.max(y, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (b - t);
    out.push(`<text x="${ox + 8}" y="${oy + 12}" font-size="13" font-weight="600" fill="#222">${esc(p.title)}</text>`);
    out.push(`<rect x="${l}" y="${t}" width="${r - l}" height="${b - t}" fill="none" stroke="#9ca3af"/>`);
    for (let e = Math.log10(yMin); e <= Math.log10(yMax) + 1e-9; e++) {
      const y = Y(10 ** e);
      out.push(`<line x1="${l}" y1="${y.toFixed(1)}" x2="${r}" y2="${y.toFixed(1)}" stroke="#eef0f3"/>`);
      out.push(`<text x="${l - 6}" y="${(y + 4).toFixed(1)}" font-size="10" fill="#666" text-anchor="end">${fmtNum(10 ** e)}</text>`);
    }
    for (const x of opts.xTicks ?? [...new Set(xs)].sort((a, c) => a - c)) {
      const px = X(x);
      out.push(`<line x1="${px.toFixed(1)}" y1="${b}" x2="${px.toFixed(1)}" y2="${b + 4}" stroke="#9ca3af"/>`);
      out.push(`<text x="${px.toFixed(1)}" y="${b + 16}" font-size="10" fill="#666" text-anchor="middle">${fmtNum(x)}</text>`);
    }
    out.push(`<text x="${(l + r) / 2}" y="${b + 32}" font-size="11" fill="#444" text-anchor="middle">${esc(xLabel)}</text>`);
    out.push(`<text x="${ox + 12}" y="${(t + b) / 2}" font-size="11" fill="#444" text-anchor="middle" transform="rotate(-90 ${ox + 12} ${(t + b) / 2})">${esc(yLabel)}</text>`);
    p.series.forEach((s, i) => {
      const c = s.color ?? COLORS[i % COLORS.length];
      const pts = s.points.filter((q) => q[0] > 0).sort((a, c2) => a[0] - c2[0]);
      const d = pts.map((q, j) => `${j === 0 ? 'M' : 'L'}${X(q[0]).toFixed(1)},${Y(Number.isFinite(q[1]) ? q[1] : yMin).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="2.5" ${s.dashed ? 'stroke-dasharray="6 4"' : ''}/>`);
      for (const q of pts) {
        const low = !Number.isFinite(q[1]) || q[1] <= yMin;
        const cx = X(q[0]);
        const cy = Y(low ? yMin : q[1]);
        out.push(`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="3.5" fill="${c}"/>`);
        const label = low ? '≈0' : fmtNum(q[1]);
        const dy = i % 2 === 0 ? -8 : 15;
        out.push(`<text x="${cx.toFixed(1)}" y="${(cy + dy).toFixed(1)}" font-size="10" fill="${c}" text-anchor="middle">${esc(label)}</text>`);
      }
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
