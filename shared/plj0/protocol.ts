// plj0's vocabulary, shared by the daemon and the client (ganeti-confd-protocol.md §§1–5): the
// magic, the limits, the request types and their names, reply statuses, error codes and node
// roles, with Ganeti's values.

export const PLJ0_MAGIC = 'plj0';
/** The "protocol" member of every request and reply. */
export const CONFD_PROTOCOL_VERSION = 1;
/** CONFD_MAX_CLOCK_SKEW: |timestamp − now| ≤ 300 s is accepted (inclusive). */
export const CONFD_MAX_CLOCK_SKEW = 300;
/** Ganeti's MAX_UDP_DATA_SIZE: the largest datagram its clients read. */
export const MAX_UDP_DATA_SIZE = 61440;
/** An HMAC-SHA1 as the "hmac" member carries it: 40 hex digits. */
export const MAC_HEX_LENGTH = 40;

/** The request types (Ganeti's ConfdRequestType, by number). */
export const enum RequestType {
  Ping = 0,
  NodeRoleByName = 1,
  NodePipByInstanceIp = 2,
  ClusterMaster = 3,
  NodePipList = 4,
  McPipList = 5,
  InstancesIpsList = 6,
  NodeDrbd = 7,
  NodeInstances = 8,
  InstanceDisks = 9,
  ConfigQuery = 10,
  DataCollectors = 11,
}

/** The highest request type there is. */
export const LAST_REQUEST_TYPE = RequestType.DataCollectors;

/** Each request type's name, by number (the daemon's counters, `qconf ganeti`). */
export const REQUEST_TYPE_NAMES = [
  'ping',
  'node-role',
  'node-pip-by-instance-ip',
  'cluster-master',
  'node-pip-list',
  'mc-pip-list',
  'instances-ips-list',
  'node-drbd',
  'node-instances',
  'instance-disks',
  'config-query',
  'data-collectors',
] as const;

/** The fields a cluster-master dict query asks for (Ganeti's ConfdReqField). */
export const enum ReqField {
  Name = 0,
  Ip = 1,
  MNodePip = 2,
}

/** A reply's "status". */
export const enum ReplyStatus {
  Ok = 0,
  Error = 1,
}

/** The numeric answers of some error replies (Ganeti's ConfdErrorType). */
export const enum ErrorCode {
  UnknownEntry = 0,
  Argument = 2,
}

/** A node-role answer (Ganeti's ConfdNodeRole). */
export const enum NodeRole {
  Master = 0,
  Candidate = 1,
  Offline = 2,
  Drained = 3,
  Regular = 4,
}
