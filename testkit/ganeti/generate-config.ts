// A generated, valid Ganeti 3.0 config.data of any size, for differential tests and benchmarks:
// node groups, networks, nodes (some sharing a short name), instances with NICs on several
// links (duplicate IPs, IPs that sort differently as strings and as numbers, NICs without an IP)
// and plain or DRBD disks (with LV children), deterministic for a given seed.
import fs from 'node:fs';
import { GANETI_EXAMPLE_CONFIG } from '../paths.js';
import { seededRandom } from '../random.js';

export interface GenerateOptions {
  nodes: number;
  instancesPerNode: number;
  links: number;
  seed: number;
  /**
   * Master candidates as Ganeti keeps them: the master and the first online nodes, up to this
   * many (the cluster's candidate_pool_size, Ganeti's default 10). Without it every fourth
   * online node is one, which gives the tests large type 5 answers.
   */
  candidatePool?: number;
}

type Obj = Record<string, unknown>;

export function generateGanetiConfig(opts: GenerateOptions): Obj {
  const rand = seededRandom(opts.seed);
  const int = (n: number) => Math.floor(rand() * n);
  const hex = (n: number) => Array.from({ length: n }, () => int(16).toString(16)).join('');
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[int(4)]}${hex(3)}-${hex(12)}`;
  const time = () => 1_300_000_000 + int(100_000_000) + int(1_000_000) / 1_000_000;
  const base = JSON.parse(fs.readFileSync(GANETI_EXAMPLE_CONFIG, 'utf8')) as Obj;
  const links = Array.from({ length: Math.max(1, opts.links) }, (_, i) => `br${i}`);

  // Node groups.
  const groups: Obj = {};
  const groupUuids: string[] = [];
  for (let g = 0; g < 3; g++) {
    const u = uuid();
    groupUuids.push(u);
    groups[u] = {
      alloc_policy: g === 2 ? 'last_resort' : 'preferred',
      diskparams: g === 1 ? { drbd: { 'resync-rate': 2048 } } : {},
      ipolicy: g === 1 ? { 'vcpu-ratio': 2.5, 'disk-templates': ['drbd', 'plain'] } : {},
      ...(g === 0 ? {} : { ctime: time() }),
      mtime: time(),
      name: `group${g}`,
      ndparams: g === 2 ? { exclusive_storage: true, spindle_count: 2 } : {},
      networks: {},
      serial_no: 1 + int(50),
      tags: g === 1 ? ['zeta', 'alpha', 'alpha'] : [],
      uuid: u,
    };
  }

  // Networks.
  const networks: Obj = {};
  for (let n = 0; n < 2; n++) {
    const u = uuid();
    networks[u] = {
      name: `net${n}`,
      network: `10.${100 + n}.0.0/24`,
      ...(n === 0 ? { gateway: `10.${100 + n}.0.1`, mac_prefix: 'aa:00:00' } : {}),
      reservations: '0'.repeat(256),
      ext_reservations: '1' + '0'.repeat(254) + '1',
      serial_no: 1,
      uuid: u,
    };
  }
  const networkUuids = Object.keys(networks);
  (groups[groupUuids[0]] as Obj).networks = { [networkUuids[0]]: { mode: 'bridged', link: links[0], vlan: '' } };

  // Nodes: node<i>.example.com; every 17th node also exists as node<i>.other.example.com, which
  // makes the short name node<i> ambiguous.
  const nodes: Obj = {};
  const nodeUuids: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < opts.nodes; i++) names.push(`node${i}.example.com`);
  for (let i = 0; i < opts.nodes; i += 17) names.push(`node${i}.other.example.com`);
  names.forEach((name, i) => {
    const u = uuid();
    nodeUuids.push(u);
    const offline = i % 23 === 5;
    nodes[u] = {
      ctime: time(),
      drained: i % 19 === 7,
      group: groupUuids[i % groupUuids.length],
      master_candidate: i % 4 === 0 && !offline,
      master_capable: true,
      mtime: time(),
      name,
      ndparams: i % 11 === 3 ? { spindle_count: 4 } : {},
      offline,
      powered: true,
      primary_ip: `192.0.${(i >> 8) & 255}.${i & 255}`,
      secondary_ip: `198.51.${(i >> 8) & 255}.${i & 255}`,
      serial_no: 1 + int(100),
      tags: i % 13 === 1 ? ['rack:b', 'rack:a'] : [],
      uuid: u,
      vm_capable: true,
    };
  });
  const master = nodeUuids[0];
  if (opts.candidatePool !== undefined) {
    let left = opts.candidatePool - 1;
    nodeUuids.forEach((u, i) => {
      const n = nodes[u] as Obj;
      n.master_candidate = i > 0 && left > 0 && !n.offline;
      if (n.master_candidate) left--;
    });
  }
  (nodes[master] as Obj).master_candidate = true;
  (nodes[master] as Obj).drained = false;
  (nodes[master] as Obj).offline = false;

  // Instances with NICs and disks.
  const instances: Obj = {};
  const disks: Obj = {};
  const minors = new Map<string, number>();
  const nextMinor = (node: string) => {
    const m = minors.get(node) ?? 0;
    minors.set(node, m + 1);
    return m;
  };
  let port = 11000;
  const count = opts.nodes * opts.instancesPerNode;
  const ipOf = (k: number) => {
    // Some IPs collide on purpose (last NIC visited wins), and 10.x.y.5 / 10.x.y.10 sort apart.
    if (k % 97 === 3) return '10.0.0.5';
    if (k % 97 === 4) return '10.0.0.10';
    return `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`;
  };
  let nicCounter = 0;
  for (let k = 0; k < count; k++) {
    const u = uuid();
    const pnode = nodeUuids[int(opts.nodes)];
    let snode = nodeUuids[int(opts.nodes)];
    if (snode === pnode) snode = nodeUuids[(nodeUuids.indexOf(pnode) + 1) % opts.nodes];
    const template = k % 5 === 4 ? 'diskless' : k % 3 === 0 ? 'plain' : 'drbd';
    const ndisks = template === 'diskless' ? 0 : 1 + (k % 7 === 0 ? 1 : 0);
    const diskUuids: string[] = [];
    for (let d = 0; d < ndisks; d++) {
      const du = uuid();
      diskUuids.push(du);
      const size = 1024 * (1 + int(64));
      const lv = (suffix: string) => ['xenvg', `${du}.disk${d}${suffix}`];
      if (template === 'plain') {
        disks[du] = {
          ctime: time(), dev_type: 'plain', iv_name: `disk/${d}`, logical_id: lv(''), mode: 'rw', mtime: time(),
          nodes: [pnode], params: {}, serial_no: 1, size, uuid: du,
          ...(d === 1 ? { name: `data${k}`, spindles: 2 } : {}),
        };
      } else {
        const children = ['_data', '_meta'].map((suffix, c) => ({
          ctime: time(), dev_type: 'plain', logical_id: lv(suffix), mtime: time(), nodes: [pnode, snode],
          params: {}, serial_no: 1, size: c === 0 ? size : 128, uuid: uuid(),
        }));
        disks[du] = {
          children, ctime: time(), dev_type: 'drbd', iv_name: `disk/${d}`,
          logical_id: [pnode, snode, port++, nextMinor(pnode), nextMinor(snode), hex(40)],
          mode: d === 1 ? 'ro' : 'rw', mtime: time(), nodes: [pnode, snode], params: {}, serial_no: 1 + int(3), size, uuid: du,
        };
      }
    }
    const nics: Obj[] = [];
    const nnics = 1 + (k % 4 === 0 ? 1 : 0) + (k % 9 === 0 ? 1 : 0);
    for (let n = 0; n < nnics; n++) {
      const link = links[(k + n) % links.length];
      const nic: Obj = { mac: `aa:bb:cc:${hex(2)}:${hex(2)}:${hex(2)}`, nicparams: link === links[0] && n === 0 ? {} : { link }, uuid: uuid() };
      if (n === 1 && k % 8 === 0) nic.nicparams = { mode: 'routed', link };
      if ((k + n) % 10 !== 9) nic.ip = ipOf(nicCounter++);
      if (n === 0 && k % 6 === 0) nic.name = `eth${n}`;
      if (n === 0 && k % 15 === 0) nic.network = networkUuids[0];
      nics.push(nic);
    }
    instances[u] = {
      admin_state: k % 3 === 0 ? 'down' : 'up',
      admin_state_source: 'admin',
      beparams: k % 4 === 1 ? { maxmem: 512, minmem: 256 } : {},
      ctime: time(),
      disks: diskUuids,
      disks_active: true,
      hvparams: k % 5 === 2 ? { kernel_path: '/boot/vmlinuz', acpi: false } : {},
      hypervisor: 'kvm',
      mtime: time(),
      name: `inst${k}.example.com`,
      nics,
      os: 'debian-image',
      osparams: {},
      osparams_private: k % 7 === 3 ? { secret: 'p4ss' } : {},
      primary_node: pnode,
      serial_no: 1 + int(20),
      tags: k % 10 === 0 ? ['web', 'db', 'web'] : [],
      uuid: u,
      ...(k % 12 === 5 ? { network_port: 12000 + k } : {}),
    };
  }

  const cluster = structuredClone(base.cluster) as Obj;
  cluster.master_node = master;
  cluster.master_ip = '192.0.2.254';
  cluster.cluster_name = 'generated.example.com';
  cluster.enabled_hypervisors = ['kvm'];
  if (opts.candidatePool !== undefined) cluster.candidate_pool_size = opts.candidatePool;
  cluster.nicparams = { default: { link: links[0], mode: 'bridged', vlan: '' } };
  cluster.serial_no = 4242;
  cluster.tags = ['b-tag', 'a-tag', 'b-tag'];
  cluster.data_collectors = {
    'cpu-avg-load': { active: true, interval: 5000000 },
    diskstats: { active: false, interval: 10000000 },
    drbd: { active: true, interval: 5000000 },
    'inst-status-xen': { active: true, interval: 5000000 },
    lv: { active: true, interval: 7000000 },
    'unknown-collector': { active: true, interval: 1 },
  };
  return {
    cluster,
    ctime: base.ctime,
    disks,
    filters: {},
    instances,
    mtime: base.mtime,
    networks,
    nodegroups: groups,
    nodes,
    serial_no: 9000,
    version: base.version,
  };
}

/** A small generated config with the unusual shapes the schema allows. */
export function oddGanetiConfig(): Obj {
  const doc = generateGanetiConfig({ nodes: 6, instancesPerNode: 3, links: 3, seed: 77 }) as Obj;
  const instances = doc.instances as Record<string, Obj>;
  const disks = doc.disks as Record<string, Obj>;
  const [i0, i1] = Object.keys(instances);
  // A forthcoming instance with most fields absent, and one with defaulted fields left out.
  instances[i0] = { uuid: i0, forthcoming: true, name: 'coming.example.com', serial_no: 2.5 };
  const i1o = instances[i1];
  delete i1o.hvparams;
  delete i1o.beparams;
  delete i1o.nics;
  i1o.tags = ['z', 'a', 'z'];
  const d0 = Object.keys(disks)[0];
  disks[d0] = { ...disks[d0], forthcoming: true };
  delete disks[d0].mode;
  const d1 = Object.keys(disks)[1];
  disks[d1] = { ...disks[d1], forthcoming: false, size: 1024.5 };
  delete disks[d1].iv_name;
  return doc;
}
