/**
 * A REAL etcd cluster (Debian's etcd-server 3.4.x, installed by test/etcd/install-etcd.sh) of
 * child processes on free loopback ports, for the etcd tests and the etcd source benchmark.
 *
 * Node built-ins only, so it can be used anywhere without pulling in the etcd3 client.
 *
 *   const cluster = await startEtcd({ clusterSize: 3 });
 *   cluster.endpoints;              // ['http://127.0.0.1:41234', ...] (client URLs, all members)
 *   cluster.memberEndpoints(1);     // ['http://127.0.0.1:41236'] (client URL of member 1 only)
 *   await cluster.etcdctl(['put', '/k', 'v'], 1);   // through member 1; resolves to stdout
 *   await cluster.stopMember(0);    // SIGTERM (SIGKILL after a grace period)
 *   await cluster.startMember(0);   // same data dir, same ports; resolves when healthy again
 *   await cluster.compact(rev);     // etcdctl compaction --physical
 *   await cluster.stop();           // kills everything, removes the temp data dir
 *
 * TLS on the client URLs (peer URLs stay plain http on loopback):
 *
 *   const c = await startEtcd({ tls: { certFile, keyFile, caFile, clientCertAuth: true, clientCertFile, clientKeyFile } });
 *   c.endpoints;                    // ['https://127.0.0.1:41234']; etcdctl and /health use the CA (and client cert)
 *
 * After `auth enable`, tell the harness the credentials etcdctl must use from then on:
 *
 *   c.setEtcdctlUser('root:PASS');  // or startEtcd({ etcdctlUser: 'root:PASS' }) for a data dir with auth on
 *
 * Every member runs in its own process group (spawn `detached`) and, where util-linux's
 * `setpriv` exists, with a parent-death signal, so nothing outlives the test process: groups
 * are killed on stop(), on process 'exit' and on SIGINT/SIGTERM/SIGHUP.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freeTcpPorts } from '../fixtures.js';
import {
  INSTALL_HINT,
  Member,
  cleanEnv,
  etcdBinary,
  etcdctlBinary,
  execFileText,
  installExitHooks,
  ownedDirs,
  pickBaseDir,
  probeHealth,
  type EtcdMember,
  type HttpsCredentials,
  type StopMemberOptions,
} from './member.js';

export interface StartEtcdOptions {
  /** Cluster name; used for member names (`NAME-0`, ...), the cluster token and the temp dir. */
  name?: string;
  /**
   * Base directory for member data dirs (`<dataDir>/member-<i>`) and logs. When given it is
   * created if needed and NOT removed by stop(); otherwise a temp dir is made (under /dev/shm
   * when writable, for cheap fsyncs) and removed by stop().
   */
  dataDir?: string;
  /** Number of members, 1 (default) to 5. Stopping one member and keeping quorum needs 3. */
  clusterSize?: number;
  /** Deadline for the cluster (or a restarted member) to report healthy. Default 30 000 ms. */
  startTimeoutMs?: number;
  /** Raft heartbeat interval (ms). Default 100 (etcd default). */
  heartbeatIntervalMs?: number;
  /** Raft election timeout (ms). Default 1000 (etcd default). */
  electionTimeoutMs?: number;
  /** Extra command-line flags for every member. */
  extraArgs?: string[];
  /** Serve the client URLs over TLS (https://127.0.0.1:PORT). Default: plain http. */
  tls?: EtcdTlsOptions;
  /**
   * `NAME:PASSWORD` passed as `--user` to every etcdctl call (for a cluster with auth enabled).
   * Can be changed later with `setEtcdctlUser`. etcdctl ignores it while auth is still off.
   */
  etcdctlUser?: string;
}

/** TLS for the client URLs. All files are PEM; the harness only passes their paths on. */
export interface EtcdTlsOptions {
  /** Server certificate (`--cert-file`); it must be valid for IP 127.0.0.1 (subjectAltName). */
  certFile: string;
  /** Server private key (`--key-file`). */
  keyFile: string;
  /**
   * CA that signed the server certificate: etcdctl and the health probe trust it. With
   * `clientCertAuth` it is also etcd's `--trusted-ca-file`, which client certificates must
   * chain to. (etcd 3.4 demands a client certificate whenever `--trusted-ca-file` is given,
   * so the harness passes it only together with `--client-cert-auth`.)
   */
  caFile: string;
  /** `--client-cert-auth --trusted-ca-file=caFile`: every client must present a certificate. */
  clientCertAuth?: boolean;
  /** Client certificate and key for etcdctl and the health probe; required with `clientCertAuth`. */
  clientCertFile?: string;
  clientKeyFile?: string;
}

