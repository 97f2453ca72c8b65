// The Prometheus endpoint (--metrics-listen): GET /metrics in the text exposition format.
//
// Every qconfd number comes from Stats (stats.ts), the same place the `stats` op reads, so
// the two never disagree: at each scrape one StatsReport is taken and rendered. Code that
// produces numbers (protocol services, the etcd source) feeds Stats and never needs to know
// prom-client: `stats.request/reply/drop/refusal`, `stats.setEtcdState(...)`, and the
// replica's own `stale`/`lastContact`. The only hot-path cost of metrics is the reply
// latency timing, switched on (stats.timing) only when this endpoint is.
//
// prom-client provides the registry, the exposition format (escaping, HELP/TYPE lines), and
// the standard process_* / nodejs_* metrics. Counters and gauges are set from the report in
// their collect() callbacks; the latency histogram is rendered from Stats' buckets.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ETCD_STATES, KNOWN_DROP_REASONS, LATENCY_BUCKETS_MS, type Protocol, type Stats, type StatsReport } from './stats.js';

export interface MetricsListen {
  host: string;
  port: number;
}

export interface MetricsInfo {
  version: string;
  node: string;
}

const PROTOCOLS: readonly Protocol[] = ['qcf1', 'plj0'];

/** The reply latency histogram, rendered from Stats' buckets rather than observed here. */
const LATENCY_NAME = 'qconfd_reply_latency_seconds';
const LATENCY_HELP = 'Time from receiving a request datagram to sending its reply (held waits excluded)';

type HistogramData = Awaited<ReturnType<Histogram<'protocol'>['get']>>;

class StatsHistogram extends Histogram<'protocol'> {
  constructor(
    private readonly read: () => StatsReport,
    registry: Registry,
  ) {
    super({
      name: LATENCY_NAME,
      help: LATENCY_HELP,
      labelNames: ['protocol'],
      buckets: LATENCY_BUCKETS_MS.map((ms) => ms / 1000),
      registers: [registry],
    });
  }

  private values(): Array<{ value: number; labels: Record<string, string | number>; metricName: string }> {
    const r = this.read();
    const out: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
    for (const protocol of PROTOCOLS) {
      const h = r.latency?.[protocol];
      if (!h) continue;
      let acc = 0;
      LATENCY_BUCKETS_MS.forEach((ms, i) => {
        acc += h.counts[i];
        out.push({ value: acc, labels: { protocol, le: ms / 1000 }, metricName: `${LATENCY_NAME}_bucket` });
      });
      out.push({ value: h.count, labels: { protocol, le: '+Inf' }, metricName: `${LATENCY_NAME}_bucket` });
      out.push({ value: h.sumMs / 1000, labels: { protocol }, metricName: `${LATENCY_NAME}_sum` });
      out.push({ value: h.count, labels: { protocol }, metricName: `${LATENCY_NAME}_count` });
    }
    return out;
  }

  // The registry renders what getForPromString returns (or get, when that is missing).
  async getForPromString(): Promise<HistogramData> {
    return this.get();
  }

  override async get(): Promise<HistogramData> {
    const data = { name: LATENCY_NAME, help: LATENCY_HELP, type: 'histogram', values: this.values(), aggregator: 'sum', collect: () => {} };
    return data as unknown as HistogramData;
  }
}

export class Metrics {
  readonly registry = new Registry();
  private report: StatsReport | undefined;
  private server: Server | undefined;

