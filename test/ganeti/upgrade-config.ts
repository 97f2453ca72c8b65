// Upgrades a Ganeti 2.14–2.16 `config.data` (such as the testsuite's cluster_config_2.16.json)
// to one the Ganeti 3.0 confd daemon loads. Checked against the real daemon with the testsuite's
// 2.14, 2.15 and 2.16 configs; older ones miss further cluster keys (gluster_storage_dir,
// osparams_private_cluster, ...) that only Ganeti's step-by-step upgrades add, so they are
// rejected here instead.
//
// This is a deterministic subset of Ganeti 3.0's `cfgupgrade` (UpgradeAll): only the steps that
// touch the config document, none of the ones that write other files. Where cfgupgrade
// generates random UUIDs, this derives them from the parent's UUID, so the result is
// reproducible. The 3.0 daemon parses strictly (a missing required key fails the whole load),
// and for the 2.16 testsuite config exactly three steps matter: `cluster.ssh_key_type`,
// `cluster.ssh_key_bits` and a `uuid` on every child disk. The others are no-ops there and kept
// for other inputs. `version` is not checked by the daemon, but it is its PING answer.
//
// examples/ganeti/config.data is this module's output for cluster_config_2.16.json; harness.test.ts
// checks that and rewrites it when run with QCONF_UPDATE_EXAMPLES=1.
import { createHash } from 'node:crypto';

type Json = Record<string, unknown>;

/** Ganeti's version encoding: major * 1000000 + minor * 10000 + revision. */
export const GANETI_CONFIG_VERSION_3_0 = 3000000;
const OLDEST_SUPPORTED_VERSION = 2140000;

// Values cfgupgrade fills in (Ganeti 3.0 constants).
const DATA_COLLECTOR_NAMES = ['cpu-avg-load', 'diskstats', 'drbd', 'inst-status-xen', 'lv', 'xen-cpu-avg-load'];
const MOND_TIME_INTERVAL_US = 5_000_000;
const IEC_DEFAULT_TOOLS = ['gzip', 'gzip-fast', 'gzip-slow'];
const DEV_TYPE_OLD_NEW: Record<string, string> = { lvm: 'plain', drbd8: 'drbd' };

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function objectAt(parent: Json, key: string, what: string): Json {
  const v = parent[key];
  if (!isObject(v)) throw new Error(`upgradeGanetiConfig: ${what} is not an object`);
  return v;
}

function setDefault(obj: Json, key: string, value: unknown): void {
  if (!(key in obj)) obj[key] = value;
}

/** A stable name-based (v5-style) UUID, standing in for cfgupgrade's random NewUUID(). */
function derivedUuid(name: string): string {
  const h = createHash('sha1').update(name).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function upgradeDisk(disk: Json, uuidSeed: string): void {
  // Child disks of old configs have no uuid; the 3.0 schema requires one at every level.
  if (typeof disk['uuid'] !== 'string') disk['uuid'] = derivedUuid(uuidSeed);
  delete disk['physical_id'];
  const devType = disk['dev_type'];
  if (typeof devType === 'string' && devType in DEV_TYPE_OLD_NEW) disk['dev_type'] = DEV_TYPE_OLD_NEW[devType];
  const children = disk['children'];
  if (Array.isArray(children)) {
    children.forEach((child, i) => {
      if (isObject(child)) upgradeDisk(child, `${disk['uuid'] as string}/child/${i}`);
    });
  }
}

function upgradeCluster(cluster: Json): void {
  setDefault(cluster, 'default_iallocator_params', {});
  setDefault(cluster, 'candidate_certs', {});
  setDefault(cluster, 'instance_communication_network', '');
  setDefault(cluster, 'install_image', '');
  setDefault(cluster, 'zeroing_image', '');
  setDefault(cluster, 'compression_tools', [...IEC_DEFAULT_TOOLS]);
  setDefault(cluster, 'enabled_user_shutdown', false);
  setDefault(cluster, 'data_collectors', {});
  const collectors = objectAt(cluster, 'data_collectors', 'cluster.data_collectors');
  for (const name of DATA_COLLECTOR_NAMES) {
    setDefault(collectors, name, { active: true, interval: MOND_TIME_INTERVAL_US });
  }
  // New in 3.0 and required; cfgupgrade uses the pre-3.0 behaviour (DSA, 1024 bits).
  setDefault(cluster, 'ssh_key_type', 'dsa');
  setDefault(cluster, 'ssh_key_bits', 1024);
}

/**
 * Returns an upgraded deep copy of a Ganeti 2.14–2.16 config document (already-3.0 documents
 * pass through unchanged apart from missing defaults). Throws on older versions.
 */
export function upgradeGanetiConfig(doc: unknown): unknown {
  if (!isObject(doc)) throw new Error('upgradeGanetiConfig: the config is not a JSON object');
  const cfg = structuredClone(doc);
  const version = cfg['version'];
  if (typeof version !== 'number' || version < OLDEST_SUPPORTED_VERSION) {
    throw new Error(`upgradeGanetiConfig: config version ${String(version)} is older than 2.14, not supported`);
  }
  cfg['version'] = GANETI_CONFIG_VERSION_3_0;
  setDefault(cfg, 'networks', {});
  setDefault(cfg, 'filters', {});

  upgradeCluster(objectAt(cfg, 'cluster', 'cluster'));

  for (const group of Object.values(objectAt(cfg, 'nodegroups', 'nodegroups'))) {
    if (isObject(group)) setDefault(group, 'networks', {});
  }
  for (const inst of Object.values(objectAt(cfg, 'instances', 'instances'))) {
    if (!isObject(inst)) continue;
    setDefault(inst, 'admin_state_source', 'admin');
    delete inst['disk_template'];
  }
  for (const [uuid, disk] of Object.entries(objectAt(cfg, 'disks', 'disks'))) {
    if (isObject(disk)) upgradeDisk(disk, uuid);
  }
  return cfg;
}

/** Pretty JSON plus a final newline, as stored in examples/ganeti/config.data. */
export function formatGanetiConfig(doc: unknown): string {
  return `${JSON.stringify(doc, null, 1)}\n`;
}
