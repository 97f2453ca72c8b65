// Composition of the daemon: replica, source, guards, protocol services and the socket.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { QconfError } from '../shared/errors.js';
import { Keyring, loadKeyring, readRawKeyFile } from '../shared/keyring.js';
import { VERSION } from '../shared/version.js';
import { startDropSummary } from './drop-log.js';
// Types only: the etcd client and prom-client (0.3 s and 0.1 s of start-up to load) are loaded
// only when etcd is the source and when metrics are served.
import type { EtcdSource, EtcdState } from './source/etcd.js';
import { FileSource } from './source/file.js';
import { CacheWriter, readCache } from './source/replica-copy.js';
import { etcdClientSettings } from '../shared/etcd-connection.js';
import type { Metrics } from './metrics.js';
import { Notifier } from './notify.js';
import { loadTrustKeys, type TrustKeys } from '../shared/signing.js';
import { sealDocument, type Sealed } from './document-signature.js';
import { runSliced } from './slices.js';
import { refusalReason } from './source/file.js';
import { loadPeer } from '../shared/peer-packages.js';
import { KEY_FILE_REQUIRED, type DaemonOptions } from './options.js';
import { Qcf1Service } from './qcf1/service.js';
import { AccessControl } from './access/access-control.js';
import { redactDocumentMessage } from './redact.js';
import { ReplayGuard } from './replay-guard.js';
import { Replica } from './replica.js';
import { Snapshot } from './snapshot.js';
import { Stats } from './stats.js';
import { UdpServer, magicOf, type BoundAddress } from './udp-server.js';
import { MAX_REQUEST_BYTES } from '../shared/qcf1.js';
import { AddressValidation } from './address-validation.js';
import { OwnAddresses } from './own-addresses.js';
import { PLJ0_MAX_REQUEST_BYTES, Plj0Service } from './ganeti/plj0-service.js';

/** An etcd snapshot waiting to be sealed, with the keys to cache once it serves. */
interface PendingSeal {
  raw: Snapshot;
  trigger: string;
  kvs: Array<[string, string]> | undefined;
  prefix: string;
}

/** Longer etcd key names are shortened in logs. */
const MAX_LOGGED_KEY = 512;

export class Qconfd {
  readonly stats = new Stats();
  readonly replica = new Replica();
  private keyring: Keyring;
  private trust: TrustKeys | undefined;
  /** The etcd snapshot waiting to be sealed, and whether one is being sealed. */
  private pendingSeal: PendingSeal | undefined;
  private sealing = false;
  private stopping = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  private ganetiKey: Buffer | undefined;
  /** The access file's policy (--access-file); undefined: every key has full access. */
  private readonly access: AccessControl | undefined;
  private readonly server: UdpServer;
  private readonly qcf1: Qcf1Service;
  /** The `to` values naming this daemon, known once the socket is bound. */
  private destinations: OwnAddresses | undefined;
  /** This start's id: with the node name, what clients count a quorum by. */
  readonly instance = randomBytes(8).toString('hex');
  private source: FileSource | undefined;
  private etcd: EtcdSource | undefined;
  private cache: CacheWriter | undefined;
  private lastSkipped = '';
  private stopDropLog: (() => void) | undefined;
  /** Made in start() (prom-client is loaded only when metrics are served). */
  private metrics: Metrics | undefined;
  private readonly notifier: Notifier;
  address: BoundAddress | undefined;
  metricsAddress: { address: string; port: number } | undefined;
  /** The reason the last document was refused, until one is accepted (for STATUS=). */
  private lastRefusal: string | undefined;

