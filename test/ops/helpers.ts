// Helpers for the operations suites: a stand-in notification socket, running qconfd as a
// one-shot command, scraping and strictly parsing the Prometheus text format.
import { execFile, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { join } from 'node:path';
import { DAEMON_JS, ROOT } from '../../testkit/paths.js';
import { tempDir } from '../../testkit/fixtures.js';
import { spawnTracked, stopProcess } from '../../testkit/processes.js';

export const PYTHON = '/usr/bin/python3';
export const LISTENER_PY = join(ROOT, 'test/ops/notify-listener.py');

export interface NotifyMessage {
  msg: string;
  fds: number;
  pid: number | null;
  /** When the test saw it (Date.now()). */
  at: number;
  fields: Record<string, string>;
}

/** A stand-in for systemd's $NOTIFY_SOCKET: every datagram qconfd's systemd-notify sends. */
export class NotifySocket {
  readonly path: string;
  readonly messages: NotifyMessage[] = [];
  private child: ChildProcess | undefined;
  private buf = '';
  private waiters = new Set<() => void>();

  constructor() {
    this.path = join(tempDir('qconf-notify-'), 'notify.sock');
  }

  async start(): Promise<this> {
    const child = spawnTracked(PYTHON, [LISTENER_PY, this.path], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const listening = new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`notify listener exited with ${code}: ${err}`)));
      child.stdout?.on('data', (d: Buffer) => {
        this.buf += d.toString();
        let nl: number;
        while ((nl = this.buf.indexOf('\n')) >= 0) {
          const line = this.buf.slice(0, nl);
          this.buf = this.buf.slice(nl + 1);
          if (line === 'LISTENING') {
            resolve();
            continue;
          }
          const m = JSON.parse(line) as Omit<NotifyMessage, 'at' | 'fields'>;
          const fields: Record<string, string> = {};
          for (const l of m.msg.split('\n')) {
            const i = l.indexOf('=');
            if (i > 0) fields[l.slice(0, i)] = l.slice(i + 1);
          }
          this.messages.push({ ...m, at: Date.now(), fields });
          for (const w of [...this.waiters]) w();
        }
      });
    });
    await listening;
    return this;
  }

  /** Messages other than the BARRIER=1 that systemd-notify sends after each one. */
  get notifications(): NotifyMessage[] {
    return this.messages.filter((m) => m.fields.BARRIER === undefined);
  }

  /** Resolve with the first notification (from index `from`) matching `pred`. */
  waitFor(pred: (m: NotifyMessage) => boolean, deadlineMs = 30_000, from = 0): Promise<NotifyMessage> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.notifications.slice(from).find(pred);
        if (!m) return false;
        this.waiters.delete(check);
        clearTimeout(t);
        resolve(m);
        return true;
      };
      const t = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching notification within ${deadlineMs} ms; got: ${JSON.stringify(this.notifications.map((m) => m.msg))}`));
      }, deadlineMs);
      this.waiters.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    if (this.child) await stopProcess(this.child, 'SIGTERM', 5000);
  }
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run qconfd (or any node script) to completion, e.g. `qconfd --check`. */
export function runQconfd(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<Run> {
  return runCommand(process.execPath, [DAEMON_JS, ...args], env, timeoutMs);
}

export function runCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000, cwd?: string): Promise<Run> {
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(clean)) if (k.startsWith('QCONFD_') || k === 'NOTIFY_SOCKET' || k.startsWith('WATCHDOG_')) delete clean[k];
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...clean, ...env }, timeout: timeoutMs, maxBuffer: 16 << 20, cwd }, (err, stdout, stderr) => {
      const code = err ? ((err as NodeJS.ErrnoException & { code?: unknown }).code as unknown) : 0;
      resolve({ code: typeof code === 'number' ? code : err ? -1 : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function httpGet(url: string, timeoutMs = 10_000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

// ---- The Prometheus text format (version 0.0.4), parsed strictly ----

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(t: string, line: string): number {
  if (t === '+Inf' || t === 'Inf') return Infinity;
  if (t === '-Inf') return -Infinity;
  if (t === 'NaN') return NaN;
  if (!/^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/.test(t)) throw new Error(`bad value ${JSON.stringify(t)} in ${JSON.stringify(line)}`);
  return Number(t);
}

function parseLabels(s: string, line: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 0;
  if (s[i] !== '{') return { labels, rest: s };
  i++;
  for (;;) {
    while (s[i] === ' ') i++;
    if (s[i] === '}') {
      i++;
      break;
    }
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in ${JSON.stringify(line)}`);
    const name = s.slice(i, eq).trim();
    if (!LABEL.test(name)) throw new Error(`bad label name ${JSON.stringify(name)} in ${JSON.stringify(line)}`);
    if (name in labels) throw new Error(`duplicate label ${name} in ${JSON.stringify(line)}`);
    i = eq + 1;
    if (s[i] !== '"') throw new Error(`unquoted label value in ${JSON.stringify(line)}`);
    i++;
    let v = '';
    for (;;) {
      const c = s[i++];
      if (c === undefined) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = s[i++];
        if (e === 'n') v += '\n';
        else if (e === '\\' || e === '"') v += e;
        else throw new Error(`bad escape \\${e} in ${JSON.stringify(line)}`);
      } else v += c;
    }
    labels[name] = v;
    while (s[i] === ' ') i++;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') throw new Error(`expected , or } in ${JSON.stringify(line)}`);
  }
  return { labels, rest: s.slice(i) };
}

