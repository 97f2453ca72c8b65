// The small document most tests serve: a cluster, two nodes, a key that needs escaping in a
// pointer and a list, at a given serial.
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
