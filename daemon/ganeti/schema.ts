// The Ganeti config's schema (ganeti-confd-protocol.md §7.3): one table per object type, its
// fields in Haskell's order, each with its JSON type and whether it is required, optional or
// defaulted, as Ganeti's loader reads config.data. serialize.ts and schema-check.ts work from
// these tables alone.

/** A field is required, optional (omitted when absent), or filled with a default when absent. */
export type Mode = 'req' | 'opt' | 'def';

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
/** The fields most objects end with, in Haskell's order. */
const trailerF = [...timeStamp, ...uuidF, ...serialF, ...tagsF];

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

/** A DRBD disk's logical_id: node A, node B, port, minor A, minor B, secret. */
export const DRBD_LOGICAL_ID_LENGTH = 6;

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
    ...trailerF,
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
  ...trailerF,
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
  ...trailerF,
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
  ...trailerF,
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
export const HYPERVISOR_ORDER = ['kvm', 'xen-pvm', 'chroot', 'xen-hvm', 'lxc', 'fake'];

