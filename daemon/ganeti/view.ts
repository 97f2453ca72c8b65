// The Ganeti view of a snapshot: everything the plj0 request types need, built once per
// snapshot in O(size) (ganeti-confd-protocol.md §4), so that every request is answered in
// O(1) or O(answer). Never walk the whole config per query.
//
// The view is built from the document as read, once Ganeti's checks have passed
// (validateConfigSteps), taking each value the way its re-serialization would have it (integers
// rounded); the re-serialized config itself (§7.3) is not made whole: the objects answers show
// are re-serialized one at a time (the fragment tables, type 10's pointers).
import { OnDemand, type Pace } from '../on-demand.js';
import { FRAGMENT_CHARS, FragmentTable, type FragmentBudget } from './fragments.js';
import { drain } from '../slices.js';
import { compareBytes, sortBytesSteps } from './byte-order.js';
import { STEP_EVERY, sortedKeysOf, validateConfigSteps } from './config-walk.js';
import { DISK, DRBD_LOGICAL_ID_LENGTH, INSTANCE } from './schema.js';
import { GanetiLoadError, roundHalfEvenNum, serObject } from './serialize.js';

export { GanetiLoadError };

type Obj = Record<string, unknown>;

/** Yield after this many names indexed, nodes recorded (each cheaper than an object checked). */
const NAMES_PER_STEP = STEP_EVERY * 8;
const NODES_PER_STEP = STEP_EVERY * 4;

export interface NodeRec {
  uuid: string;
  name: string;
  primaryIp: string;
  masterCandidate: boolean;
  offline: boolean;
  drained: boolean;
  serial: number;
  /** Slots of its primary and secondary instances, in UUID order (type 8). */
  primarySlots: number[];
  secondarySlots: number[];
}

export interface InstanceRec {
  uuid: string;
  /** Position in UUID order: the instance's slot in the fragment tables. */
  index: number;
  name: string | undefined;
  primaryNode: string | undefined;
  serial: number;
  /** Its disk objects (as read), or the first missing disk UUID (type 9). */
  disks: InstanceDisks;
}

/** One DRBD minor of a node (§4.4), before UUIDs are turned into names. */
export interface DrbdMinor {
  minor: number;
  instance: string;
  disk: string;
  role: 'primary' | 'secondary';
  peer: string;
}

/**
 * Ganeti's name lookup: exact key, then exact name, then the unique name starting with the
 * query and a '.'. The map leads to the records themselves: one map probe per lookup, not two.
 */
export interface NameIndex<R> {
  exact: Map<string, R>;
  /** The names, in compareBytes order: those starting with "query." lie side by side. */
  sorted: string[];
}

export type Lookup<R> = { ok: true; rec: R } | { ok: false; why: 'not found' | 'has multiple matches' };

export type InstanceDisks = { ok: true; disks: Obj[] } | { ok: false; missing: string };

/** The indexes over instances (request types 2 and 6–9). */
export interface InstanceIndex {
  instances: Map<string, InstanceRec>;
  instanceNames: NameIndex<InstanceRec>;
  /** getInstanceByName: the first instance in UUID order with exactly this name. */
  instanceByExactName: Map<string, InstanceRec>;
  /** link → IP → instance name (or UUID when unnamed); last NIC visited wins (§4.3). */
  linkIps: Map<string, Map<string, string>>;
  /** link → its IPs, sorted by code point (type 6). */
  linkIpList: Map<string, string[]>;
  /** node UUID (as written in logical ids) → its DRBD minors (type 7). */
  drbdMinors: Map<string, DrbdMinor[]>;
  /** JSON texts of the re-serialized instance objects (type 8) and disk lists (type 9), by instance slot. */
  instanceJson: FragmentTable;
  diskListJson: FragmentTable;
}

export interface GanetiView {
  /** The document, as read and accepted: what type 10 pointers walk (config-pointer.ts). */
  doc: Obj;
  version: number;
  clusterSerial: number;
  masterUuid: string;
  masterIp: string;
  defaultLink: string;
  nodes: Map<string, NodeRec>;
  nodeNames: NameIndex<NodeRec>;
  /** Primary IPs of all nodes / master candidates, in descending UUID order (types 4, 5). */
  nodePrimaryIps: string[];
  mcPrimaryIps: string[];
  /** The type 11 answer. */
  dataCollectors: Obj;
  /**
   * The instance indexes (they also fill the node records' slots). A view built in steps has
   * them made. A view built at once (the first config: nothing serves yet) has them pending, so
   * that it answers as soon as the config is checked: they are made in steps right after
   * (plj0-service), or at once by the first request needing them.
   */
  inst: OnDemand<InstanceIndex>;
}

