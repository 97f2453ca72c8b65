// The Prometheus endpoint, scraped while a small load runs: requests, drops, reloads and
// refusals move the counters; the text parses strictly (and with Prometheus' own Python
// parser); the stats op reports the same numbers.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring, makeKey } from '../../shared/keyring.js';
import { KIND_REQUEST, packBody } from '../../shared/qcf1.js';
import { encodeDatagram } from '../support/raw-client.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { KEY_A, KEY_B, freeTcpPorts } from '../../testkit/fixtures.js';
import { sampleDoc } from '../support/sample-doc.js';
import { httpGet, parseExposition, parseWithPythonClient, sampleValue, type Family } from './helpers.js';

let d: TestDaemon;
let base: string;
let client: ConfdClient;

async function scrape(): Promise<{ text: string; families: Map<string, Family> }> {
  const r = await httpGet(`${base}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return { text: r.body, families: parseExposition(r.body) };
}

const v = (f: Map<string, Family>, name: string, labels: Record<string, string> = {}): number => sampleValue(f, name, labels) ?? 0;

/** Raw datagrams the daemon must drop, one per reason. */
async function sendJunk(port: number): Promise<void> {
  const a = makeKey(Buffer.from(KEY_A));
  const b = makeKey(Buffer.from(KEY_B));
  const valid = () => encodeDatagram(KIND_REQUEST, a, Date.now(), randomBytes(16), packBody({ op: 'ping' }));
  const badMac = valid();
  badMac[badMac.length - 1] ^= 1;
  const replayed = valid();
  const datagrams = [
    Buffer.from('xy'), // too_short
    Buffer.from('ABCDEFGH'), // bad_magic
    Buffer.concat([Buffer.from('QCF1'), Buffer.alloc(9000)]), // too_long
    encodeDatagram(KIND_REQUEST, b, Date.now(), randomBytes(16), packBody({ op: 'ping' })), // unknown_key
    badMac,
    encodeDatagram(KIND_REQUEST, a, Date.now() - 600_000, randomBytes(16), packBody({ op: 'ping' })), // skew
    replayed,
    replayed, // replay (the first one is answered)
  ];
  const s = dgram.createSocket('udp4');
  try {
    for (const m of datagrams) await new Promise<void>((resolve, reject) => s.send(m, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  } finally {
    s.close();
  }
}

beforeAll(async () => {
  d = new TestDaemon({ doc: sampleDoc(1), args: ['--metrics-listen', '127.0.0.1:0'] });
  await d.start();
  const m = await d.waitForLog((l) => l.event === 'metrics_listen');
  expect(m.address).toBe('127.0.0.1');
  base = `http://127.0.0.1:${m.port as number}`;
  client = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers: [d.peer], retransmitMs: 100 });
});

afterAll(async () => {
  client?.close();
  await d?.stop('SIGKILL');
});

