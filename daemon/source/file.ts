// The file replica source: loads a JSON document, then reloads it when it changes. A watch on
// the directory (so a rename-over is seen), a polling fallback when watching fails, a slow
// safety re-check, and a rate limit that still reacts at once to the first change.
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { QconfError } from '../../shared/errors.js';
import { JsonDepthError } from '../../shared/json-depth.js';
import { DEFAULT_MAX_DOCUMENT_BYTES, DocumentLimitError, checkDepth, tooDeep } from './document-limits.js';
import { parseJsonBytes, parseJsonSliced } from './json-sliced.js';
import { readRegularFile } from './regular-file.js';
import { Snapshot, documentSerial } from '../snapshot.js';

/**
 * Documents at least this large are parsed from their bytes by json-sliced.ts (never holding
 * the whole text as a string), and in slices once a snapshot is serving, so that a reload never
 * holds the event loop for the whole parse: answers keep flowing from the serving snapshot.
 */
export const SLICED_PARSE_BYTES = 2 * 1024 * 1024;

export interface FileSourceOptions {
  path: string;
  /** Minimum time between two reloads; a change inside it is picked up when it ends. */
  rateLimitMs?: number;
  pollMs?: number;
  safetyMs?: number;
  /** Larger documents are refused (too_large); default 1 GiB. */
  maxBytes?: number;
  /** Turns a parsed document into a snapshot (or throws a QconfError('document')). */
  build?: (doc: unknown, serial: number, path: string) => Snapshot | Promise<Snapshot>;
  onSnapshot: (snap: Snapshot, trigger: string) => void;
  onRefusal: (reason: string, message: string, trigger: string) => void;
  onMode?: (mode: 'watch' | 'poll', why: string) => void;
}

type Fingerprint = string;