  constructor(
    private readonly opts: DaemonOptions,
    private readonly log: Logger,
    notifier?: Notifier,
  ) {
    if (!opts.keyFile) throw new QconfError('usage', KEY_FILE_REQUIRED);
    this.notifier = notifier ?? new Notifier();
    this.keyring = this.readKeys();
    this.trust = this.readTrust();
    this.ganetiKey = this.readGanetiKey();
    this.access = opts.accessFile === undefined ? undefined : this.readAccess(opts.accessFile);
    this.server = new UdpServer(this.stats, (err) => this.internalError('udp', err));
    const replay = new ReplayGuard({
      windowMs: opts.maxSkewMs,
      capacity: opts.replayCapacity,
      onClockStep: (stepMs) =>
        log.warn(
          { event: 'clock_step', stepMs: Math.round(stepMs) },
          stepMs < 0
            ? `the wall clock stepped back ${(-stepMs / 1000).toFixed(1)} s: requests stamped at times it had already shown may be refused (replay_overflow) until it is past them again`
            : `the wall clock stepped forward ${(stepMs / 1000).toFixed(1)} s`,
        ),
    });
    const qcf1 = new Qcf1Service({
      keyring: () => this.keyring,
      replica: this.replica,
      stats: this.stats,
      replay,
      maxSkewMs: opts.maxSkewMs,
      identity: { node: opts.nodeName, instance: this.instance },
      version: VERSION,
      waitLimits: { total: opts.maxWaits, perSource: opts.maxWaitsPerSource, perKey: opts.maxWaitsPerKey },
      waitCapMs: opts.maxWaitMs,
      destinations: () => this.destinations,
      validation: new AddressValidation(),
      send: (b, to) => this.server.send(b, to),
      debug: (f, m) => log.debug(f, m),
      onError: (e) => this.internalError('qcf1', e),
      access: this.access === undefined ? undefined : () => this.access?.policy,
      // Daemon-wide for now; a per-key access policy can answer per key here.
      sealRequired: opts.requireSeal ? () => true : undefined,
    });
    this.qcf1 = qcf1;
    this.server.route({ magic: magicOf('QCF1'), maxBytes: MAX_REQUEST_BYTES, protocol: 'qcf1', handler: (m, r) => qcf1.handle(m, r) });
    if (this.ganetiKey) {
      const plj0 = new Plj0Service({
        key: () => this.ganetiKey as Buffer,
        replica: this.replica,
        stats: this.stats,
        replay,
        configPath: opts.file ?? opts.etcd?.prefix ?? '',
        send: (b, to) => this.server.send(b, to),
        onError: (e) => this.internalError('plj0', e),
        onInvalidConfig: (snap, message) =>
          this.log.warn(
            { event: 'refused', reason: 'ganeti_config', source: snap.source, serial: snap.serial, servingSerial: snap.serial },
            `document serial ${snap.serial} is not a usable Ganeti config (plj0 keeps answering from the last good one): ${redactDocumentMessage(message)}`,
          ),
      });
      this.server.route({ magic: magicOf('plj0'), maxBytes: PLJ0_MAX_REQUEST_BYTES, protocol: 'plj0', handler: (m, r) => plj0.handle(m, r) });
    }
    this.replica.on('change', (snap) => {
      try {
        this.lastRefusal = undefined;
        if (this.address) this.notifier.status(this.statusLine(snap));
      } catch (e) {
        this.internalError('replica', e);
      }
    });
    // Live values for the stats op and the metrics, read when either reports.
    this.stats.gauges = () => {
      const s = this.replica.current;
      return {
        heldWaits: qcf1.waits.size,
        replica: {
          ready: s !== null,
          serial: s?.serial ?? 0,
          source: s?.source ?? 'none',
          loadedAt: s?.loadedAt ?? 0,
          stale: this.replica.stale,
          lastContact: this.replica.lastContact,
        },
      };
    };
  }

