// The documents and query mixes the benchmarks use: generic documents of N entries, generated
// Ganeti configs, and the requests (QCF1 bodies, plj0 templates) drawn from them. Requests are
// spread uniformly over every entry of a document, so a large document is not measured on a
// few hot keys.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REQUEST_TYPE_NAMES, RequestType } from '../../shared/plj0/protocol.js';
import { packBody } from '../../shared/qcf1.js';
import { generateGanetiConfig } from '../../testkit/ganeti/generate-config.js';
import type { Plj0Template } from './load-job.js';

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Generic documents.

/** A cluster-like document with `n` node entries (about 300 bytes each). */
export function genericDoc(n: number, serial = 1): Obj {
  const nodes: Obj = {};
  for (let i = 0; i < n; i++) {
    nodes[`node${i}.example.com`] = {
      name: `node${i}.example.com`,
      primary_ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      secondary_ip: `172.16.${(i >> 8) & 255}.${i & 255}`,
      group: `group${i % 8}`,
      master_candidate: i % 4 === 0,
      drained: i % 19 === 7,
      offline: i % 23 === 5,
      tags: i % 3 === 0 ? ['rack:a', `row:${i % 50}`] : [],
      ndparams: { spindle_count: 1 + (i % 4), exclusive_storage: false, ssh_port: 22 },
      serial_no: 1 + (i % 97),
    };
  }
  return { serial_no: serial, cluster: { name: 'bench.example.com', master: 'node0.example.com', serial_no: serial }, nodes };
}

const b64 = (o: object) => packBody(o).toString('base64');

export type GenericOp = 'get-entry' | 'get-field' | 'get-missing' | 'mget-4' | 'list-entry' | 'ping';
export const GENERIC_OPS: GenericOp[] = ['get-entry', 'get-field', 'mget-4', 'list-entry', 'get-missing', 'ping'];