function* buildNameIndex<R>(sortedUuids: string[], recs: Map<string, R>, nameOf: (r: R) => string | undefined, pace: Pace): Generator<void, NameIndex<R>> {
  const exact = new Map<string, R>();
  // Ganeti's M.mapKeys keeps the greatest original key for duplicate names.
  let n = 0;
  for (const u of sortedUuids) {
    const rec = recs.get(u) as R;
    const name = nameOf(rec);
    if (name !== undefined) exact.set(name, rec);
    if (++n % NAMES_PER_STEP === 0) yield;
  }
  return { exact, sorted: yield* sortBytesSteps([...exact.keys()], pace.atOnce) };
}

const NOT_FOUND = { ok: false, why: 'not found' } as const;
const MULTIPLE = { ok: false, why: 'has multiple matches' } as const;

export function lookupByName<R>(keys: Map<string, R>, idx: NameIndex<R>, query: string): Lookup<R> {
  const k = keys.get(query);
  if (k !== undefined) return { ok: true, rec: k };
  const e = idx.exact.get(query);
  if (e !== undefined) return { ok: true, rec: e };
  // The names starting with query + '.': the first at or after it in order, and the next.
  const prefix = query + '.';
  const names = idx.sorted;
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(names[mid], prefix) < 0) lo = mid + 1;
    else hi = mid;
  }
  if (lo === names.length || !names[lo].startsWith(prefix)) return NOT_FOUND;
  if (lo + 1 < names.length && names[lo + 1].startsWith(prefix)) return MULTIPLE;
  return { ok: true, rec: idx.exact.get(names[lo]) as R };
}

/** A DRBD disk's logical id as re-serialized (serLogicalId): nodes A and B, port, minors. */
function drbdLogicalId(disk: Obj): [string, string, number, number, number] | undefined {
  const l = disk.logical_id;
  if (disk.dev_type !== 'drbd' || !Array.isArray(l) || l.length !== DRBD_LOGICAL_ID_LENGTH) return undefined;
  const [a, b] = l as unknown[];
  let [, , port, ma, mb] = l as unknown[];
  if (typeof port === 'number') {
    port = roundHalfEvenNum(port);
    ma = roundHalfEvenNum(ma as number);
    mb = roundHalfEvenNum(mb as number);
  }
  if (typeof a !== 'string' || typeof b !== 'string' || typeof ma !== 'number' || typeof mb !== 'number') return undefined;
  return [a, b, port as number, ma, mb];
}

/** A disk's DRBD minors, then its children's (§4.4): node A's view first. */
function addDrbdMinors(minors: Map<string, DrbdMinor[]>, disk: Obj, instance: string, diskName: string, primary: string | undefined): void {
  const lid = drbdLogicalId(disk);
  if (lid) {
    const [a, b, , ma, mb] = lid;
    pushTo(minors, a, { minor: ma, instance, disk: diskName, role: a === primary ? 'primary' : 'secondary', peer: b });
    if (b !== a) pushTo(minors, b, { minor: mb, instance, disk: diskName, role: b === primary ? 'primary' : 'secondary', peer: a });
  }
  for (const c of (disk.children as Obj[] | undefined) ?? []) addDrbdMinors(minors, c, instance, diskName, primary);
}

function pushTo<T>(m: Map<string, T[]>, k: string, v: T): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

const DATA_COLLECTORS = ['cpu-avg-load', 'diskstats', 'drbd', 'inst-status-xen', 'lv', 'xen-cpu-avg-load'];
const DEFAULT_COLLECTOR_INTERVAL = 5_000_000;

/** Build the view, or report why Ganeti would refuse to load this document. */
export function buildGanetiView(doc: unknown): GanetiView | GanetiLoadError {
  return drain(buildGanetiViewSteps(doc, true));
}

/**
 * buildGanetiView as a generator that yields every few objects, so that the view of a large
 * config can be built in slices while the daemon keeps answering (the same code: the same view).
 */