describe('the metrics endpoint', () => {
  it('serves the Prometheus text format, which parses strictly and with Prometheus’ own parser', async () => {
    const { text, families } = await scrape();
    const expected: Record<string, string> = {
      qconfd_info: 'gauge',
      qconfd_datagrams_received_total: 'counter',
      qconfd_requests_total: 'counter',
      qconfd_requests_accepted_total: 'counter',
      qconfd_reply_errors_total: 'counter',
      qconfd_drops_total: 'counter',
      qconfd_send_errors_total: 'counter',
      qconfd_reloads_total: 'counter',
      qconfd_refusals_total: 'counter',
      qconfd_key_reloads_total: 'counter',
      qconfd_waits_busy_total: 'counter',
      qconfd_sealed_requests_total: 'counter',
      qconfd_sealed_replies_total: 'counter',
      qconfd_seal_open_failures_total: 'counter',
      qconfd_held_waits: 'gauge',
      qconfd_replica_ready: 'gauge',
      qconfd_replica_serial: 'gauge',
      qconfd_replica_age_seconds: 'gauge',
      qconfd_replica_stale: 'gauge',
      qconfd_replica_source_contact_age_seconds: 'gauge',
      qconfd_etcd_connection_state: 'gauge',
      qconfd_reply_latency_seconds: 'histogram',
      process_cpu_seconds_total: 'counter',
      nodejs_eventloop_lag_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) expect(families.get(name)?.type, name).toBe(type);
    for (const f of families.values()) expect(f.help, `HELP of ${f.name}`).not.toBe('');
    // Every qconfd counter ends in _total.
    for (const f of families.values()) if (f.name.startsWith('qconfd_') && f.type === 'counter') expect(f.name).toMatch(/_total$/);
    const py = await parseWithPythonClient(text);
    expect(py.qconfd_requests?.type).toBe('counter');
    expect(py.qconfd_drops?.type).toBe('counter');
    expect(py.qconfd_reply_latency_seconds?.type).toBe('histogram');
    expect(py.qconfd_replica_serial?.type).toBe('gauge');
    expect(Object.keys(py).length).toBe(families.size);
    // Without an etcd source there is no etcd state, and no source contact age for a file.
    expect(families.get('qconfd_etcd_connection_state')?.samples).toEqual([]);
    expect(families.get('qconfd_replica_source_contact_age_seconds')?.samples).toEqual([]);
    expect(v(families, 'qconfd_replica_ready')).toBe(1);
    expect(v(families, 'qconfd_replica_serial')).toBe(1);
    expect(v(families, 'qconfd_replica_stale')).toBe(0);
    expect(families.get('qconfd_info')?.samples[0].labels).toMatchObject({ node: d.nodeName });
    // Every known drop reason is there from the start, at 0.
    expect(sampleValue(families, 'qconfd_drops_total', { reason: 'bad_mac' })).toBe(0);
  });

  it('counters move while requests, drops, reloads and refusals happen', async () => {
    const before = (await scrape()).families;
    const N = 150;
    const scrapes: Array<Map<string, Family>> = [];
    let loading = true;
    const scraper = (async () => {
      while (loading) {
        scrapes.push((await scrape()).families);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    // The load: gets in small concurrent batches, some errors, junk, a reload, a refusal.
    for (let i = 0; i < N; i += 10) {
      const rs = await Promise.all(Array.from({ length: 10 }, (_, j) => client.get(j % 2 ? '/cluster/name' : `/nodes/node1.example.com/primary_ip`, { timeoutMs: 10_000 })));
      for (const r of rs) expect(r.status).toBe(0);
    }
    expect((await client.get('/nope', { timeoutMs: 10_000 })).error?.code).toBe('not_found');
    expect((await client.query({ op: 'frobnicate' }, { timeoutMs: 10_000 })).status).toBe(2);
    await sendJunk(d.port);
    d.writeDoc(sampleDoc(2));
    await d.waitForLog((l) => l.event === 'reload' && l.serial === 2);
    writeFileSync(d.file + '.tmp', '{"serial_no": 3,');
    const { renameSync } = await import('node:fs');
    renameSync(d.file + '.tmp', d.file);
    await d.waitForLog((l) => l.event === 'refused' && l.reason === 'bad_json');
    // The drops are counted once the datagrams arrive; wait for the last one.
    await expect.poll(async () => v((await scrape()).families, 'qconfd_drops_total', { reason: 'replay' }), { timeout: 30_000 }).toBe(1);
    loading = false;
    await scraper;
    const after = (await scrape()).families;

    const delta = (name: string, labels: Record<string, string> = {}) => v(after, name, labels) - v(before, name, labels);
    expect(delta('qconfd_requests_total', { protocol: 'qcf1', op: 'get', status: 'ok' })).toBeGreaterThanOrEqual(N);
    expect(delta('qconfd_requests_total', { protocol: 'qcf1', op: 'get', status: 'error' })).toBeGreaterThanOrEqual(1);
    expect(delta('qconfd_requests_total', { protocol: 'qcf1', op: 'unknown', status: 'not_implemented' })).toBeGreaterThanOrEqual(1);
    expect(delta('qconfd_requests_accepted_total', { protocol: 'qcf1', op: 'get' })).toBeGreaterThanOrEqual(N + 1);
    expect(delta('qconfd_reply_errors_total', { code: 'not_found' })).toBeGreaterThanOrEqual(1);
    for (const reason of ['too_short', 'bad_magic', 'too_long', 'unknown_key', 'bad_mac', 'skew', 'replay']) {
      expect(delta('qconfd_drops_total', { reason }), reason).toBe(1);
    }
    expect(delta('qconfd_datagrams_received_total')).toBeGreaterThanOrEqual(N + 8);
    expect(delta('qconfd_reloads_total')).toBe(1);
    expect(delta('qconfd_refusals_total', { reason: 'bad_json' })).toBe(1);
    expect(v(after, 'qconfd_replica_serial')).toBe(2);
    expect(v(after, 'qconfd_replica_age_seconds')).toBeLessThan(120);
    // Every reply sent while its request was handled is timed.
    expect(delta('qconfd_reply_latency_seconds_count', { protocol: 'qcf1' })).toBeGreaterThanOrEqual(N + 2);
    expect(v(after, 'qconfd_reply_latency_seconds_sum', { protocol: 'qcf1' })).toBeGreaterThan(0);

    // Scrapes taken during the load saw the counters only grow.
    expect(scrapes.length).toBeGreaterThanOrEqual(2);
    const series = [before, ...scrapes, after].map((f) => v(f, 'qconfd_requests_total', { protocol: 'qcf1', op: 'get', status: 'ok' }));
    for (let i = 1; i < series.length; i++) expect(series[i]).toBeGreaterThanOrEqual(series[i - 1]);
    expect(new Set(series).size).toBeGreaterThan(1);
  });

  it('the stats op reports the same counters', async () => {
    const m = (await scrape()).families;
    const r = await client.query({ op: 'stats' }, { timeoutMs: 10_000 });
    const s = r.answer as {
      received: number;
      drops: Record<string, number>;
      reloads: number;
      refusalReasons: Record<string, number>;
      answered: { qcf1: Record<string, { ok: number; error: number; not_implemented: number }> };
      requests: { qcf1: Record<string, number> };
      errors: Record<string, number>;
      replica: { serial: number; ready: boolean; stale: boolean };
      latency: { qcf1: { count: number; counts: number[]; bucketsMs: number[] } };
      heldWaits: number;
    };
    for (const [reason, n] of Object.entries(s.drops)) expect(v(m, 'qconfd_drops_total', { reason }), reason).toBe(n);
    expect(v(m, 'qconfd_reloads_total')).toBe(s.reloads);
    for (const [reason, n] of Object.entries(s.refusalReasons)) expect(v(m, 'qconfd_refusals_total', { reason })).toBe(n);
    for (const [op, byStatus] of Object.entries(s.answered.qcf1)) {
      if (op === 'stats') continue; // this very request
      for (const [status, n] of Object.entries(byStatus)) expect(v(m, 'qconfd_requests_total', { protocol: 'qcf1', op, status }), `${op} ${status}`).toBe(n);
    }
    for (const [op, n] of Object.entries(s.requests.qcf1)) if (op !== 'stats') expect(v(m, 'qconfd_requests_accepted_total', { protocol: 'qcf1', op })).toBe(n);
    for (const [code, n] of Object.entries(s.errors)) expect(v(m, 'qconfd_reply_errors_total', { code })).toBe(n);
    // One datagram (this stats request) arrived between the scrape and the report.
    expect(s.received).toBe(v(m, 'qconfd_datagrams_received_total') + 1);
    expect(s.latency.qcf1.count).toBe(v(m, 'qconfd_reply_latency_seconds_count', { protocol: 'qcf1' }));
    expect(s.latency.qcf1.bucketsMs.length + 1).toBe(s.latency.qcf1.counts.length);
    expect(s.replica).toMatchObject({ serial: v(m, 'qconfd_replica_serial'), ready: true, stale: false });
    expect(s.heldWaits).toBe(v(m, 'qconfd_held_waits'));
  });

  it('reports held waits as they are held and answered', async () => {
    const held = client.waitFor({ minSerial: 10 }, { timeoutMs: 60_000 });
    await expect.poll(async () => v((await scrape()).families, 'qconfd_held_waits'), { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
    d.writeDoc(sampleDoc(10));
    const r = await held;
    expect(r.met).toBe(true);
    await expect.poll(async () => v((await scrape()).families, 'qconfd_held_waits'), { timeout: 30_000 }).toBe(0);
    const f = (await scrape()).families;
    expect(v(f, 'qconfd_replica_serial')).toBe(10);
  });

  it('answers 404 elsewhere, 405 to other methods, and HEAD without a body', async () => {
    expect((await httpGet(`${base}/`)).status).toBe(404);
    expect((await httpGet(`${base}/metricsx`)).status).toBe(404);
    expect((await httpGet(`${base}/metrics?x=1`)).status).toBe(200);
    const { request } = await import('node:http');
    const status = (method: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${base}/metrics`, { method }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    expect((await status('POST')).status).toBe(405);
    const head = await status('HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });
});

describe('--metrics-listen', () => {
  it('is off by default', async () => {
    const plain = new TestDaemon({ doc: sampleDoc(1) });
    try {
      await plain.start();
      const start = await plain.waitForLog((l) => l.event === 'start');
      expect(start).toBeDefined();
      expect(plain.logLines().some((l) => l.event === 'metrics_listen')).toBe(false);
    } finally {
      await plain.stop('SIGKILL');
    }
  });

  it('binds loopback when given a bare port', async () => {
    const [port] = await freeTcpPorts(1);
    const local = new TestDaemon({ doc: sampleDoc(1), args: ['--metrics-listen', String(port)] });
    try {
      await local.start();
      const m = await local.waitForLog((l) => l.event === 'metrics_listen');
      expect(m).toMatchObject({ address: '127.0.0.1', port });
      const r = await httpGet(`http://127.0.0.1:${port}/metrics`);
      expect(r.status).toBe(200);
      expect(r.body).toMatch(/^qconfd_replica_serial 1$/m);
    } finally {
      await local.stop('SIGKILL');
    }
  });
});
