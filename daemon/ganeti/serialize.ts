// The re-serialized Ganeti config (ganeti-confd-protocol.md §7.3): ganeti-confd parses
// config.data into typed objects and prints them back, and types 8, 9 and 10 answer from that
// print. A table-driven schema per object type gives the Haskell field order, fills in defaults,
// omits absent optional fields, sorts UUID/free-form maps and tags, rounds integer fields and
// reproduces the ClockTime round trip of ctime/mtime. The same pass validates the document as
// strictly as Ganeti's loader does (unknown or missing keys, wrong JSON types).
import { objectCheck } from './schema-check.js';

export class GanetiLoadError {
  constructor(readonly message: string) {}
}

type Mode = 'req' | 'opt' | 'def';

export type FieldType =
  | 'str'
  | 'bool'
  | 'int'
  | 'dbl'
  | 'time'
  | 'any'
  | 'anymap'
  | 'tags'
  | 'lid'
  | { list: FieldType }
  | { map: FieldType }
  | { hvmap: FieldType }
  | { obj: Schema };

export interface Field {
  k: string;
  t: FieldType;
  m: Mode;
  d?: () => unknown;
}

export interface Schema {
  name: string;
  fields: Field[];
  /** Every field is optional (Ganeti's Partial* parameter objects). */
  partial?: boolean;
  /** Objects with "forthcoming": true use an all-optional variant (instances, disks). */
  forthcoming?: boolean;
  keys?: Set<string>;
}

const req = (k: string, t: FieldType): Field => ({ k, t, m: 'req' });
const opt = (k: string, t: FieldType): Field => ({ k, t, m: 'opt' });
const def = (k: string, t: FieldType, d: () => unknown): Field => ({ k, t, m: 'def', d });

function schema(name: string, fields: Field[], extra: Partial<Schema> = {}): Schema {
  const s: Schema = { name, fields, ...extra };
  s.keys = new Set(fields.map((f) => f.k));
  if (s.forthcoming) s.keys.add('forthcoming');
  return s;
}

function partialOf(s: Schema): Schema {
  return schema(s.name, s.fields, { partial: true });
}

const strs: FieldType = { list: 'str' };
const timeStamp = [def('ctime', 'time', () => 0), def('mtime', 'time', () => 0)];
const uuidF = [req('uuid', 'str')];
const serialF = [req('serial_no', 'int')];
const tagsF = [def('tags', 'tags', () => [])];

// Parameter objects (Filled = all required, Partial = only what is present).
const ND = schema('ndparams', [
  req('oob_program', 'str'),
  req('spindle_count', 'int'),
  req('exclusive_storage', 'bool'),
  req('ovs', 'bool'),
  req('ovs_name', 'str'),
  req('ovs_link', 'str'),
  req('ssh_port', 'int'),
  req('cpu_speed', 'dbl'),
]);
const BE = schema('beparams', [
  req('minmem', 'int'),
  req('maxmem', 'int'),
  req('vcpus', 'int'),
  req('auto_balance', 'bool'),
  req('always_failover', 'bool'),
  req('spindle_use', 'int'),
]);
const NIC_PARAMS = schema('nicparams', [req('mode', 'str'), req('link', 'str'), req('vlan', 'str')]);
const ISPEC = schema('ispec', [
  req('memory-size', 'int'),
  req('disk-size', 'int'),
  req('disk-count', 'int'),
  req('cpu-count', 'int'),
  req('nic-count', 'int'),
  req('spindle-use', 'int'),
]);
const MINMAX = schema('minmax', [req('min', { obj: ISPEC }), req('max', { obj: ISPEC })]);
const IPOLICY = schema('ipolicy', [
  req('minmax', { list: { obj: MINMAX } }),
  req('std', { obj: ISPEC }),
  req('spindle-ratio', 'dbl'),
  req('vcpu-ratio', 'dbl'),
  req('disk-templates', strs),
]);
const PARTIAL_IPOLICY = schema(
  'ipolicy',
  [
    opt('minmax', { list: { obj: MINMAX } }),
    opt('std', { obj: partialOf(ISPEC) }),
    opt('spindle-ratio', 'dbl'),
    opt('vcpu-ratio', 'dbl'),
    opt('disk-templates', strs),
  ],
  { partial: true },
);
const HV_STATE = schema('hv_state', [
  req('cpu_node', 'int'),
  req('cpu_total', 'int'),
  req('mem_hv', 'int'),
  req('mem_node', 'int'),
  req('mem_total', 'int'),
]);
const DATA_COLLECTOR = schema('data_collector', [req('active', 'bool'), req('interval', 'int')]);

