// From the common flags to a client: the peer list (host names resolved once, so that two
// spellings of one address are one peer, and a name that does not resolve is named), the key
// file (refused: exit 4; none given: exit 2), and the query options every command passes on.
import { isIPv4 } from 'node:net';
import { QconfError } from '../../shared/errors.js';
import { Keyring, loadKeyring } from '../../shared/keyring.js';
import { parsePeerList, type Peer } from '../../shared/peers.js';
import { ConfdClient, type ConfdClientOptions } from '../confd-client.js';
import { YES_NO_WORDS, yesNo } from '../../shared/yes-no.js';
import { CliExit, coverageOption, numberOption, stringOf, usageError, type Parsed } from './args.js';
import { EXIT, type Io } from './common.js';
import { trustFrom, type Trust } from './trust.js';

const IPV4 = /^([0-9.]{7,15})(?::([0-9]{1,5}))?$/;

/** The options of a quorum query, from the common flags. */
export interface QueryFlags {
  timeoutMs: number;
  coverage: number | undefined;
  strict: boolean;
  json: boolean;
}

export function queryFlags(p: Parsed): QueryFlags {
  return {
    timeoutMs: numberOption(p, 'timeout', 1, undefined, ' of milliseconds'),
    coverage: coverageOption(p),
    strict: p.values.strict === true,
    json: p.values.json === true,
  };
}

async function addressesOf(peer: Peer, io: Io): Promise<string[]> {
  if (peer.family !== 0) return [peer.host];
  // node:dns only for host names: most peer lists are addresses.
  const dns = await import('node:dns/promises');
  try {
    return (await dns.lookup(peer.host, { all: true })).map((a) => a.address);
  } catch (e) {
    io.err(`qconf: warning: peer ${peer.label}: ${peer.host} does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); it counts as a silent daemon\n`);
    return [];
  }
}

/**
 * The peers to ask, each once: a peer whose address (any of a name's addresses) and port an
 * earlier one already has is the same daemon, dropped with a warning.
 */
export async function resolvePeers(list: string, port: number, io: Io): Promise<string[]> {
  const items = list.split(/[\s,]+/).filter((x) => x !== '');
  if (items.length === 0) throw usageError('--peers: the list is empty');
  // IPv4 addresses (the usual list) need neither resolving nor parsePeerList, whose IPv6
  // pattern costs a short-lived process milliseconds to compile.
  const v4 = items.map((item) => IPV4.exec(item));
  if (v4.every((m) => m !== null && isIPv4(m[1]) && (m[2] === undefined || (Number(m[2]) >= 1 && Number(m[2]) <= 65535)))) {
    const labels = v4.map((m) => `${m?.[1]}:${m?.[2] ?? port}`);
    const once = labels.filter((l, i) => labels.indexOf(l) === i);
    if (once.length < labels.length) io.err(`qconf: warning: a peer is listed twice; asked once\n`);
    return once;
  }
  let peers: Peer[];
  try {
    peers = parsePeerList(items, port);
  } catch (e) {
    throw e instanceof QconfError ? usageError(`--peers: ${e.message}`) : e;
  }
  const addresses = await Promise.all(peers.map((p) => addressesOf(p, io)));
  const kept: Array<{ peer: Peer; at: Set<string> }> = [];
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i];
    const at = new Set(addresses[i].map((a) => `${a}#${peer.port}`));
    const same = kept.find((k) => [...at].some((a) => k.at.has(a)));
    if (same) {
      io.err(`qconf: warning: peers ${same.peer.label} and ${peer.label} are the same address; asked once\n`);
      continue;
    }
    kept.push({ peer, at });
  }
  return kept.map((k) => k.peer.label);
}

/** The peers from --peers (or QCONF_PEERS), resolved; a usage error when there are none. */
export async function peersFrom(p: Parsed, io: Io, fallback?: { list: () => string | undefined; missing: string }): Promise<string[]> {
  const list = stringOf(p, 'peers') ?? fallback?.list();
  if (list === undefined) throw usageError(`no peers: give --peers or set QCONF_PEERS${fallback ? ` (${fallback.missing})` : ''}`);
  return resolvePeers(list, portOf(p), io);
}

export function portOf(p: Parsed): number {
  return numberOption(p, 'port', 1, 65535);
}

/** The keyring from --key-file (or QCONF_KEY_FILE): refused (mode, contents) is exit 4. */
export function keyringFrom(p: Parsed, io: Io): Keyring {
  const keyFile = stringOf(p, 'key-file');
  if (keyFile === undefined) throw usageError('no key file: give --key-file or set QCONF_KEY_FILE');
  try {
    const k = loadKeyring(keyFile);
    for (const w of k.warnings) io.err(`qconf: warning: ${w}\n`);
    return k.keyring;
  } catch (e) {
    throw new CliExit(EXIT.FAILURE, (e as Error).message);
  }
}

/** --seal (or QCONF_SEAL): whether bodies are sealed; a variable that says neither yes nor no is a usage error. */
export function sealFrom(p: Parsed): boolean {
  const v = p.values.seal;
  if (v === undefined || v === true) return v === true;
  const yes = yesNo(String(v));
  if (yes === undefined) throw usageError(`--seal (from QCONF_SEAL): ${JSON.stringify(v)} is neither ${YES_NO_WORDS}`);
  return yes;
}

/** A client from the common flags (peers checked before the key and trust files are read). */
export async function makeClient(p: Parsed, io: Io, extra: Partial<ConfdClientOptions> = {}, trust: Trust = trustFrom(p, io)): Promise<ConfdClient> {
  const seal = sealFrom(p);
  const peers = await peersFrom(p, io);
  const keyring = extra.keyring ?? keyringFrom(p, io);
  io.keyId = keyring.signer.idHex;
  return new ConfdClient({ keyring, peers, port: portOf(p), trustKeys: trust.trustKeys, newestSerial: trust.newestSerial, seal, ...extra });
}

/**
 * Run `body` with a client made from the flags, closed afterwards whatever happens; with
 * --state-file, the newest signed serial it accepted is kept.
 */
export async function withClient<T>(p: Parsed, io: Io, body: (client: ConfdClient) => Promise<T>): Promise<T> {
  const trust = trustFrom(p, io);
  const client = await makeClient(p, io, {}, trust);
  try {
    return await body(client);
  } finally {
    trust.save(client);
    client.close();
  }
}