/** QCF1 request bodies for one op over a generic document of `n` entries (at most `max` distinct). */
export function genericBodies(op: GenericOp, n: number, max = 200_000, seed = 7): string[] {
  let a = seed;
  const rand = () => {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    return a % n;
  };
  const k = Math.min(max, Math.max(n, 1));
  const out: string[] = [];
  const fields = ['primary_ip', 'secondary_ip', 'group', 'drained', 'offline', 'master_candidate'];
  for (let j = 0; j < k; j++) {
    const i = k === n ? j : rand();
    const node = `/nodes/node${i}.example.com`;
    switch (op) {
      case 'get-entry':
        out.push(b64({ op: 'get', path: node }));
        break;
      case 'get-field':
        out.push(b64({ op: 'get', path: `${node}/${fields[j % fields.length]}` }));
        break;
      case 'get-missing':
        out.push(b64({ op: 'get', path: `/nodes/absent${i}.example.com` }));
        break;
      case 'mget-4':
        out.push(b64({ op: 'mget', paths: [0, 1, 2, 3].map((d) => `/nodes/node${(i + d * 7919) % n}.example.com/${fields[(j + d) % fields.length]}`) }));
        break;
      case 'list-entry':
        out.push(b64({ op: 'list', path: node }));
        break;
      case 'ping':
        if (j === 0) out.push(b64({ op: 'ping' }));
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Ganeti configs.

/**
 * Master candidates in the generated configs: Ganeti keeps candidate_pool_size of them (its
 * default, 10), whatever the cluster's size.
 */
const CANDIDATE_POOL = 10;

/**
 * A generated Ganeti 3.0 config of `nodes` nodes and 5 instances per node (NICs on 3 links,
 * DRBD and plain disks), written as Ganeti writes config.data (one-space indent), cached in
 * `dir` by size.
 */
export function ganetiConfigFile(dir: string, nodes: number, serial?: number): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `ganeti-${nodes}-pool${CANDIDATE_POOL}${serial === undefined ? '' : `-s${serial}`}.json`);
  if (existsSync(path)) return path;
  const c = generateGanetiConfig({ nodes, instancesPerNode: 5, links: 3, seed: 42, candidatePool: CANDIDATE_POOL });
  if (serial !== undefined) {
    c.serial_no = serial;
    (c.cluster as Obj).serial_no = serial;
  }
  writeFileSync(path, JSON.stringify(c, null, 1));
  return path;
}

/** plj0's request types, 0 to 11, by number, named as the daemon's statistics name them. */
export const PLJ0_TYPES: Array<{ type: RequestType; name: string }> = REQUEST_TYPE_NAMES.map((name, type: RequestType) => ({ type, name }));

export interface GanetiFacts {
  nodeNames: string[];
  nodeUuids: string[];
  instanceNames: string[];
  /** [link, ip] of instance NICs. */
  nicIps: Array<[string, string]>;
  links: string[];
  defaultLink: string;
}

export function ganetiFacts(configPath: string, max = 20_000): GanetiFacts {
  const c = JSON.parse(readFileSync(configPath, 'utf8')) as Obj;
  const nodes = c.nodes as Record<string, Obj>;
  const insts = c.instances as Record<string, Obj>;
  const cluster = c.cluster as Obj;
  const defaultLink = ((cluster.nicparams as Record<string, Obj>).default.link as string) ?? 'br0';
  const nodeUuids = Object.keys(nodes).slice(0, max);
  const instanceNames: string[] = [];
  const nicIps: Array<[string, string]> = [];
  const links = new Set<string>([defaultLink]);
  for (const u of Object.keys(insts)) {
    const o = insts[u];
    if (instanceNames.length < max && typeof o.name === 'string') instanceNames.push(o.name);
    for (const nic of (o.nics as Obj[]) ?? []) {
      const link = ((nic.nicparams as Obj | undefined)?.link as string | undefined) ?? defaultLink;
      links.add(link);
      if (typeof nic.ip === 'string' && nicIps.length < max) nicIps.push([link, nic.ip]);
    }
  }
  return {
    nodeNames: nodeUuids.map((u) => nodes[u].name as string),
    nodeUuids,
    instanceNames,
    nicIps,
    links: [...links].sort(),
    defaultLink,
  };
}

/** plj0 templates for one request type over a config, uniformly over its entities. */
export function plj0Templates(type: number, f: GanetiFacts): Plj0Template[] {
  const t = templatesFor(type, f);
  // A config without instance NICs or instances still gets asked (the answer: unknown entry).
  if (t.length > 0) return t;
  return type === RequestType.NodePipByInstanceIp ? [{ type, query: { '0': f.defaultLink, '1': '192.0.2.99' } }] : [{ type, query: 'absent.example.com' }];
}

function templatesFor(type: number, f: GanetiFacts): Plj0Template[] {
  switch (type) {
    case RequestType.NodeRoleByName:
    case RequestType.NodeDrbd:
    case RequestType.NodeInstances:
      return f.nodeNames.map((n) => ({ type, query: n }));
    case RequestType.NodePipByInstanceIp:
      return f.nicIps.map(([link, ip]) => ({ type, query: { '0': link, '1': ip } }));
    case RequestType.InstancesIpsList:
      return f.links.map((l) => ({ type, query: l }));
    case RequestType.InstanceDisks:
      return f.instanceNames.map((n) => ({ type, query: n }));
    case RequestType.ConfigQuery:
      return f.nodeUuids.map((u) => ({ type, query: `/nodes/${u}/primary_ip` }));
    default:
      return [{ type }];
  }
}

/**
 * The side-by-side mix: the four request types the Ganeti scaling table names (cluster-master,
 * node-role, node-drbd, config-query), a quarter each.
 */
export function headlinePlj0(f: GanetiFacts): Plj0Template[] {
  const out: Plj0Template[] = [];
  const n = f.nodeNames.length;
  for (let i = 0; i < Math.max(n, 4); i++) {
    out.push({ type: RequestType.ClusterMaster });
    out.push({ type: RequestType.NodeRoleByName, query: f.nodeNames[i % n] });
    out.push({ type: RequestType.NodeDrbd, query: f.nodeNames[i % n] });
    out.push({ type: RequestType.ConfigQuery, query: `/nodes/${f.nodeUuids[i % n]}/primary_ip` });
  }
  return out;
}

/** The same questions over QCF1 `get`, on the same document. */
export function headlineQcf1(f: GanetiFacts): string[] {
  const out: string[] = [];
  const n = f.nodeUuids.length;
  for (let i = 0; i < Math.max(n, 4); i++) {
    const u = f.nodeUuids[i % n];
    out.push(b64({ op: 'get', path: '/cluster/master_node' }));
    out.push(b64({ op: 'get', path: `/nodes/${u}/master_candidate` }));
    out.push(b64({ op: 'get', path: `/nodes/${u}/name` }));
    out.push(b64({ op: 'get', path: `/nodes/${u}/primary_ip` }));
  }
  return out;
}
