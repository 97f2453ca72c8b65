// The access policy in force: for each key that signs a request, its scope (paths and ops),
// whether its traffic must be sealed, its rate and its counters. Made from an access file;
// without one (no --access-file) the daemon has no policy and every key has full access.
import { performance } from 'node:perf_hooks';
import type { Key } from '../../shared/keyring.js';
import type { KeyCounters, Stats } from '../stats.js';
import type { AccessEntry, AccessFile } from './access-file.js';
import { TokenBucket, type RateVerdict } from './rate-limiter.js';
import { SCOPE_OPS, Scope } from './scope.js';

/** The label of keys the access file does not name (they get its `default`). */
export const DEFAULT_LABEL = 'default';

/**
 * Buckets kept for keys the file does not name, one per key id. Only keys of the daemon's
 * keyring get this far (the MAC is checked first), so this bounds nothing a sender can grow;
 * past it the table starts afresh.
 */
const MAX_UNNAMED_KEYS = 4096;

/** One key's access, as the request path consults it. */
export class KeyAccess {
  constructor(
    /** The key's id, 8 hex digits. */
    readonly keyId: string,
    /** Its counters' label: the key id when the file names it, else "default". */
    readonly label: string,
    readonly scope: Scope,
    /** The access file's `seal`: this key's requests must be sealed (enforced by the sealed-traffic path). */
    readonly seal: boolean,
    private readonly bucket: TokenBucket | undefined,
    readonly counters: KeyCounters,
  ) {}

  /** A request signed by this key arrived: counted, then admitted or refused by its rate. */
  admit(): RateVerdict {
    this.counters.requests++;
    if (this.bucket === undefined) return 'admit';
    const v = this.bucket.take(performance.now());
    if (v !== 'admit') this.counters.rateLimited++;
    return v;
  }

  /**
   * The admitted request turned out to be meant for another daemon (a copy of one sent there,
   * replayed here by whoever saw it): its token goes back, so no onlooker can spend a key's rate.
   */
  unadmit(): void {
    this.counters.requests--;
    this.bucket?.giveBack();
  }

  /** The rate's bucket, for a policy reloaded with the same rate (its state carries over). */
  bucketFor(rate: number | undefined): TokenBucket | undefined {
    return this.bucket !== undefined && this.bucket.perSecond === rate ? this.bucket : undefined;
  }
}

/** Whether this key's traffic must be sealed (the access file's `seal`); false without a policy. */
export function requiresSealedTraffic(access: KeyAccess | undefined): boolean {
  return access?.seal === true;
}

function scopeOf(e: AccessEntry, interned: Map<string, Scope>): Scope {
  const allPaths = e.paths.some((p) => p.length === 0);
  // Default ops: all but `stats` (it tells of every key's traffic), or all for a full-paths entry.
  const ops = e.ops ?? (allPaths ? SCOPE_OPS : SCOPE_OPS.filter((o) => o !== 'stats'));
  const s = new Scope(e.paths, ops);
  const known = interned.get(s.id);
  if (known !== undefined) return known;
  interned.set(s.id, s);
  return s;
}

export class AccessPolicy {
  private readonly named = new Map<number, KeyAccess>();
  private readonly unnamed = new Map<number, KeyAccess>();
  private readonly entries = new Map<string, { entry: AccessEntry; scope: Scope }>();
  private readonly dflt: { entry: AccessEntry; scope: Scope };
  /** The distinct scopes of this policy. */
  readonly scopes: Scope[];

  /**
   * `previous`: the policy this one replaces; a key whose rate stays the same keeps its bucket
   * (a reload is no way around a rate).
   */
  constructor(
    readonly file: AccessFile,
    private readonly stats: Stats,
    previous?: AccessPolicy,
  ) {
    const interned = new Map<string, Scope>();
    this.dflt = { entry: file.default, scope: scopeOf(file.default, interned) };
    for (const [id, entry] of file.keys) this.entries.set(id, { entry, scope: scopeOf(entry, interned) });
    this.scopes = [...interned.values()];
    stats.keepKeyLabels([DEFAULT_LABEL, ...file.keys.keys()]);
    if (previous !== undefined) for (const [id, a] of [...previous.named, ...previous.unnamed]) this.make(id, a.keyId, a);
  }

  /** The access of `key`: the file's entry for its id, else the default. */
  forKey(key: Key): KeyAccess {
    const a = this.named.get(key.id) ?? this.unnamed.get(key.id);
    return a ?? this.make(key.id, key.idHex);
  }

  private make(id: number, idHex: string, before?: KeyAccess): KeyAccess {
    const e = this.entries.get(idHex);
    const label = e === undefined ? DEFAULT_LABEL : idHex;
    const { entry, scope } = e ?? this.dflt;
    const carried = before?.label === label ? before.bucketFor(entry.rate) : undefined;
    const bucket = carried ?? (entry.rate === undefined ? undefined : new TokenBucket(entry.rate, performance.now()));
    const a = new KeyAccess(idHex, label, scope, entry.seal, bucket, this.stats.keyCounters(label));
    if (e !== undefined) this.named.set(id, a);
    else {
      if (this.unnamed.size >= MAX_UNNAMED_KEYS) this.unnamed.clear();
      this.unnamed.set(id, a);
    }
    return a;
  }

  /** One line per entry for logs and --check: key ids, paths, ops, seal, rate (no secrets). */
  describe(): string[] {
    const line = (name: string, e: AccessEntry, s: Scope) =>
      `${name}: paths ${s.pointers().join(' ') || '(none)'}; ops ${[...s.ops].join(',') || '(none)'}${e.seal ? '; sealed' : ''}${e.rate !== undefined ? `; rate ${e.rate}/s` : ''}`;
    return [line('default', this.dflt.entry, this.dflt.scope), ...[...this.entries].map(([id, { entry, scope }]) => line(id, entry, scope))];
  }
}