const NIC = schema('nic', [
  req('mac', 'str'),
  opt('ip', 'str'),
  req('nicparams', { obj: partialOf(NIC_PARAMS) }),
  opt('network', 'str'),
  opt('name', 'str'),
  ...uuidF,
]);

export const DISK: Schema = schema(
  'disk',
  [
    req('logical_id', 'lid'),
    req('dev_type', 'str'),
    def('children', { list: 'any' }, () => []), // patched below: recursive
    def('nodes', strs, () => []),
    def('iv_name', 'str', () => ''),
    req('size', 'int'),
    def('mode', 'str', () => 'rw'),
    opt('name', 'str'),
    opt('spindles', 'int'),
    opt('params', 'anymap'),
    ...uuidF,
    ...serialF,
    ...timeStamp,
  ],
  { forthcoming: true },
);
DISK.fields[2] = def('children', { list: { obj: DISK } }, () => []);

export const INSTANCE = schema(
  'instance',
  [
    req('name', 'str'),
    req('primary_node', 'str'),
    req('os', 'str'),
    req('hypervisor', 'str'),
    def('hvparams', 'anymap', () => ({})),
    def('beparams', { obj: partialOf(BE) }, () => ({})),
    def('osparams', 'anymap', () => ({})),
    def('osparams_private', 'anymap', () => ({})),
    req('admin_state', 'str'),
    req('admin_state_source', 'str'),
    def('nics', { list: { obj: NIC } }, () => []),
    def('disks', strs, () => []),
    req('disks_active', 'bool'),
    opt('network_port', 'int'),
    ...timeStamp,
    ...uuidF,
    ...serialF,
    ...tagsF,
  ],
  { forthcoming: true },
);

export const NODE = schema('node', [
  req('name', 'str'),
  req('primary_ip', 'str'),
  req('secondary_ip', 'str'),
  req('master_candidate', 'bool'),
  req('offline', 'bool'),
  req('drained', 'bool'),
  req('group', 'str'),
  req('master_capable', 'bool'),
  req('vm_capable', 'bool'),
  req('ndparams', { obj: partialOf(ND) }),
  req('powered', 'bool'),
  opt('hv_state_static', { map: { obj: partialOf(HV_STATE) } }),
  opt('disk_state_static', 'anymap'),
  ...timeStamp,
  ...uuidF,
  ...serialF,
  ...tagsF,
]);

export const NODEGROUP = schema('nodegroup', [
  req('name', 'str'),
  def('members', strs, () => []),
  req('ndparams', { obj: partialOf(ND) }),
  req('alloc_policy', 'str'),
  req('ipolicy', { obj: PARTIAL_IPOLICY }),
  req('diskparams', { map: 'anymap' }),
  req('networks', { map: { obj: partialOf(NIC_PARAMS) } }),
  opt('hv_state_static', { map: { obj: partialOf(HV_STATE) } }),
  opt('disk_state_static', 'anymap'),
  ...timeStamp,
  ...uuidF,
  ...serialF,
  ...tagsF,
]);

export const NETWORK = schema('network', [
  req('name', 'str'),
  opt('mac_prefix', 'str'),
  req('network', 'str'),
  opt('network6', 'str'),
  opt('gateway', 'str'),
  opt('gateway6', 'str'),
  opt('reservations', 'str'),
  opt('ext_reservations', 'str'),
  ...uuidF,
  ...timeStamp,
  ...serialF,
  ...tagsF,
]);

export const FILTER = schema('filter', [
  req('watermark', 'int'),
  req('priority', 'int'),
  req('predicates', { list: 'any' }),
  req('action', 'any'),
  req('reason_trail', { list: 'any' }),
  ...uuidF,
]);