export function* buildGanetiViewSteps(doc: unknown, atOnce = false): Generator<void, GanetiView | GanetiLoadError> {
  const config = yield* validateConfigSteps(doc, atOnce);
  if (config instanceof GanetiLoadError) return config;
  const cluster = config.cluster as Obj;
  const nicparams = cluster.nicparams as Record<string, Obj>;
  const defaults = Object.prototype.hasOwnProperty.call(nicparams, 'default') ? nicparams.default : undefined;
  if (defaults === undefined) return new GanetiLoadError("Can't parse value for 'cluster': nicparams has no 'default' entry");
  const defaultLink = defaults.link as string;

  // Nodes.
  const nodeObjs = config.nodes as Record<string, Obj>;
  const nodeUuids = sortedKeysOf(nodeObjs) ?? (yield* sortBytesSteps(Object.keys(nodeObjs), atOnce));
  const nodes = new Map<string, NodeRec>();
  for (const u of nodeUuids) {
    if (nodes.size % NODES_PER_STEP === 0) yield;
    const n = nodeObjs[u];
    nodes.set(u, {
      uuid: u,
      name: n.name as string,
      primaryIp: n.primary_ip as string,
      masterCandidate: n.master_candidate as boolean,
      offline: n.offline as boolean,
      drained: n.drained as boolean,
      serial: roundHalfEvenNum(n.serial_no as number),
      primarySlots: [],
      secondarySlots: [],
    });
  }
  const nodeNames = yield* buildNameIndex(nodeUuids, nodes, (r) => r.name, { atOnce });
  const nodePrimaryIps: string[] = [];
  const mcPrimaryIps: string[] = [];
  for (let i = nodeUuids.length - 1; i >= 0; i--) {
    const r = nodes.get(nodeUuids[i]) as NodeRec;
    nodePrimaryIps.push(r.primaryIp);
    if (r.masterCandidate) mcPrimaryIps.push(r.primaryIp);
  }

  // Data collectors (§4.6).
  const configured = cluster.data_collectors as Record<string, Obj>;
  const hypervisors = cluster.enabled_hypervisors as string[];
  const xen = hypervisors.includes('xen-pvm') || hypervisors.includes('xen-hvm');
  const dataCollectors: Obj = {};
  for (const name of DATA_COLLECTORS) {
    const c = Object.prototype.hasOwnProperty.call(configured, name) ? configured[name] : undefined;
    let active = c ? (c.active as boolean) : true;
    if (name === 'inst-status-xen') active = active && xen;
    dataCollectors[name] = { active, interval: c ? roundHalfEvenNum(c.interval as number) : DEFAULT_COLLECTOR_INTERVAL };
  }

  const inst = new OnDemand((pace) => instanceIndexSteps(config, nodes, defaultLink, pace));
  if (!atOnce) yield* inst.rest();
  return {
    doc: config,
    version: roundHalfEvenNum(config.version as number),
    clusterSerial: roundHalfEvenNum(cluster.serial_no as number),
    masterUuid: cluster.master_node as string,
    masterIp: cluster.master_ip as string,
    defaultLink,
    nodes,
    nodeNames,
    nodePrimaryIps,
    mcPrimaryIps,
    dataCollectors,
    inst,
  };
}

/**
 * The instance indexes of a checked config, in steps (sorting in steps too: when they are
 * pending, they are made while the view serves).
 */