const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  for (const suffix of ['_bucket', '_sum', '_count', '']) {
    if (suffix !== '' && !sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, sample.length - suffix.length));
    if (f && (suffix === '' || f.type === 'histogram' || f.type === 'summary')) return f;
  }
  return undefined;
}

/**
 * Parse exposition text as Prometheus does, but refuse anything sloppy: each family has one
 * TYPE (before its samples) and its samples are contiguous; names, labels, escapes and values
 * follow the grammar; histogram buckets are cumulative and end with le="+Inf" equal to _count.
 */
export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the text must end with a newline');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  let current: Family | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`bad metric name in ${JSON.stringify(line)}`);
      let f = families.get(name);
      if (!f) {
        if (current && current.name !== name) closed.add(current.name);
        f = { name, type: 'untyped', help: '', samples: [] };
        families.set(name, f);
      } else if (closed.has(name)) throw new Error(`family ${name} is not contiguous`);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`bad type in ${JSON.stringify(line)}`);
        if (f.samples.length > 0) throw new Error(`TYPE after samples for ${name}`);
        f.type = rest;
      } else f.help = rest;
      current = f;
      continue;
    }
    const nm = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(line);
    if (!nm) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    const { labels, rest } = parseLabels(nm[2], line);
    const parts = rest.trim().split(/\s+/);
    if (!rest.startsWith(' ') || parts.length < 1 || parts.length > 2) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    if (parts.length === 2 && !/^-?[0-9]+$/.test(parts[1])) throw new Error(`bad timestamp in ${JSON.stringify(line)}`);
    const value = parseValue(parts[0], line);
    const f = familyOf(nm[1], families);
    if (!f) throw new Error(`sample ${nm[1]} has no TYPE/HELP family`);
    if (closed.has(f.name)) throw new Error(`family ${f.name} is not contiguous`);
    if (current !== f) {
      if (current) closed.add(current.name);
      current = f;
    }
    if (f.type === 'counter' && (value < 0 || Number.isNaN(value))) throw new Error(`counter ${nm[1]} is ${value}`);
    f.samples.push({ name: nm[1], labels, value });
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, Sample[]>();
  const key = (l: Record<string, string>) => JSON.stringify(Object.entries(l).filter(([k]) => k !== 'le').sort());
  for (const s of f.samples) {
    if (s.name !== `${f.name}_bucket`) continue;
    if (s.labels.le === undefined) throw new Error(`${f.name}: bucket without le`);
    const k = key(s.labels);
    series.set(k, [...(series.get(k) ?? []), s]);
  }
  for (const [k, buckets] of series) {
    let prevLe = -Infinity;
    let prev = 0;
    for (const b of buckets) {
      const le = parseValue(b.labels.le, b.labels.le);
      if (!(le > prevLe)) throw new Error(`${f.name}${k}: le not increasing`);
      if (b.value < prev) throw new Error(`${f.name}${k}: buckets not cumulative`);
      prevLe = le;
      prev = b.value;
    }
    if (prevLe !== Infinity) throw new Error(`${f.name}${k}: no le="+Inf" bucket`);
    const count = f.samples.find((s) => s.name === `${f.name}_count` && key(s.labels) === k);
    if (!count || count.value !== prev) throw new Error(`${f.name}${k}: _count ${count?.value} != +Inf bucket ${prev}`);
    if (!f.samples.some((s) => s.name === `${f.name}_sum` && key(s.labels) === k)) throw new Error(`${f.name}${k}: no _sum`);
  }
}

/** The value of one sample (labels must match exactly the given ones, others ignored); 0 when absent. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = familyOf(name, families);
  const s = f?.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

/** Parse with Prometheus' own Python client parser; returns {family: type} or throws. */
export async function parseWithPythonClient(text: string): Promise<Record<string, { type: string; samples: number }>> {
  const dir = tempDir('qconf-prom-');
  const file = join(dir, 'metrics.txt');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, text);
  const script = [
    'import json, sys',
    'from prometheus_client.parser import text_string_to_metric_families',
    'out = {}',
    'for f in text_string_to_metric_families(open(sys.argv[1]).read()):',
    '    out[f.name] = {"type": f.type, "samples": len(f.samples)}',
    'print(json.dumps(out))',
  ].join('\n');
  const r = await runCommand(PYTHON, ['-c', script, file]);
  if (r.code !== 0) throw new Error(`prometheus_client could not parse the text: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, { type: string; samples: number }>;
}