export const CLUSTER = schema('cluster', [
  req('rsahostkeypub', 'str'),
  opt('dsahostkeypub', 'str'),
  req('highest_used_port', 'int'),
  req('tcpudp_port_pool', { list: 'int' }),
  req('mac_prefix', 'str'),
  opt('volume_group_name', 'str'),
  req('reserved_lvs', strs),
  opt('drbd_usermode_helper', 'str'),
  req('master_node', 'str'),
  req('master_ip', 'str'),
  req('master_netdev', 'str'),
  req('master_netmask', 'int'),
  req('use_external_mip_script', 'bool'),
  req('cluster_name', 'str'),
  req('file_storage_dir', 'str'),
  req('shared_file_storage_dir', 'str'),
  req('gluster_storage_dir', 'str'),
  req('enabled_hypervisors', strs),
  req('hvparams', { hvmap: 'anymap' }),
  req('os_hvp', { map: { hvmap: 'anymap' } }),
  req('beparams', { map: { obj: BE } }),
  req('osparams', { map: 'anymap' }),
  req('osparams_private_cluster', { map: 'anymap' }),
  req('nicparams', { map: { obj: NIC_PARAMS } }),
  req('ndparams', { obj: ND }),
  req('diskparams', { map: 'anymap' }),
  req('candidate_pool_size', 'int'),
  req('modify_etc_hosts', 'bool'),
  req('modify_ssh_setup', 'bool'),
  req('maintain_node_health', 'bool'),
  req('uid_pool', { list: { list: 'int' } }),
  req('default_iallocator', 'str'),
  req('default_iallocator_params', 'anymap'),
  req('hidden_os', strs),
  req('blacklisted_os', strs),
  req('primary_ip_family', 'int'),
  req('prealloc_wipe_disks', 'bool'),
  req('ipolicy', { obj: IPOLICY }),
  def('hv_state_static', { map: { obj: HV_STATE } }, () => ({})),
  def('disk_state_static', 'anymap', () => ({})),
  req('enabled_disk_templates', strs),
  req('candidate_certs', { map: 'str' }),
  req('max_running_jobs', 'int'),
  req('max_tracked_jobs', 'int'),
  req('install_image', 'str'),
  req('instance_communication_network', 'str'),
  req('zeroing_image', 'str'),
  req('compression_tools', strs),
  req('enabled_user_shutdown', 'bool'),
  req('data_collectors', { map: { obj: DATA_COLLECTOR } }),
  req('ssh_key_type', 'str'),
  req('ssh_key_bits', 'int'),
  ...timeStamp,
  ...uuidF,
  ...serialF,
  ...tagsF,
]);

export const CONFIG = schema('config', [
  req('version', 'int'),
  req('cluster', { obj: CLUSTER }),
  req('nodes', { map: { obj: NODE } }),
  req('nodegroups', { map: { obj: NODEGROUP } }),
  req('instances', { map: { obj: INSTANCE } }),
  req('networks', { map: { obj: NETWORK } }),
  req('disks', { map: { obj: DISK } }),
  req('filters', { map: { obj: FILTER } }),
  ...timeStamp,
  ...serialF,
]);

/** Haskell's Hypervisor constructor order, the key order of hypervisor-keyed maps. */
const HYPERVISOR_ORDER = ['kvm', 'xen-pvm', 'chroot', 'xen-hvm', 'lxc', 'fake'];

// ---------------------------------------------------------------------------------------------

/** Byte order of the UTF-8 encodings (Haskell's ByteString/String map order). */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort after U+E000–U+FFFF in code point/UTF-8 order.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

export function sortedKeys(o: object): string[] {
  return Object.keys(o).sort(compareBytes);
}

/** Own-property assignment that is safe for the key "__proto__". */
export function put(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

export function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

/** Haskell `round`: half to even. */
export function roundHalfEvenNum(x: number): number {
  const r = Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x);
  return r === 0 ? 0 : r; // no -0
}