function* instanceIndexSteps(config: Obj, nodes: Map<string, NodeRec>, defaultLink: string, pace: Pace): Generator<void, InstanceIndex> {
  // Instances and their disks.
  const instObjs = config.instances as Record<string, Obj>;
  const diskObjs = config.disks as Record<string, Obj>;
  const instUuids = sortedKeysOf(instObjs) ?? (yield* sortBytesSteps(Object.keys(instObjs), pace.atOnce));
  const instances = new Map<string, InstanceRec>();
  const instanceByExactName = new Map<string, InstanceRec>();
  const linkIps = new Map<string, Map<string, string>>();
  const drbdMinors = new Map<string, DrbdMinor[]>();
  const instanceObjs: Obj[] = new Array(instUuids.length);
  const diskLists: Array<Obj[] | undefined> = new Array(instUuids.length).fill(undefined);

  for (let index = 0; index < instUuids.length; index++) {
    if ((index + 1) % STEP_EVERY === 0) yield;
    const u = instUuids[index];
    const o = instObjs[u];

    // Disks: all or nothing, as getInstDisks.
    const diskUuids = (o.disks as string[] | undefined) ?? [];
    let resolved: InstanceDisks = { ok: true, disks: [] };
    for (const d of diskUuids) {
      const disk = Object.prototype.hasOwnProperty.call(diskObjs, d) ? diskObjs[d] : undefined;
      if (!disk) {
        resolved = { ok: false, missing: d };
        break;
      }
      resolved.disks.push(disk);
    }

    const rec: InstanceRec = {
      uuid: u,
      index,
      name: typeof o.name === 'string' ? o.name : undefined,
      primaryNode: typeof o.primary_node === 'string' ? o.primary_node : undefined,
      serial: typeof o.serial_no === 'number' ? roundHalfEvenNum(o.serial_no) : 0,
      disks: resolved,
    };
    instances.set(u, rec);
    if (rec.name !== undefined && !instanceByExactName.has(rec.name)) instanceByExactName.set(rec.name, rec);

    // link → ip → name (§4.3).
    const iname = rec.name ?? u;
    for (const nic of (o.nics as Obj[] | undefined) ?? []) {
      if (typeof nic.ip !== 'string') continue;
      const np = nic.nicparams as Obj;
      const link = typeof np.link === 'string' ? np.link : defaultLink;
      let m = linkIps.get(link);
      if (!m) linkIps.set(link, (m = new Map()));
      m.set(nic.ip, iname);
    }
    instanceObjs[index] = o;
    if (resolved.ok) diskLists[index] = resolved.disks;

    // Type 8 lists, on the node records (UUIDs that are no node's are never asked for).
    if (rec.primaryNode !== undefined) nodes.get(rec.primaryNode)?.primarySlots.push(index);
    if (!resolved.ok) continue;

    // Secondaries: nodes of the top-level DRBD logical ids, minus the primary (first seen first).
    const secs: string[] = [];
    for (const disk of resolved.disks) {
      const lid = drbdLogicalId(disk);
      if (lid === undefined) continue;
      if (lid[0] !== rec.primaryNode && !secs.includes(lid[0])) secs.push(lid[0]);
      if (lid[1] !== rec.primaryNode && !secs.includes(lid[1])) secs.push(lid[1]);
    }
    for (const s of secs) nodes.get(s)?.secondarySlots.push(index);

    const instName = rec.name ?? '';
    for (let k = 0; k < resolved.disks.length; k++) addDrbdMinors(drbdMinors, resolved.disks[k], instName, `disk/${k}`, rec.primaryNode);
  }
  // Unnamed instances (and the name "") are left out of name lookups, as Ganeti does.
  const instanceNames = yield* buildNameIndex(instUuids, instances, (r) => (r.name === '' ? undefined : r.name), pace);

  const linkIpList = new Map<string, string[]>();
  for (const [link, m] of linkIps) {
    linkIpList.set(link, yield* sortBytesSteps([...m.keys()], pace.atOnce)); // code point order
    yield;
  }

  const budget: FragmentBudget = { held: 0, max: FRAGMENT_CHARS };
  return {
    instances,
    instanceNames,
    instanceByExactName,
    linkIps,
    linkIpList,
    drbdMinors,
    instanceJson: new FragmentTable(instanceObjs, budget, (o) => serObject(o, INSTANCE, '')),
    diskListJson: new FragmentTable(diskLists, budget, (l) => (l as Obj[]).map((d) => serObject(d, DISK, ''))),
  };
}

/**
 * Finish the instance indexes if pending, then make the instance texts (type 8) ahead of the
 * requests, in steps, once the view serves. A node's answer holds several, and at 10,000 nodes making them as the first requests come
 * costs those requests some 0.4 s (several µs an instance, the objects no longer in any cache);
 * made with the view, they cost the load 1.5 s. Disk lists (type 9), one per answer, are made
 * on first use.
 */
export function* prepareInstanceTextsSteps(view: GanetiView): Generator<void, void> {
  const t = (yield* view.inst.rest()).instanceJson;
  for (let i = 0; i < t.objs.length && t.hasRoom(); i++) {
    t.prepare(i);
    if ((i + 1) % STEP_EVERY === 0) yield;
  }
}