  constructor(
    private readonly stats: Stats,
    info: MetricsInfo,
  ) {
    stats.timing = true;
    const reg = this.registry;
    const r = () => this.report ?? stats.report();

    // Every metric is filled from one stats report at scrape time, never incremented here.
    const filled = <M extends Counter<L> | Gauge<L>, L extends string>(
      Kind: new (c: { name: string; help: string; labelNames: L[]; registers: Registry[]; collect: (this: M) => void }) => M,
      name: string,
      help: string,
      labelNames: L[],
      fill: (m: M, rep: StatsReport) => void,
    ): M =>
      new Kind({
        name,
        help,
        labelNames,
        registers: [reg],
        collect(this: M) {
          this.reset();
          fill(this, r());
        },
      });
    const counter = <L extends string>(name: string, help: string, labelNames: L[], fill: (c: Counter<L>, rep: StatsReport) => void) =>
      filled<Counter<L>, L>(Counter as never, name, help, labelNames, fill);
    const gauge = <L extends string>(name: string, help: string, labelNames: L[], fill: (g: Gauge<L>, rep: StatsReport) => void) =>
      filled<Gauge<L>, L>(Gauge as never, name, help, labelNames, fill);

    gauge('qconfd_info', 'Constant 1, labelled with the version and node name', ['version', 'node'], (g) => g.set({ version: info.version, node: info.node }, 1));
    counter('qconfd_datagrams_received_total', 'Datagrams received on the UDP socket', [], (c, s) => c.inc(s.received));
    counter('qconfd_requests_total', 'Requests answered, by protocol, op (Ganeti: request type) and reply status', ['protocol', 'op', 'status'], (c, s) => {
      for (const protocol of PROTOCOLS) {
        for (const [op, byStatus] of Object.entries(s.answered[protocol])) {
          for (const [status, n] of Object.entries(byStatus)) c.inc({ protocol, op, status }, n);
        }
      }
    });
    counter('qconfd_requests_accepted_total', 'Requests that passed the guards (MAC, time, replay), by protocol and op; a held wait counts here before it is answered', ['protocol', 'op'], (c, s) => {
      for (const protocol of PROTOCOLS) for (const [op, n] of Object.entries(s.requests[protocol])) c.inc({ protocol, op }, n);
    });
    counter('qconfd_reply_errors_total', 'Error replies by error code', ['code'], (c, s) => {
      for (const [code, n] of Object.entries(s.errors)) c.inc({ code }, n);
    });
    counter('qconfd_drops_total', 'Datagrams dropped without a reply, by reason', ['reason'], (c, s) => {
      for (const reason of KNOWN_DROP_REASONS) c.inc({ reason }, s.drops[reason] ?? 0);
      for (const [reason, n] of Object.entries(s.drops)) if (!KNOWN_DROP_REASONS.includes(reason)) c.inc({ reason }, n);
    });
    counter('qconfd_send_errors_total', 'Replies seen failing to send (one send in 32 is checked; every send once one fails)', [], (c, s) => c.inc(s.sendErrors));
    counter('qconfd_reloads_total', 'Documents accepted (the replica swapped to a new snapshot)', [], (c, s) => c.inc(s.reloads));
    counter('qconfd_refusals_total', 'Documents or key files refused (the last good one kept serving), by reason', ['reason'], (c, s) => {
      for (const [reason, n] of Object.entries(s.refusalReasons)) c.inc({ reason }, n);
    });
    counter('qconfd_key_reloads_total', 'Key files re-read successfully (SIGHUP)', [], (c, s) => c.inc(s.keyReloads));
    counter('qconfd_internal_errors_total', 'Unexpected errors caught at an entry point (a datagram, a timer, a source event); the daemon kept serving', [], (c, s) => c.inc(s.internalErrors));
    counter('qconfd_replies_withheld_total', 'Replies larger than their request, to an address not validated, with no room for retry either', [], (c, s) => c.inc(s.withheld));
    counter('qconfd_waits_busy_total', 'Wait requests refused with busy (held-wait limits reached)', [], (c, s) => c.inc(s.waitsBusy));
    // Per key (with --access-file): labels are the file's key ids and "default", nothing else.
    counter('qconfd_key_requests_total', 'Authenticated requests per key (the access file names keys by id; the rest are "default")', ['key'], (c, s) => {
      for (const [key, k] of Object.entries(s.keys ?? {})) c.inc({ key }, k.requests);
    });
    counter('qconfd_key_replies_total', 'Replies per key and status', ['key', 'status'], (c, s) => {
      for (const [key, k] of Object.entries(s.keys ?? {})) for (const [status, n] of Object.entries(k.replies)) c.inc({ key, status }, n);
    });
    counter('qconfd_key_forbidden_total', 'Replies per key that are (or hold an mget entry) forbidden: outside the key\'s scope', ['key'], (c, s) => {
      for (const [key, k] of Object.entries(s.keys ?? {})) c.inc({ key }, k.forbidden);
    });
    counter('qconfd_key_rate_limited_total', 'Requests per key over its rate (told busy at most once a second, the rest dropped)', ['key'], (c, s) => {
      for (const [key, k] of Object.entries(s.keys ?? {})) c.inc({ key }, k.rateLimited);
    });
    counter('qconfd_access_reloads_total', 'Access files accepted (at start, on SIGHUP, on change)', [], (c, s) => {
      if (s.accessReloads !== undefined) c.inc(s.accessReloads);
    });
    counter('qconfd_sealed_requests_total', 'Sealed QCF1 requests opened (their bodies encrypted on the wire)', [], (c, s) => c.inc(s.sealed.requests));
    counter('qconfd_sealed_replies_total', 'Sealed QCF1 replies sent', [], (c, s) => c.inc(s.sealed.replies));
    counter('qconfd_seal_open_failures_total', 'Sealed requests with an authentic MAC whose box did not open (dropped, reason bad_box)', [], (c, s) => c.inc(s.sealed.openFailures));
    gauge('qconfd_held_waits', 'Wait requests being held now', [], (g, s) => g.set(s.heldWaits));
    gauge('qconfd_replica_ready', '1 when a snapshot is being served, 0 while answering not_ready', [], (g, s) => g.set(s.replica.ready ? 1 : 0));
    gauge('qconfd_replica_serial', 'Serial of the snapshot being served (0 when none)', [], (g, s) => g.set(s.replica.serial));
    gauge('qconfd_replica_age_seconds', 'Seconds since the snapshot being served was loaded (0 when none)', [], (g, s) => g.set(s.replica.ageMs / 1000));
    gauge('qconfd_replica_stale', '1 when the replica is marked stale (its source is unreachable)', [], (g, s) => g.set(s.replica.stale ? 1 : 0));
    gauge('qconfd_replica_source_contact_age_seconds', 'Seconds since the last contact with the replica source (absent for a file source)', ['source'], (g, s) => {
      if (s.replica.lastContactAgeMs !== null) g.set({ source: s.replica.source }, s.replica.lastContactAgeMs / 1000);
    });
    gauge('qconfd_etcd_connection_state', 'The etcd source connection: 1 for the current state (absent without an etcd source)', ['state'], (g, s) => {
      if (s.etcdState === 'none') return;
      for (const state of ETCD_STATES) g.set({ state }, state === s.etcdState ? 1 : 0);
    });
    new StatsHistogram(r, reg);
    collectDefaultMetrics({ register: reg, eventLoopMonitoringPrecision: 50 });
  }

  /** The exposition text, from one consistent report. */
  async render(): Promise<string> {
    this.report = this.stats.report();
    try {
      // prom-client writes NaN as "Nan" (Prometheus' Go parser accepts any case; the format
      // says NaN). The event-loop lag gauges are NaN until the first samples are taken.
      return (await this.registry.metrics()).replace(/ Nan$/gm, ' NaN');
    } finally {
      this.report = undefined;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Serve GET /metrics on `listen`; resolves with the bound address. */
  listen(listen: MetricsListen): Promise<{ address: string; port: number }> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.maxConnections = 64;
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    server.keepAliveTimeout = 5_000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: listen.host, port: listen.port, exclusive: true }, () => {
        server.off('error', reject);
        // Later errors are one connection's (or a full accept queue's): the next scrape retries.
        server.on('error', () => undefined);
        const a = server.address();
        if (a === null || typeof a === 'string') return reject(new Error('metrics: no address'));
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found; try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    try {
      const body = await this.render();
      res.writeHead(200, { 'content-type': this.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics failed: ${(e as Error).message}\n`);
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