/** ctime/mtime: Ganeti stores a ClockTime (seconds, picoseconds) and prints it back as a double. */
export function clockTimeRoundTrip(x: number): number {
  if (!Number.isFinite(x)) return x;
  if (Number.isInteger(x)) return x === 0 ? 0 : x;
  const ps = x * 1e12;
  if (!Number.isFinite(ps) || Math.abs(ps) >= 2 ** 1000) return x;
  const total = BigInt(Math.round(ps));
  const unit = 1_000_000_000_000n;
  let secs = total / unit;
  let pico = total % unit;
  if (pico < 0n) {
    pico += unit;
    secs -= 1n;
  }
  return Number(secs) + Number(pico) / 1e12;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function fail(where: string, msg: string): never {
  throw new GanetiLoadError(`Can't parse value for '${where}': ${msg}`);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * The re-serialized value of `v` as field type `t`, checked as Ganeti's loader checks it. With
 * `build` false it is only checked (nothing is made) and `v` itself comes back.
 */
export function serValue(v: unknown, t: FieldType, where: string, build = true): unknown {
  switch (t) {
    case 'str':
      if (typeof v !== 'string') fail(where, `expected a string, got ${typeName(v)}`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') fail(where, `expected a boolean, got ${typeName(v)}`);
      return v;
    case 'int':
      if (typeof v !== 'number') fail(where, `expected an integer, got ${typeName(v)}`);
      return build ? roundHalfEvenNum(v) : v;
    case 'dbl':
      if (typeof v !== 'number') fail(where, `expected a number, got ${typeName(v)}`);
      return v === 0 ? 0 : v;
    case 'time':
      if (typeof v !== 'number') fail(where, `expected a time stamp, got ${typeName(v)}`);
      return build ? clockTimeRoundTrip(v) : v;
    case 'any':
      return v;
    case 'anymap': {
      if (!isObj(v)) fail(where, `expected an object, got ${typeName(v)}`);
      if (!build) return v;
      const out: Record<string, unknown> = {};
      for (const k of sortedKeys(v)) put(out, k, v[k]);
      return out;
    }
    case 'tags': {
      if (!Array.isArray(v)) fail(where, `expected a list of tags, got ${typeName(v)}`);
      for (const x of v) if (typeof x !== 'string') fail(where, 'a tag is not a string');
      return build ? [...new Set(v as string[])].sort(compareBytes) : v;
    }
    case 'lid':
      return serLogicalId(v, where, build);
  }
  if ('list' in t) {
    if (!Array.isArray(v)) fail(where, `expected a list, got ${typeName(v)}`);
    if (!build) {
      for (let i = 0; i < v.length; i++) serValue(v[i], t.list, where, false);
      return v;
    }
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = serValue(v[i], t.list, where);
    return out;
  }
  if ('map' in t || 'hvmap' in t) {
    if (!isObj(v)) fail(where, `expected an object, got ${typeName(v)}`);
    const keys = 'map' in t ? sortedKeys(v) : hypervisorOrder(Object.keys(v));
    const vt = 'map' in t ? t.map : t.hvmap;
    if (!build) {
      for (const k of keys) serValue(v[k], vt, k, false);
      return v;
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) put(out, k, serValue(v[k], vt, k));
    return out;
  }
  return serObject(v, t.obj, where, build);
}

/** Hypervisor-keyed maps: Haskell's constructor order, then any other key in byte order. */
function hypervisorOrder(keys: string[]): string[] {
  return keys.sort((a, b) => {
    const x = HYPERVISOR_ORDER.indexOf(a);
    const y = HYPERVISOR_ORDER.indexOf(b);
    return (x < 0 ? 99 : x) - (y < 0 ? 99 : y) || compareBytes(a, b);
  });
}

/** DRBD logical ids carry integers (port, minors); the others are pairs of strings. */
function serLogicalId(v: unknown, where: string, build = true): unknown {
  if (!Array.isArray(v)) fail(where, `logical_id: expected a list, got ${typeName(v)}`);
  if (build && v.length === 6 && typeof v[2] === 'number') {
    return [v[0], v[1], roundHalfEvenNum(v[2]), roundHalfEvenNum(v[3] as number), roundHalfEvenNum(v[4] as number), v[5]];
  }
  return v;
}

/** A config object's re-serialization (checked as Ganeti checks it); with `build` false, only checked. */
export function serObject(v: unknown, s: Schema, where: string, build = true): Record<string, unknown> {
  // Checking only: the compiled check passes valid objects at once; anything else is checked below.
  if (!build && objectCheck(s)(v)) return v as Record<string, unknown>;
  if (!isObj(v)) fail(where, `expected an object, got ${typeName(v)}`);
  const keys = s.keys as Set<string>;
  let extra: string[] | undefined;
  for (const k in v) {
    if (!keys.has(k)) (extra ??= []).push(k);
  }
  if (hasOwn(v, '__proto__') && !keys.has('__proto__')) (extra ??= []).push('__proto__');
  if (extra) fail(where, `Superfluous dictionary keys: ${extra.join(', ')}`);
  const forthcoming = s.forthcoming === true && v.forthcoming === true;
  if (s.forthcoming && hasOwn(v, 'forthcoming') && typeof v.forthcoming !== 'boolean') fail(where, "'forthcoming' is not a boolean");
  const allOptional = s.partial === true || forthcoming;
  const out: Record<string, unknown> | undefined = build ? {} : undefined;
  for (const f of s.fields) {
    if (hasOwn(v, f.k) && v[f.k] !== undefined) {
      const x = serValue(v[f.k], f.t, f.k, build);
      if (out) put(out, f.k, x);
    } else if (!allOptional) {
      if (f.m === 'req') fail(where, `key '${f.k}' not found`);
      if (f.m === 'def' && out) put(out, f.k, (f.d as () => unknown)());
    }
  }
  if (!out) return v;
  if (forthcoming) out.forthcoming = true;
  return out;
}

/**
 * The whole re-serialized ConfigData, or a load error. The daemon makes it piecewise instead
 * (validateConfigSteps, then serObject and config-pointer.ts where answers need it); whole, it
 * is the reference those pieces are tested against.
 */
export function serializeConfig(doc: unknown): Record<string, unknown> | GanetiLoadError {
  return drain(configSteps(doc, true, true));
}

/** Run a step generator to its end at once. */
export function drain<T>(gen: Generator<void, T>): T {
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
  }
}

/** Yield to the caller after this many objects of a large map. */
export const STEP_EVERY = 128;

/** Sort strings in place as compareBytes does (the engine's native sort when it agrees). */
export function sortBytes(keys: string[]): string[] {
  for (const k of keys) {
    for (let i = 0; i < k.length; i++) {
      const c = k.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdfff) return keys.sort(compareBytes);
    }
  }
  // Without surrogates, code unit order is code point and UTF-8 byte order.
  return keys.sort();
}

function hasSurrogate(keys: string[]): boolean {
  for (const k of keys) {
    for (let i = 0; i < k.length; i++) {
      const c = k.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdfff) return true;
    }
  }
  return false;
}