export interface EtcdCluster {
  readonly name: string;
  /** Base dir holding `member-<i>` data dirs and `member-<i>.log` logs. */
  readonly baseDir: string;
  readonly members: readonly EtcdMember[];
  /** Client URLs of all members (running or not), e.g. for `new Etcd3({ hosts: endpoints })`. */
  readonly endpoints: string[];
  /** Client URL(s) of member i only. */
  memberEndpoints(i: number): string[];
  stopMember(i: number, opts?: StopMemberOptions): Promise<void>;
  /** Restarts member i with the SAME data dir and ports; resolves when it reports healthy. */
  startMember(i: number): Promise<void>;
  /**
   * Runs `etcdctl --endpoints=... ARGS` (API v3) against member i or all members; resolves to
   * stdout. With `tls` it passes `--cacert` (and `--cert`/`--key`), with a user `--user`.
   */
  etcdctl(args: string[], member?: number): Promise<string>;
  /** `NAME:PASSWORD` for every later etcdctl call (after `auth enable`), or undefined for none. */
  setEtcdctlUser(user: string | undefined): void;
  /** Compacts the key-value history up to `revision` (physically). Older revisions become unreadable. */
  compact(revision: number | string | bigint): Promise<void>;
  /** Current store revision as reported by member i (or any member), via `endpoint status`. */
  revision(member?: number): Promise<number>;
  /** Resolves when member i (or every running member) reports healthy on /health. */
  waitHealthy(member?: number, timeoutMs?: number): Promise<void>;
  /** Last lines of member i's log (all starts of that member). */
  logTail(i: number, lines?: number): string;
  /** Stops every member (SIGKILL to each group) and removes the temp dir unless `dataDir` was given. */
  stop(): Promise<void>;
}


const DEFAULT_START_TIMEOUT_MS = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let clusterCounter = 0;

