// Composition of the daemon: replica, source, guards, protocol services and the socket.
import type { Logger } from 'pino';
import { QconfError } from '../shared/errors.js';
import { Keyring, loadKeyring, readRawKeyFile } from '../shared/keyring.js';
import { VERSION } from '../shared/version.js';
import { startDropSummary } from './drop-log.js';
import { FileSource } from './file-source.js';
import type { DaemonOptions } from './options.js';
import { Qcf1Service } from './qcf1-service.js';
import { ReplayGuard } from './replay-guard.js';
import { Replica } from './replica.js';
import type { Snapshot } from './snapshot.js';
import { Stats } from './stats.js';
import { UdpServer, magicOf, type BoundAddress } from './udp-server.js';
import { MAX_REQUEST_BYTES } from '../shared/qcf1.js';
import { WaitRegistry } from './wait-registry.js';
import { PLJ0_MAX_REQUEST_BYTES, Plj0Service } from './ganeti/plj0-service.js';

export class Qconfd {
  readonly stats = new Stats();
  readonly replica = new Replica();
  private keyring: Keyring;
  private ganetiKey: Buffer | undefined;
  private readonly server: UdpServer;
  private readonly waits: WaitRegistry;
  private source: FileSource | undefined;
  private stopDropLog: (() => void) | undefined;
  address: BoundAddress | undefined;

  constructor(
    private readonly opts: DaemonOptions,
    private readonly log: Logger,
  ) {
    if (!opts.keyFile) throw new QconfError('usage', '--key-file is required');
    this.keyring = this.readKeys();
    this.ganetiKey = this.readGanetiKey();
    this.server = new UdpServer(this.stats, (err) => log.error({ event: 'socket_error', err: err.message }, 'socket error'));
    this.waits = new WaitRegistry({ total: opts.maxWaits, perSource: opts.maxWaitsPerSource });
    const replay = new ReplayGuard({ windowMs: opts.maxSkewMs, capacity: opts.replayCapacity });
    const qcf1 = new Qcf1Service({
      keyring: () => this.keyring,
      replica: this.replica,
      stats: this.stats,
      replay,
      maxSkewMs: opts.maxSkewMs,
      node: opts.nodeName,
      version: VERSION,
      waits: this.waits,
      waitCapMs: opts.maxWaitMs,
      send: (b, to) => this.server.send(b, to),
      debug: (f, m) => log.debug(f, m),
    });
    this.server.route({ magic: magicOf('QCF1'), maxBytes: MAX_REQUEST_BYTES, handler: (m, r) => qcf1.handle(m, r) });
    if (this.ganetiKey) {
      const plj0 = new Plj0Service({
        key: () => this.ganetiKey as Buffer,
        replica: this.replica,
        stats: this.stats,
        replay,
        configPath: opts.file ?? '',
        send: (b, to) => this.server.send(b, to),
      });
      this.server.route({ magic: magicOf('plj0'), maxBytes: PLJ0_MAX_REQUEST_BYTES, handler: (m, r) => plj0.handle(m, r) });
    }
    this.replica.on('change', () => {
      this.stats.heldWaits = this.waits.size;
      this.waits.recheck();
    });
  }

  private readKeys(): Keyring {
    const { keyring, warnings } = loadKeyring(this.opts.keyFile as string);
    for (const w of warnings) this.log.warn({ event: 'key_file_warning' }, w);
    return keyring;
  }

  private readGanetiKey(): Buffer | undefined {
    if (!this.opts.ganetiKeyFile) return undefined;
    const { key, warnings } = readRawKeyFile(this.opts.ganetiKeyFile);
    for (const w of warnings) this.log.warn({ event: 'key_file_warning' }, w);
    return key;
  }

  /** Accept a snapshot from a source; refuse one whose serial goes backwards. */
  private accept(snap: Snapshot, trigger: string): void {
    const r = this.replica.offer(snap);
    if (!r.ok) return this.refuse(r.reason, r.message, trigger);
    this.stats.reloads++;
    this.log.info(
      { event: 'reload', serial: snap.serial, previousSerial: r.previous?.serial ?? null, source: snap.source, trigger },
      `serving serial ${snap.serial}`,
    );
  }

  private refuse(reason: string, message: string, trigger: string): void {
    this.stats.refusal(reason);
    const serving = this.replica.current?.serial ?? null;
    this.log.warn({ event: 'refused', reason, source: 'file', trigger, servingSerial: serving }, `document refused: ${message}`);
  }

  async start(): Promise<BoundAddress> {
    const o = this.opts;
    if (o.file) {
      this.source = new FileSource({
        path: o.file,
        onSnapshot: (s, t) => this.accept(s, t),
        onRefusal: (reason, msg, t) => this.refuse(reason, msg, t),
        onMode: (mode, why) => this.log.info({ event: 'watch_mode', mode, reason: why }, `file source: ${mode} mode`),
      });
      await this.source.start();
    }
    this.address = await this.server.listen(o.port, o.bind);
    this.stopDropLog = startDropSummary(this.stats, this.log);
    this.log.info(
      {
        event: 'start',
        version: VERSION,
        node: o.nodeName,
        address: this.address.address,
        port: this.address.port,
        serial: this.replica.current?.serial ?? null,
        source: o.file ? 'file' : 'none',
        keys: this.keyring.keys.length,
      },
      `qconfd listening on ${this.address.address} port ${this.address.port}`,
    );
    return this.address;
  }

  /** SIGHUP: re-read key files and reload the document. A bad key file keeps the old keys. */
  async reload(): Promise<void> {
    try {
      this.keyring = this.readKeys();
      this.ganetiKey = this.readGanetiKey() ?? this.ganetiKey;
      this.log.info({ event: 'keys_reloaded', keys: this.keyring.keys.length }, 'key file re-read');
    } catch (e) {
      this.log.error({ event: 'refused', reason: 'key_file', source: 'key_file' }, `key file refused, old keys kept: ${(e as Error).message}`);
    }
    await this.source?.reload('sighup', true);
  }

  async stop(signal: string): Promise<void> {
    this.server.stopReceiving();
    this.source?.stop();
    this.stopDropLog?.();
    this.waits.releaseAll();
    await this.server.close();
    this.log.info({ event: 'shutdown', signal, serial: this.replica.current?.serial ?? null }, 'qconfd stopped');
  }
}