const SORT_CHUNK = 4096;

/**
 * sortBytes in steps: runs of SORT_CHUNK sorted by the engine, then merged pairwise, yielding
 * between runs and every SORT_CHUNK merged keys, so a sort of many thousands of keys never holds
 * the event loop for long. The same order as sortBytes (a stable merge of sorted runs). With
 * `atOnce` (a caller draining the steps at once), sortBytes itself: the engine's sort of the
 * whole array takes half the time of the runs and the merge.
 */
export function* sortBytesSteps(keys: string[], atOnce = false): Generator<void, string[]> {
  if (atOnce || keys.length <= SORT_CHUNK) return sortBytes(keys);
  const surrogates = hasSurrogate(keys);
  const less = surrogates ? (a: string, b: string) => compareBytes(a, b) < 0 : (a: string, b: string) => a < b;
  let runs: string[][] = [];
  for (let i = 0; i < keys.length; i += SORT_CHUNK) {
    const run = keys.slice(i, i + SORT_CHUNK);
    runs.push(surrogates ? run.sort(compareBytes) : run.sort());
    yield;
  }
  while (runs.length > 1) {
    const next: string[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const a = runs[r];
      const b = runs[r + 1];
      if (b === undefined) {
        next.push(a);
        continue;
      }
      const out = new Array<string>(a.length + b.length);
      let i = 0;
      let j = 0;
      let k = 0;
      while (i < a.length && j < b.length) {
        // b before a only when strictly less: equal keys keep their run order (stable).
        out[k++] = less(b[j], a[i]) ? b[j++] : a[i++];
        if ((k & (SORT_CHUNK - 1)) === 0) yield;
      }
      while (i < a.length) out[k++] = a[i++];
      while (j < b.length) out[k++] = b[j++];
      next.push(out);
      yield;
    }
    runs = next;
  }
  return runs[0];
}