export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const size = opts.clusterSize ?? 1;
  if (!Number.isInteger(size) || size < 1 || size > 5) throw new Error(`clusterSize must be 1..5, got ${size}`);
  // Fail fast (and loudly) when etcd is not installed.
  etcdBinary();
  etcdctlBinary();

  const tls = opts.tls;
  if (tls && tls.clientCertAuth && (!tls.clientCertFile || !tls.clientKeyFile)) {
    throw new Error('startEtcd: tls.clientCertAuth needs tls.clientCertFile and tls.clientKeyFile (for etcdctl and the health probe)');
  }
  if (tls && !tls.clientCertFile !== !tls.clientKeyFile) throw new Error('startEtcd: give tls.clientCertFile and tls.clientKeyFile together');
  const clientScheme = tls ? 'https' : 'http';
  const tlsArgs = tls
    ? [`--cert-file=${tls.certFile}`, `--key-file=${tls.keyFile}`, ...(tls.clientCertAuth ? ['--client-cert-auth', `--trusted-ca-file=${tls.caFile}`] : [])]
    : [];
  // Read once, up front: a missing file fails here, not as a 30 s health timeout.
  const probeTls: HttpsCredentials | undefined = tls
    ? {
        ca: readFileSync(tls.caFile),
        cert: tls.clientCertFile ? readFileSync(tls.clientCertFile) : undefined,
        key: tls.clientKeyFile ? readFileSync(tls.clientKeyFile) : undefined,
      }
    : undefined;
  const etcdctlTlsArgs = tls
    ? [`--cacert=${tls.caFile}`, ...(tls.clientCertFile && tls.clientKeyFile ? [`--cert=${tls.clientCertFile}`, `--key=${tls.clientKeyFile}`] : [])]
    : [];
  let etcdctlUser = opts.etcdctlUser;

  const name = (opts.name ?? `c${++clusterCounter}`).replace(/[^A-Za-z0-9_-]/g, '_');
  const ownsDir = opts.dataDir === undefined;
  const baseDir = opts.dataDir ?? pickBaseDir(name);
  mkdirSync(baseDir, { recursive: true });
  if (ownsDir) {
    installExitHooks();
    ownedDirs.add(baseDir);
  }
  const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;

  const makeMembers = (ports: number[]): Member[] => {
    const specs = Array.from({ length: size }, (_, i) => ({
      name: `${name}-${i}`,
      clientUrl: `${clientScheme}://127.0.0.1:${ports[2 * i]}`,
      peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
      dataDir: join(baseDir, `member-${i}`),
      logFile: join(baseDir, `member-${i}.log`),
    }));
    const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
    const token = `${name}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    return specs.map((s, i) => new Member(i, s.name, s.clientUrl, s.peerUrl, s.dataDir, s.logFile, [
      `--name=${s.name}`,
      `--data-dir=${s.dataDir}`,
      `--listen-client-urls=${s.clientUrl}`,
      `--advertise-client-urls=${s.clientUrl}`,
      `--listen-peer-urls=${s.peerUrl}`,
      `--initial-advertise-peer-urls=${s.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      // Ignored by etcd once the data dir holds a WAL, so restarts with the same argv rejoin.
      '--initial-cluster-state=new',
      `--heartbeat-interval=${opts.heartbeatIntervalMs ?? 100}`,
      `--election-timeout=${opts.electionTimeoutMs ?? 1000}`,
      '--logger=zap',
      '--log-outputs=stderr',
      ...tlsArgs,
      ...(opts.extraArgs ?? []),
    ]));
  };
  let members = makeMembers(await freeTcpPorts(size * 2));

  const member = (i: number): Member => {
    const m = members[i];
    if (!m) throw new Error(`no etcd member ${i} (cluster size ${size})`);
    return m;
  };

  const etcdctl = (args: string[], i?: number): Promise<string> => {
    const endpoints = i === undefined ? members.map((m) => m.clientUrl) : [member(i).clientUrl];
    return execFileText(
      etcdctlBinary(),
      [
        `--endpoints=${endpoints.join(',')}`,
        '--dial-timeout=5s',
        '--command-timeout=10s',
        ...etcdctlTlsArgs,
        ...(etcdctlUser !== undefined ? [`--user=${etcdctlUser}`] : []),
        ...args,
      ],
      cleanEnv({ ETCDCTL_API: '3' }),
      20_000,
    );
  };

  const describe = (ms: Member[], lines = 30): string =>
    ms.map((m) => `--- ${m.name} (${m.clientUrl}, log ${m.logFile}) ${m.exitInfo ?? 'running'}:\n${m.logTail(lines)}`).join('\n');

  const waitHealthy = async (which: Member[], timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const last = new Map<Member, string>();
    for (;;) {
      const dead = which.filter((m) => m.exitInfo !== null);
      if (dead.length > 0) {
        throw new Error(`etcd member(s) ${dead.map((m) => m.name).join(', ')} exited while waiting for health (${INSTALL_HINT} if etcd is missing)\n${describe(which)}`);
      }
      const results = await Promise.all(which.map(async (m) => [m, await probeHealth(m.clientUrl, probeTls)] as const));
      for (const [m, r] of results) last.set(m, r.detail);
      if (results.every(([, r]) => r.ok)) return;
      if (Date.now() > deadline) {
        const status = which.map((m) => `${m.name}: ${last.get(m)}`).join('; ');
        throw new Error(`etcd not healthy after ${timeoutMs} ms (${status})\n${describe(which)}`);
      }
      await sleep(100);
    }
  };

  let stopped = false;
  const stopAll = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(members.map((m) => m.stop({ signal: 'SIGKILL', graceMs: 5_000 })));
    await Promise.all(members.map((m) => m.closeLog()));
    if (ownsDir) {
      ownedDirs.delete(baseDir);
      if (!process.env.QCONF_ETCD_KEEP) rmSync(baseDir, { recursive: true, force: true });
    }
  };

  // A port found free can be taken by another process before etcd binds it: retry such a
  // start (only) with fresh ports and wiped data dirs.
  for (let attempt = 1; ; attempt++) {
    try {
      for (const m of members) m.start();
      await waitHealthy(members, startTimeoutMs);
      break;
    } catch (e) {
      if (attempt >= 3 || !/address already in use/.test(String(e))) {
        await stopAll().catch(() => undefined);
        throw e;
      }
      await Promise.all(members.map((m) => m.stop({ signal: 'SIGKILL' })));
      await Promise.all(members.map((m) => m.closeLog()));
      for (const m of members) rmSync(m.dataDir, { recursive: true, force: true });
      members = makeMembers(await freeTcpPorts(size * 2));
    }
  }

  const cluster: EtcdCluster = {
    name,
    baseDir,
    members,
    endpoints: members.map((m) => m.clientUrl),
    memberEndpoints: (i) => [member(i).clientUrl],
    stopMember: (i, o) => member(i).stop(o),
    startMember: async (i) => {
      if (stopped) throw new Error('cluster was stopped');
      const m = member(i);
      m.start();
      await waitHealthy([m], startTimeoutMs);
    },
    etcdctl,
    setEtcdctlUser: (user) => {
      etcdctlUser = user;
    },
    compact: async (revision) => {
      await etcdctl(['compaction', '--physical', String(revision)]);
    },
    revision: async (i) => {
      const targets = i === undefined ? members.filter((m) => m.running).map((m) => m.index) : [i];
      let lastErr: unknown = new Error('no running member');
      for (const t of targets) {
        try {
          const out = await etcdctl(['endpoint', 'status', '-w', 'json'], t);
          const parsed = JSON.parse(out) as Array<{ Status?: { header?: { revision?: number | string } } }>;
          const rev = parsed[0]?.Status?.header?.revision;
          if (rev === undefined) throw new Error(`no revision in endpoint status: ${out}`);
          return Number(rev);
        } catch (e) {
          lastErr = e;
        }
      }
      throw lastErr;
    },
    waitHealthy: (i, timeoutMs) =>
      waitHealthy(i === undefined ? members.filter((m) => m.running) : [member(i)], timeoutMs ?? startTimeoutMs),
    logTail: (i, lines) => member(i).logTail(lines),
    stop: stopAll,
  };
  return cluster;
}
