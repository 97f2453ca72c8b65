// The Ganeti view of a snapshot: everything the plj0 request types need, built once per
// snapshot in O(size) (ganeti-confd-protocol.md §4), so that every request is answered in
// O(1) or O(answer). Never walk the whole config per query.
import { GanetiLoadError, STEP_EVERY, drain, serializeConfigSteps, sortBytesSteps, sortedKeysOf } from './serialize.js';

export { GanetiLoadError };

type Obj = Record<string, unknown>;

export interface NodeRec {
  uuid: string;
  name: string;
  primaryIp: string;
  masterCandidate: boolean;
  offline: boolean;
  drained: boolean;
  serial: number;
  /** The re-serialized node object. */
  obj: Obj;
}

export interface InstanceRec {
  uuid: string;
  name: string | undefined;
  primaryNode: string | undefined;
  serial: number;
  obj: Obj;
}

/** One DRBD minor of a node (§4.4), before UUIDs are turned into names. */
export interface DrbdMinor {
  minor: number;
  instance: string;
  disk: string;
  role: 'primary' | 'secondary';
  peer: string;
}

/** Ganeti's name lookup: exact key, then exact name, then the unique "name." prefix match. */
export interface NameIndex {
  exact: Map<string, string>;
  /** prefix → uuid, or null when several names share it. */
  partial: Map<string, string | null>;
}

export type Lookup = { ok: true; uuid: string } | { ok: false; why: 'not found' | 'has multiple matches' };

export type InstanceDisks = { ok: true; disks: Obj[] } | { ok: false; missing: string };

export interface GanetiView {
  /** The re-serialized ConfigData (§7.3): what type 10 pointers walk. */
  config: Obj;
  version: number;
  clusterSerial: number;
  masterUuid: string;
  masterIp: string;
  defaultLink: string;
  nodes: Map<string, NodeRec>;
  nodeNames: NameIndex;
  instances: Map<string, InstanceRec>;
  instanceNames: NameIndex;
  /** getInstanceByName: the first instance in UUID order with exactly this name. */
  instanceByExactName: Map<string, InstanceRec>;
  /** link → IP → instance name (or UUID when unnamed); last NIC visited wins (§4.3). */
  linkIps: Map<string, Map<string, string>>;
  /** link → its IPs, sorted by code point (type 6). */
  linkIpList: Map<string, string[]>;
  /** Primary IPs of all nodes / master candidates, in descending UUID order (types 4, 5). */
  nodePrimaryIps: string[];
  mcPrimaryIps: string[];
  /** node UUID (as written in logical ids) → its DRBD minors (type 7). */
  drbdMinors: Map<string, DrbdMinor[]>;
  /** node UUID → primary and secondary instances, in UUID order (type 8). */
  primaryInstances: Map<string, InstanceRec[]>;
  secondaryInstances: Map<string, InstanceRec[]>;
  /** instance UUID → its disk objects, or the first missing disk UUID (type 9). */
  instanceDisks: Map<string, InstanceDisks>;
  /** The type 11 answer. */
  dataCollectors: Obj;
}

function* buildNameIndex<R>(sortedUuids: string[], recs: Map<string, R>, nameOf: (r: R) => string | undefined): Generator<void, NameIndex> {
  const exact = new Map<string, string>();
  // Ganeti's M.mapKeys keeps the greatest original key for duplicate names.
  let n = 0;
  for (const u of sortedUuids) {
    const name = nameOf(recs.get(u) as R);
    if (name !== undefined) exact.set(name, u);
    if (++n % (STEP_EVERY * 8) === 0) yield;
  }
  const partial = new Map<string, string | null>();
  for (const [name, uuid] of exact) {
    for (let j = name.indexOf('.'); j >= 0; j = name.indexOf('.', j + 1)) {
      const prefix = name.slice(0, j);
      partial.set(prefix, partial.has(prefix) ? null : uuid);
    }
    if (++n % (STEP_EVERY * 8) === 0) yield;
  }
  return { exact, partial };
}

export function lookupByName(keys: Map<string, unknown>, idx: NameIndex, query: string): Lookup {
  if (keys.has(query)) return { ok: true, uuid: query };
  const e = idx.exact.get(query);
  if (e !== undefined) return { ok: true, uuid: e };
  const p = idx.partial.get(query);
  if (p === undefined) return { ok: false, why: 'not found' };
  if (p === null) return { ok: false, why: 'has multiple matches' };
  return { ok: true, uuid: p };
}

function drbdLogicalId(disk: Obj): [string, string, number, number, number] | undefined {
  const lid = disk.logical_id;
  if (disk.dev_type !== 'drbd' || !Array.isArray(lid) || lid.length !== 6) return undefined;
  const [a, b, , ma, mb] = lid as unknown[];
  if (typeof a !== 'string' || typeof b !== 'string' || typeof ma !== 'number' || typeof mb !== 'number') return undefined;
  return [a, b, lid[2] as number, ma, mb];
}

const DATA_COLLECTORS = ['cpu-avg-load', 'diskstats', 'drbd', 'inst-status-xen', 'lv', 'xen-cpu-avg-load'];
const DEFAULT_COLLECTOR_INTERVAL = 5_000_000;

/** Build the view, or report why Ganeti would refuse to load this document. */
export function buildGanetiView(doc: unknown): GanetiView | GanetiLoadError {
  return drain(buildGanetiViewSteps(doc));
}

/**
 * buildGanetiView as a generator that yields every few objects, so that the view of a large
 * config can be built in slices while the daemon keeps answering (the same code: the same view).
 */