/** The sorted keys of the large maps serializeConfig or validateConfigSteps went through. */
const SORTED_KEYS = new WeakMap<object, string[]>();

/** The keys of such a map in compareBytes order (the view walks them in that order too). */
export function sortedKeysOf(o: object): string[] | undefined {
  return SORTED_KEYS.get(o);
}

/** A {map: {obj}} field, one object at a time (same checks and order as serValue). */
function* serObjectMapSteps(v: unknown, s: Schema, where: string, build: boolean, atOnce: boolean): Generator<void, Record<string, unknown>> {
  if (!isObj(v)) fail(where, `expected an object, got ${typeName(v)}`);
  const out: Record<string, unknown> = build ? {} : v;
  const all = Object.keys(v);
  let n = 0;
  let passed = false;
  if (!build) {
    // Checking only: the compiled check first, in the document's order (the order the objects
    // lie in memory: half the time of key order). Only a failure needs key order, for the same
    // first error as Ganeti's.
    const check = objectCheck(s);
    passed = true;
    for (const k of all) {
      if (!check(v[k])) {
        passed = false;
        break;
      }
      if (++n % STEP_EVERY === 0) yield;
    }
  }
  const keys = yield* sortBytesSteps(all, atOnce);
  if (passed) {
    SORTED_KEYS.set(out, keys);
    return out;
  }
  for (const k of keys) {
    const o = serObject(v[k], s, k, build);
    if (build) put(out, k, o);
    if (++n % STEP_EVERY === 0) yield;
  }
  SORTED_KEYS.set(out, keys);
  return out;
}

/**
 * The same checks, in the same order and with the same first error, building nothing: the
 * document itself when Ganeti would load it. Its re-serialization is then made piecewise, as
 * answers need it (serObject, resolveConfigPointer).
 */
export function* validateConfigSteps(doc: unknown, atOnce = false): Generator<void, Record<string, unknown> | GanetiLoadError> {
  return yield* configSteps(doc, false, atOnce);
}

/**
 * The config's checks, in Ganeti's order (so the same first error), yielding between objects of
 * the large maps (nodes, instances, disks, ...) so that a large config is checked in slices;
 * `build` makes the re-serialization as well.
 */
function* configSteps(doc: unknown, build: boolean, atOnce: boolean): Generator<void, Record<string, unknown> | GanetiLoadError> {
  try {
    const s = CONFIG;
    const where = 'config';
    if (!isObj(doc)) fail(where, `expected an object, got ${typeName(doc)}`);
    const v = doc;
    const keys = s.keys as Set<string>;
    let extra: string[] | undefined;
    for (const k in v) {
      if (!keys.has(k)) (extra ??= []).push(k);
    }
    if (hasOwn(v, '__proto__') && !keys.has('__proto__')) (extra ??= []).push('__proto__');
    if (extra) fail(where, `Superfluous dictionary keys: ${extra.join(', ')}`);
    const out: Record<string, unknown> | undefined = build ? {} : undefined;
    for (const f of s.fields) {
      if (hasOwn(v, f.k) && v[f.k] !== undefined) {
        const t = f.t;
        const objMap = typeof t === 'object' && 'map' in t && typeof t.map === 'object' && 'obj' in t.map ? t.map.obj : undefined;
        const x = objMap ? yield* serObjectMapSteps(v[f.k], objMap, f.k, build, atOnce) : serValue(v[f.k], t, f.k, build);
        if (out) put(out, f.k, x);
      } else {
        if (f.m === 'req') fail(where, `key '${f.k}' not found`);
        if (f.m === 'def' && out) put(out, f.k, (f.d as () => unknown)());
      }
    }
    return out ?? v;
  } catch (e) {
    if (e instanceof GanetiLoadError) return e;
    throw e;
  }
}