async function fingerprint(path: string): Promise<Fingerprint | null> {
  try {
    const st = await stat(path, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return null;
  }
}

export function defaultBuild(doc: unknown, serial: number, path: string): Snapshot {
  return new Snapshot({ doc, serial, source: 'file', origin: path });
}

/**
 * Read and validate a document file; throws QconfError (a DocumentLimitError for a file that is
 * not regular, too large or nested too deep) naming the path.
 * `sliced`: parse a large document in slices (a snapshot is serving and must keep answering);
 * without it (nothing to serve yet) it is parsed at once, which is faster.
 */
export async function readDocument(path: string, sliced = false, maxBytes = DEFAULT_MAX_DOCUMENT_BYTES): Promise<{ doc: unknown; serial: number }> {
  const bytes = await readRegularFile(path, maxBytes);
  let doc: unknown;
  try {
    // The same result, and the same error, as JSON.parse of the file's UTF-8 text. The depth is
    // checked by the large documents' scan itself, and by a byte scan for small ones, first:
    // JSON.parse takes 0.4 s over a million levels.
    if (bytes.length < SLICED_PARSE_BYTES) {
      checkDepth(bytes);
      doc = JSON.parse(bytes.toString('utf8'));
    } else {
      doc = sliced ? await parseJsonSliced(bytes) : parseJsonBytes(bytes);
    }
  } catch (e) {
    if (e instanceof JsonDepthError) throw tooDeep(path, e);
    throw new QconfError('document', `${path}: not valid JSON (${(e as Error).message})`);
  }
  return { doc, serial: documentSerial(doc, path) };
}

/** The reason code a refusal is logged and counted under. */
export function refusalReason(e: unknown): string {
  if (e instanceof DocumentLimitError) return e.reason;
  // Errors that name their own reason (a SignatureError: `signature`).
  const own = (e as { reason?: unknown } | null)?.reason;
  if (typeof own === 'string') return own;
  if (!(e instanceof QconfError)) return 'invalid';
  const message = e.message;
  if (message.includes('does not exist') || message.includes('unreadable')) return 'unreadable';
  if (message.includes('not valid JSON')) return 'bad_json';
  if (message.includes('serial_no')) return 'bad_serial';
  if (message.includes('not a JSON object')) return 'not_object';
  return 'invalid';
}

export class FileSource {
  private readonly o: Required<Omit<FileSourceOptions, 'onMode'>> & Pick<FileSourceOptions, 'onMode'>;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private safetyTimer: NodeJS.Timeout | undefined;
  private pendingTimer: NodeJS.Timeout | undefined;
  private lastLoadAt = 0;
  private loaded: Fingerprint | null = null;
  private refused: Fingerprint | null = null;
  private running: Promise<void> | undefined;
  private again = false;
  private againForced = false;
  private stopped = false;
  /** A snapshot has been delivered: later documents are parsed in slices while it serves. */
  private delivered = false;

  constructor(opts: FileSourceOptions) {
    this.o = { rateLimitMs: 250, pollMs: 250, safetyMs: 17_000, maxBytes: DEFAULT_MAX_DOCUMENT_BYTES, build: defaultBuild, ...opts };
  }

  /** Load once, then watch. A failed first load is reported, not thrown: the daemon starts not ready. */
  async start(): Promise<void> {
    await this.reload('start', true);
    this.startWatch();
    this.safetyTimer = setInterval(() => this.trigger('safety'), this.o.safetyMs);
    this.safetyTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.pollTimer);
    clearInterval(this.safetyTimer);
    clearTimeout(this.pendingTimer);
  }

  private startWatch(): void {
    if (this.stopped) return;
    const dir = dirname(this.o.path);
    const name = basename(this.o.path);
    try {
      const w = watch(dir, { persistent: false }, (_event, file) => {
        if (file === null || file === name || file.startsWith(name)) this.trigger('watch');
      });
      w.on('error', (err) => {
        w.close();
        if (this.watcher === w) this.watcher = undefined;
        this.startPolling(`watch failed: ${err.message}`);
      });
      this.watcher = w;
      if (this.pollTimer) {
        clearInterval(this.pollTimer);
        this.pollTimer = undefined;
        this.o.onMode?.('watch', 'directory watch restored');
      }
    } catch (e) {
      this.startPolling(`cannot watch ${dir}: ${(e as Error).message}`);
    }
  }

  private startPolling(why: string): void {
    if (this.stopped || this.pollTimer) return;
    this.o.onMode?.('poll', why);
    let idle = 0;
    this.pollTimer = setInterval(() => {
      this.trigger('poll');
      // Try to get back to watching about once a second.
      if (++idle % 4 === 0) this.startWatch();
    }, this.o.pollMs);
    this.pollTimer.unref();
  }

  /** A change may have happened: reload now, or when the rate limit allows. */
  trigger(why: string): void {
    if (this.stopped || this.pendingTimer) return;
    const wait = this.lastLoadAt + this.o.rateLimitMs - Date.now();
    if (wait <= 0) {
      void this.reload(why, false);
      return;
    }
    this.pendingTimer = setTimeout(() => {
      this.pendingTimer = undefined;
      void this.reload(why, false);
    }, wait);
  }

  /** Reload unless the file is unchanged; `force` reloads regardless (start, SIGHUP). */
  reload(trigger: string, force: boolean): Promise<void> {
    if (this.running) {
      // One reload at a time; a request arriving meanwhile runs once more afterwards.
      this.again = true;
      this.againForced = this.againForced || force;
      return this.running;
    }
    this.running = this.doReload(trigger, force).finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        const forced = this.againForced;
        this.again = this.againForced = false;
        void this.reload(trigger, forced);
      }
    });
    return this.running;
  }

  private async doReload(trigger: string, force: boolean): Promise<void> {
    const fp = await fingerprint(this.o.path);
    if (!force && fp !== null && (fp === this.loaded || fp === this.refused)) return;
    if (!force && fp === null && this.refused === 'missing') return;
    this.lastLoadAt = Date.now();
    try {
      const { doc, serial } = await readDocument(this.o.path, this.delivered, this.o.maxBytes);
      // The file may have changed while it was read; the fingerprint taken before the read is
      // kept, so a later event sees the difference and reloads again.
      const snap = await this.o.build(doc, serial, this.o.path);
      this.loaded = fp;
      this.refused = null;
      this.delivered = true;
      this.o.onSnapshot(snap, trigger);
    } catch (e) {
      this.refused = fp ?? 'missing';
      const message = e instanceof Error ? e.message : String(e);
      this.o.onRefusal(refusalReason(e), message, trigger);
    }
  }
}
