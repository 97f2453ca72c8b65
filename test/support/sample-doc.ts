// The small document most tests serve: a cluster, two nodes, a key that needs escaping in a
// pointer and a list, at a given serial; and the same with another cluster master.
export function sampleDoc(serial: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    serial_no: serial,
    cluster: { name: 'test.example.com', master: 'node1.example.com' },
    nodes: {
      'node1.example.com': { primary_ip: '192.0.2.11', drained: false },
      'node2.example.com': { primary_ip: '192.0.2.12', drained: false },
    },
    'a/b': { 'm~n': 1 },
    list: [10, 20, 30],
    ...extra,
  };
}

/** sampleDoc with `master` as the cluster's master (what quorum and wait tests tell daemons apart by). */
export function withMaster(serial: number, master: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return sampleDoc(serial, { cluster: { name: 'test.example.com', master }, ...extra });
}
