// A small agent, written as a program that depends on the published qconf package writes one:
// a client from the environment, typed results narrowed by kind, a parse function, a cancelled
// read, and a mirror of a subtree that follows the cluster's changes. It prints one line per
// step; after READY it waits for the cluster's master to change, then exits.
import { ConfdClient, isQconfError, type Mirror, type MirrorChange, type QueryResult } from 'qconf';

interface Cluster {
  name: string;
  master: string;
}

/** Checks (and types) a /cluster value, as a schema library's parse would. */
function parseCluster(v: unknown): Cluster {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
  const { name, master } = v as Record<string, unknown>;
  if (typeof name !== 'string' || typeof master !== 'string') throw new Error('name and master must be strings');
  return { name, master };
}

/** One line for any result: each kind narrowed, and `answer` typed where there is one. */
function summary<A>(r: QueryResult<A>, show: (answer: A) => string): string {
  switch (r.kind) {
    case 'ok':
      return `ok ${show(r.answer)} serial=${r.serial} consistent=${r.consistent}`;
    case 'not_found':
      return `not_found ${r.error.code}`;
    case 'no_quorum':
      return `no_quorum ${r.replies}/${r.needed}`;
    case 'error':
      return `error ${r.error.code}`;
    default: {
      const unreachable: never = r;
      return unreachable;
    }
  }
}

try {
  ConfdClient.fromEnv({ env: {} });
} catch (e) {
  console.log(`fromEnv without peers: ${isQconfError(e, 'usage') ? 'usage' : String(e)}`);
}

await using client = ConfdClient.fromEnv();

const cluster = await client.get('/cluster', { parse: parseCluster, timeoutMs: 10_000 });
console.log(`get /cluster: ${summary(cluster, (c) => `${c.name} master=${c.master}`)}`);
const master: string = cluster.kind === 'ok' ? cluster.answer.master : 'unknown';
console.log(`master: ${master}`);
console.log(`get /nowhere: ${summary(await client.get('/nowhere'), String)}`);
console.log(`get /list as a cluster: ${summary(await client.get('/list', { parse: parseCluster }), (c) => c.name)}`);

const ac = new AbortController();
const cancelled = client.get('/cluster/master', { signal: ac.signal, timeoutMs: 30_000 });
ac.abort(new Error('the agent gave up'));
try {
  await cancelled;
  console.log('abort: not rejected');
} catch (e) {
  console.log(`abort: ${(e as Error).message}`);
}

await using mirror: Mirror<Cluster> = await client.mirror('/cluster', { parse: parseCluster });
console.log(`mirror: serial=${mirror.serial} master=${mirror.get<string>('/master')} name=${mirror.root?.name}`);
const changed = new Promise<MirrorChange>((resolve) => mirror.on('change', resolve));
console.log('READY');
const change = await changed;
console.log(`change: serial=${change.serial} paths=${change.paths.join(',')} master=${mirror.root?.master}`);