export function* buildGanetiViewSteps(doc: unknown): Generator<void, GanetiView | GanetiLoadError> {
  const config = yield* serializeConfigSteps(doc);
  if (config instanceof GanetiLoadError) return config;
  const cluster = config.cluster as Obj;
  const nicparams = cluster.nicparams as Record<string, Obj>;
  const defaults = Object.prototype.hasOwnProperty.call(nicparams, 'default') ? nicparams.default : undefined;
  if (defaults === undefined) return new GanetiLoadError("Can't parse value for 'cluster': nicparams has no 'default' entry");
  const defaultLink = defaults.link as string;

  // Nodes.
  const nodeObjs = config.nodes as Record<string, Obj>;
  const nodeUuids = sortedKeysOf(nodeObjs) ?? (yield* sortBytesSteps(Object.keys(nodeObjs)));
  const nodes = new Map<string, NodeRec>();
  for (const u of nodeUuids) {
    if (nodes.size % (STEP_EVERY * 4) === 0) yield;
    const n = nodeObjs[u];
    nodes.set(u, {
      uuid: u,
      name: n.name as string,
      primaryIp: n.primary_ip as string,
      masterCandidate: n.master_candidate as boolean,
      offline: n.offline as boolean,
      drained: n.drained as boolean,
      serial: n.serial_no as number,
      obj: n,
    });
  }
  const nodeNames = yield* buildNameIndex(nodeUuids, nodes, (r) => r.name);
  const nodePrimaryIps: string[] = [];
  const mcPrimaryIps: string[] = [];
  for (let i = nodeUuids.length - 1; i >= 0; i--) {
    const r = nodes.get(nodeUuids[i]) as NodeRec;
    nodePrimaryIps.push(r.primaryIp);
    if (r.masterCandidate) mcPrimaryIps.push(r.primaryIp);
  }

  // Instances and their disks.
  const instObjs = config.instances as Record<string, Obj>;
  const diskObjs = config.disks as Record<string, Obj>;
  const instUuids = sortedKeysOf(instObjs) ?? (yield* sortBytesSteps(Object.keys(instObjs)));
  const instances = new Map<string, InstanceRec>();
  const instanceByExactName = new Map<string, InstanceRec>();
  const linkIps = new Map<string, Map<string, string>>();
  const drbdMinors = new Map<string, DrbdMinor[]>();
  const primaryInstances = new Map<string, InstanceRec[]>();
  const secondaryInstances = new Map<string, InstanceRec[]>();
  const instanceDisks = new Map<string, InstanceDisks>();
  const push = <T>(m: Map<string, T[]>, k: string, v: T) => {
    const l = m.get(k);
    if (l) l.push(v);
    else m.set(k, [v]);
  };

  let step = 0;
  for (const u of instUuids) {
    if (++step % STEP_EVERY === 0) yield;
    const o = instObjs[u];
    const rec: InstanceRec = {
      uuid: u,
      name: typeof o.name === 'string' ? o.name : undefined,
      primaryNode: typeof o.primary_node === 'string' ? o.primary_node : undefined,
      serial: typeof o.serial_no === 'number' ? o.serial_no : 0,
      obj: o,
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
    instanceDisks.set(u, resolved);

    if (rec.primaryNode !== undefined) push(primaryInstances, rec.primaryNode, rec);
    if (!resolved.ok) continue;

    // Secondaries: nodes of the top-level DRBD logical ids, minus the primary.
    const secs = new Set<string>();
    for (const disk of resolved.disks) {
      const lid = drbdLogicalId(disk);
      if (lid) {
        secs.add(lid[0]);
        secs.add(lid[1]);
      }
    }
    if (rec.primaryNode !== undefined) secs.delete(rec.primaryNode);
    for (const s of secs) push(secondaryInstances, s, rec);

    // DRBD minors (§4.4): disk before its children; node A's view first.
    const instName = rec.name ?? '';
    resolved.disks.forEach((top, k) => {
      const diskName = `disk/${k}`;
      const walk = (disk: Obj) => {
        const lid = drbdLogicalId(disk);
        if (lid) {
          const [a, b, , ma, mb] = lid;
          push(drbdMinors, a, { minor: ma, instance: instName, disk: diskName, role: a === rec.primaryNode ? 'primary' : 'secondary', peer: b });
          if (b !== a) push(drbdMinors, b, { minor: mb, instance: instName, disk: diskName, role: b === rec.primaryNode ? 'primary' : 'secondary', peer: a });
        }
        for (const c of (disk.children as Obj[] | undefined) ?? []) walk(c);
      };
      walk(top);
    });
  }
  // Unnamed instances (and the name "") are left out of name lookups, as Ganeti does.
  const instanceNames = yield* buildNameIndex(instUuids, instances, (r) => (r.name === '' ? undefined : r.name));

  const linkIpList = new Map<string, string[]>();
  for (const [link, m] of linkIps) {
    linkIpList.set(link, yield* sortBytesSteps([...m.keys()])); // code point order
    yield;
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
    dataCollectors[name] = { active, interval: c ? (c.interval as number) : DEFAULT_COLLECTOR_INTERVAL };
  }

  return {
    config,
    version: config.version as number,
    clusterSerial: cluster.serial_no as number,
    masterUuid: cluster.master_node as string,
    masterIp: cluster.master_ip as string,
    defaultLink,
    nodes,
    nodeNames,
    instances,
    instanceNames,
    instanceByExactName,
    linkIps,
    linkIpList,
    nodePrimaryIps,
    mcPrimaryIps,
    drbdMinors,
    primaryInstances,
    secondaryInstances,
    instanceDisks,
    dataCollectors,
  };
}