  /** The STATUS= line systemctl status shows. */
  private statusLine(snap: Snapshot | null): string {
    const a = this.address;
    const on = a ? ` on ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : '';
    const why = this.lastRefusal;
    if (snap) return `serving serial ${snap.serial} from ${snap.source}${on}${why ? `; the newest document was refused (${why})` : ''}`;
    if (this.opts.file && (why === undefined || why === 'missing')) return `no document yet: watching ${this.opts.file}, answering not_ready${on}`;
    if (this.opts.file) return `no valid document yet: watching ${this.opts.file}, answering not_ready${on}; refused (${why})`;
    if (this.opts.etcd) return `no replica yet: reading etcd prefix ${this.opts.etcd.prefix}, answering not_ready${on}`;
    return `no document source configured: answering not_ready${on}`;
  }

  /** The publishers' public keys documents must be signed with (--trust-key), if any. */
  private readTrust(): TrustKeys | undefined {
    return this.opts.trustKeyFile === undefined ? undefined : loadTrustKeys(this.opts.trustKeyFile);
  }

  /** The access file at start: one that is refused stops the start (nothing to fall back on). */
  private readAccess(path: string): AccessControl {
    return new AccessControl(path, this.stats, {
      loaded: (policy, trigger) => {
        this.log.info(
          { event: 'access_reloaded', source: 'access_file', trigger, keys: policy.file.keys.size, scopes: policy.scopes.length },
          `access file ${path}: ${policy.file.keys.size} keys named, ${policy.scopes.length} distinct scopes`,
        );
        // Not yet there at start (the file is read first); held waits then are none.
        (this.qcf1 as Qcf1Service | undefined)?.accessChanged();
      },
      refused: (message, trigger) =>
        this.log.error({ event: 'refused', reason: 'access_file', source: 'access_file', trigger }, `access file refused, the last good one stays: ${message}`),
    });
  }

  private readKeys(): Keyring {
    const { keyring, warnings } = loadKeyring(this.opts.keyFile as string);
    for (const w of warnings) this.log.warn({ event: 'key_file_warning', source: 'key_file', reason: 'world_readable' }, w);
    return keyring;
  }

  private readGanetiKey(): Buffer | undefined {
    if (!this.opts.ganetiKeyFile) return undefined;
    const { key, warnings } = readRawKeyFile(this.opts.ganetiKeyFile);
    for (const w of warnings) this.log.warn({ event: 'key_file_warning', source: 'ganeti_key_file', reason: 'world_readable' }, w);
    return key;
  }

  /**
   * The snapshot of a loaded document: served without its signature member, with its commitment
   * when it is signed, refused (SignatureError) when the daemon's trusted keys say so. `serial`
   * is the document's own (a file's serial_no), checked against the signed one; an etcd replica
   * has none (`fallback`, its revision, serves an unsigned one).
   */
  private async snapshotOf(doc: unknown, serial: number | undefined, source: 'file' | 'etcd', origin: string, fallback = 0): Promise<Snapshot> {
    // In slices: a large signed document's commitment is built while the last one serves.
    const sealed = (await runSliced(sealDocument(doc, serial, this.trust, origin))) as Sealed;
    const s = sealed.signed ? sealed.serial : (serial ?? fallback);
    return new Snapshot({ doc: sealed.doc, serial: s, source, origin, signed: sealed.signed });
  }

  /**
   * Seal etcd snapshots one at a time, the newest waiting: a replica that changed again while
   * one was sealed is sealed next, and those in between are never served. A signed replica's
   * serial is the signed one (docs/protocol.md, "Verified answers").
   */
  private sealLatest(next: PendingSeal): void {
    this.pendingSeal = next;
    if (this.sealing) return;
    this.sealing = true;
    void (async () => {
      try {
        for (let p = this.pendingSeal; p !== undefined; p = this.pendingSeal) {
          this.pendingSeal = undefined;
          let snap: Snapshot;
          try {
            snap = await this.snapshotOf(p.raw.doc, undefined, 'etcd', p.raw.origin, p.raw.serial);
          } catch (err) {
            this.refuse(refusalReason(err), (err as Error).message, p.trigger);
            continue;
          }
          if (this.stopping) return;
          this.accept(snap, p.trigger);
          if (this.cache && p.kvs && this.replica.current === snap) {
            this.cache.save({ version: 1, source: 'etcd', prefix: p.prefix, serial: snap.serial, savedAt: Date.now(), kvs: p.kvs });
          }
        }
      } catch (err) {
        this.internalError('etcd', err, 'etcd');
      } finally {
        this.sealing = false;
      }
    })();
  }

  /** Accept a snapshot from a source; refuse one whose serial goes backwards. */
  private accept(snap: Snapshot, trigger: string): void {
    const r = this.replica.offer(snap);
    if (!r.ok) return this.refuse(r.reason, r.message, trigger, snap.serial);
    this.stats.reloads++;
    this.log.info(
      { event: 'reload', serial: snap.serial, previousSerial: r.previous?.serial ?? null, source: snap.source, trigger },
      `serving serial ${snap.serial}`,
    );
    this.watchExpiry(snap);
  }

  /**
   * A signed document is served after its signature expires (nothing newer came), but clients
   * with trust keys refuse its answers: said once a day before, and once at expiry.
   */
  private watchExpiry(snap: Snapshot): void {
    clearTimeout(this.expiryTimer);
    const expires = snap.signed?.signed.expires;
    if (expires === undefined) return;
    const warnAt = [expires - 86_400_000, expires].filter((t) => t > Date.now());
    const next = warnAt[0];
    if (next === undefined) return;
    // Timers hold at most ~24.8 days: a later time is reached in steps.
    this.expiryTimer = setTimeout(() => {
      if (this.replica.current !== snap) return;
      if (Date.now() >= next) {
        const expired = Date.now() >= expires;
        this.log.warn(
          { event: expired ? 'signature_expired' : 'signature_expiring', serial: snap.serial, source: snap.source, expires: new Date(expires).toISOString() },
          expired
            ? `the signature of serial ${snap.serial} has expired: clients with trust keys refuse its answers; publish a newly signed document`
            : `the signature of serial ${snap.serial} expires within a day; publish a newly signed document`,
        );
      }
      this.watchExpiry(snap);
    }, Math.min(next - Date.now() + 1, 2 ** 31 - 1)).unref();
  }

  /** Log and count a refused document: `serial` is its own (null when unknown), `servingSerial` the one kept. */
  private refuse(reason: string, message: string, trigger: string, serial: number | null = null): void {
    this.stats.refusal(reason);
    const serving = this.replica.current?.serial ?? null;
    this.log.warn({ event: 'refused', reason, source: this.opts.etcd ? 'etcd' : 'file', trigger, serial, servingSerial: serving }, `document refused: ${redactDocumentMessage(message)}`);
    this.lastRefusal = message.includes('does not exist') ? 'missing' : reason;
    if (this.address) this.notifier.status(this.statusLine(this.replica.current));
  }

  async start(): Promise<BoundAddress> {
    const o = this.opts;
    // The port first: one in use fails the start before any document is loaded or logged as
    // served. Datagrams are dropped until the sources have started, as before the bind.
    const bound = await this.server.listen(o.port, o.bind, { paused: true });
    if (o.metricsListen) {
      const { Metrics } = await loadPeer('prom-client', () => import('./metrics.js'));
      this.metrics = new Metrics(this.stats, { version: VERSION, node: o.nodeName });
    }
    if (o.file) {
      this.source = new FileSource({
        path: o.file,
        maxBytes: o.maxDocumentBytes,
        build: (doc, serial, path) => this.snapshotOf(doc, serial, 'file', path),
        onSnapshot: (s, t) => this.accept(s, t),
        onRefusal: (reason, msg, t) => this.refuse(reason, msg, t),
        onMode: (mode, why) => this.log.info({ event: 'watch_mode', mode, source: 'file', reason: why }, `file source: ${mode} mode`),
      });
      await this.source.start();
    }
    if (o.etcd) await this.startEtcd();
    this.address = bound;
    this.destinations = new OwnAddresses({ bind: this.address.address, port: this.address.port, advertise: o.advertise });
    this.server.resume();
    if (this.metrics && o.metricsListen) {
      this.metricsAddress = await this.metrics.listen(o.metricsListen);
      const m = this.metricsAddress;
      this.log.info({ event: 'metrics_listen', address: m.address, port: m.port }, `metrics at http://${m.address.includes(':') ? `[${m.address}]` : m.address}:${m.port}/metrics`);
    }
    this.stopDropLog = startDropSummary(this.stats, this.log);
    this.access?.watch();
    this.log.info(
      {
        event: 'start',
        version: VERSION,
        node: o.nodeName,
        address: this.address.address,
        port: this.address.port,
        serial: this.replica.current?.serial ?? null,
        source: o.file ? 'file' : o.etcd ? 'etcd' : 'none',
        keys: this.keyring.keys.length,
      },
      `qconfd listening on ${this.address.address} port ${this.address.port}`,
    );
    // Ready only now: the socket is bound, and a snapshot serves or the source is watched.
    this.notifier.ready(this.statusLine(this.replica.current));
    this.notifier.startWatchdog(() => this.server.listening);
    return this.address;
  }

  /** SIGHUP: re-read key files and reload the document. A bad key file keeps the old keys. */
  async reload(): Promise<void> {
    const serial = this.replica.current?.serial ?? null;
    try {
      const keyring = this.readKeys();
      const trust = this.readTrust();
      const ganetiKey = this.readGanetiKey();
      // Both files are read before either is swapped in: a bad one changes nothing.
      this.keyring = keyring;
      this.trust = trust;
      this.ganetiKey = ganetiKey ?? this.ganetiKey;
      this.stats.keyReloads++;
      this.log.info(
        { event: 'keys_reloaded', source: 'key_file', trigger: 'sighup', serial, keys: keyring.keys.length, keyIds: keyring.keys.map((k) => k.idHex) },
        'key file re-read',
      );
    } catch (e) {
      this.stats.refusal('key_file');
      this.log.error({ event: 'refused', reason: 'key_file', source: 'key_file', trigger: 'sighup', serial }, `key file refused, old keys kept: ${(e as Error).message}`);
    }
    this.access?.reload('sighup');
    await this.source?.reload('sighup', true);
    await this.etcd?.refresh();
  }

  /** The etcd source: a cached replica first (stale), then the prefix read and watched. */
  private async startEtcd(): Promise<void> {
    const e = this.opts.etcd;
    if (!e) return;
    const { EtcdSource } = await loadPeer('etcd3', () => import('./source/etcd.js'));
    const settings = etcdClientSettings(e);
    this.stats.setEtcdState('connecting');
    this.replica.setStale(true);
    const cacheDir = this.opts.cacheDir;
    if (cacheDir) {
      this.cache = new CacheWriter(
        cacheDir,
        (msg) => this.log.warn({ event: 'cache_error', source: 'etcd', reason: 'write_failed' }, `snapshot cache not written: ${msg}`),
        1000,
        (c) => this.log.debug({ event: 'cache_written', source: 'etcd', serial: c.serial }, 'replica cached'),
      );
    }
    const etcd = new EtcdSource({
      endpoints: e.endpoints,
      prefix: e.prefix,
      maxBytes: this.opts.maxDocumentBytes,
      ...settings,
      onSnapshot: (raw, trigger) => {
        // The keys as they are now: the cache is written once this snapshot is sealed and serving.
        const kvs = this.cache && trigger !== 'cache' ? etcd.entries() : undefined;
        this.sealLatest({ raw, trigger, kvs, prefix: e.prefix });
      },
      onSkipped: (skipped, serial) => {
        this.stats.skippedKeys = skipped.length;
        const text = JSON.stringify(skipped);
        if (text === this.lastSkipped) return;
        this.lastSkipped = text;
        // Key names only: values may be secret. A key of thousands of segments is shortened.
        const keys = skipped.map((k) => (k.key.length > MAX_LOGGED_KEY ? { ...k, key: `${k.key.slice(0, MAX_LOGGED_KEY)}… (${k.key.length} characters)` } : k));
        if (skipped.length > 0) this.log.warn({ event: 'keys_skipped', source: 'etcd', serial, reason: 'invalid_keys', keys }, `${skipped.length} etcd keys skipped`);
      },
      onRefusal: (reason, msg, t) => this.refuse(reason, msg, t),
      onState: (st) => this.etcdState(st),
      onError: (event, message) => this.log.warn({ event, source: 'etcd', reason: event }, message),
      onInternalError: (where, err) => this.internalError(where, err, 'etcd'),
    });
    this.etcd = etcd;
    const cached = cacheDir ? await readCache(cacheDir, e.prefix, this.opts.maxDocumentBytes) : undefined;
    if (cached) {
      etcd.serveCached(cached.serial, cached.kvs);
      this.log.info({ event: 'cache_loaded', source: 'etcd', serial: cached.serial, savedAt: cached.savedAt }, `serving the cached replica (serial ${cached.serial}) until etcd answers`);
    }
    await etcd.start();
  }

  /**
   * An unexpected error at one of the daemon's entry points (a datagram, a timer, a source's
   * event): a bug, caught there. Logged with where it happened, the error's type and its stack
   * frames (its message, which may quote a value, only at debug), and counted; the daemon keeps
   * serving, a source keeps its last good replica.
   */
  private internalError(where: string, err: unknown, source?: string): void {
    this.stats.internalErrors++;
    const e = err instanceof Error ? err : undefined;
    const frames = (e?.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l)).map((l) => l.trim());
    const fields = { event: 'internal_error', source, where, error: e?.name ?? typeof err, frames, serial: this.replica.current?.serial ?? null };
    this.log.error(fields, `internal error (${source ? `${source} source, ` : ''}${where}): ${e?.name ?? typeof err}; serving goes on`);
    this.log.debug({ event: 'internal_error_message', where }, e?.message ?? String(err));
  }

  private etcdState(st: EtcdState): void {
    const wasStale = this.replica.stale;
    const was = this.stats.etcdState;
    this.replica.lastContact = st.lastContact;
    this.stats.setEtcdState(st.connected ? 'connected' : 'disconnected');
    this.replica.setStale(st.stale || this.replica.current === null);
    if (was !== this.stats.etcdState || wasStale !== this.replica.stale) {
      this.log.info({ event: 'etcd_state', source: 'etcd', state: this.stats.etcdState, stale: this.replica.stale, serial: this.replica.current?.serial ?? null }, `etcd ${this.stats.etcdState}${this.replica.stale ? ' (replica stale)' : ''}`);
      if (this.address) this.notifier.status(this.statusLine(this.replica.current));
    }
  }

  async stop(signal: string): Promise<void> {
    this.stopping = true;
    clearTimeout(this.expiryTimer);
    this.notifier.stopping(`stopping (${signal}), answering held waits`);
    this.server.stopReceiving();
    this.source?.stop();
    this.etcd?.stop();
    this.access?.stop();
    this.cache?.flush();
    this.stopDropLog?.();
    this.qcf1.waits.releaseAll();
    await this.server.close();
    await this.metrics?.close();
    this.log.info({ event: 'shutdown', signal, source: this.replica.current?.source ?? 'none', serial: this.replica.current?.serial ?? null }, 'qconfd stopped');
    // STOPPING=1 must reach the manager before we exit (bounded).
    await this.notifier.flush(3000);
  }
}
