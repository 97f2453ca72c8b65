// Answers to the plj0 request types 0–11 (ganeti-confd-protocol.md §4), as pure functions of
// the snapshot's Ganeti view and the request: exactly the answers, serials, orders and error
// texts of ganeti-confd 3.0.
import { ErrorCode, MAX_UDP_DATA_SIZE, NodeRole, ReplyStatus, ReqField, RequestType } from '../../shared/plj0/protocol.js';
import type { DictQuery, Plj0Query, Plj0Request } from './request.js';
import { ComposedAnswer } from './fragments.js';
import { parseGanetiPointer, resolveConfigPointer } from './config-pointer.js';
import { lookupByName, type GanetiView, type InstanceIndex, type Lookup, type NodeRec } from './view.js';

export interface GanetiAnswer {
  status: number;
  answer: unknown;
  serial: number;
}

const ok = (answer: unknown, serial: number): GanetiAnswer => ({ status: ReplyStatus.Ok, answer, serial });
const failure = (text: string): GanetiAnswer => ({ status: ReplyStatus.Error, answer: text, serial: 0 });
const UNKNOWN_ENTRY: GanetiAnswer = { status: ReplyStatus.Error, answer: ErrorCode.UnknownEntry, serial: 0 };
const ARGUMENT_ERROR: GanetiAnswer = { status: ReplyStatus.Error, answer: ErrorCode.Argument, serial: 0 };

// ---------------------------------------------------------------------------------------------
// Haskell `show`, for the error texts.

const ASCII_NAMES = [
  'NUL', 'SOH', 'STX', 'ETX', 'EOT', 'ENQ', 'ACK', 'a', 'b', 't', 'n', 'v', 'f', 'r', 'SO', 'SI',
  'DLE', 'DC1', 'DC2', 'DC3', 'DC4', 'NAK', 'SYN', 'ETB', 'CAN', 'EM', 'SUB', 'ESC', 'FS', 'GS', 'RS', 'US',
];

/** `show` of a Haskell String: \" \\ escapes, control names, decimal escapes above \DEL. */
export function showHaskellString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const next = i + 1 < s.length ? s.charCodeAt(i + 1) : -1;
    const nextIsDigit = next >= 0x30 && next <= 0x39;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c > 0x7f) out += '\\' + c + (nextIsDigit ? '\\&' : '');
    else if (c === 0x7f) out += '\\DEL';
    else if (c >= 0x20) out += s[i];
    else if (c === 0x0e) out += '\\SO' + (next === 0x48 ? '\\&' : '');
    else out += '\\' + ASCII_NAMES[c];
  }
  return out + '"';
}

function showMaybe(s: string | undefined): string {
  return s === undefined ? 'Nothing' : `Just ${showHaskellString(s)}`;
}

/** `show` of each ReqField. */
const FIELD_NAMES = ['ReqFieldName', 'ReqFieldIp', 'ReqFieldMNodePip'];

export function showQuery(q: Plj0Query): string {
  if (q.kind === 'empty') return 'EmptyQuery';
  if (q.kind === 'plain') return `PlainQuery ${showHaskellString(q.value)}`;
  const d: DictQuery = q.value;
  return (
    `DictQuery (ConfdReqQ {confdReqQIp = ${showMaybe(d.ip)}, ` +
    `confdReqQIpList = [${d.ipList.map(showHaskellString).join(',')}], ` +
    `confdReqQLink = ${showMaybe(d.link)}, ` +
    `confdReqQFields = [${d.fields.map((f) => FIELD_NAMES[f]).join(',')}]})`
  );
}

function invalidQuery(q: Plj0Query): GanetiAnswer {
  return failure(`Invalid query type ${showQuery(q)}`);
}

function prereqMessage(kind: string, name: string, why: string): string {
  return `${kind} name ${name} ${why}`;
}

/** `show` of OpPrereqError msg ECodeNoEnt. */
function showPrereq(msg: string): string {
  return `OpPrereqError ${showHaskellString(msg)} ECodeNoEnt`;
}

/** errToResult's formatting of an OpPrereqError. */
function formatPrereq(msg: string): string {
  return `Failure: prerequisites not met for this operation:\nerror type: ECodeNoEnt, error details:\n${msg}`;
}

// ---------------------------------------------------------------------------------------------

function getNode(v: GanetiView, name: string): Lookup<NodeRec> {
  return lookupByName(v.nodes, v.nodeNames, name);
}

function masterName(v: GanetiView): { ok: true; name: string; node: NodeRec } | { ok: false; msg: string } {
  const l = getNode(v, v.masterUuid);
  if (!l.ok) return { ok: false, msg: prereqMessage('Node', v.masterUuid, l.why) };
  const node = l.rec;
  return { ok: true, name: node.name, node };
}

function nodePipByInstanceIp(v: GanetiView, ix: InstanceIndex, link: string, ip: string): GanetiAnswer {
  const iname = ix.linkIps.get(link)?.get(ip);
  if (iname === undefined) return UNKNOWN_ENTRY;
  const inst = ix.instanceByExactName.get(iname);
  if (!inst || inst.primaryNode === undefined) return UNKNOWN_ENTRY;
  const l = getNode(v, inst.primaryNode);
  if (!l.ok) return UNKNOWN_ENTRY;
  return ok(l.rec.primaryIp, v.clusterSerial);
}

/** The answer to one request, as ganeti-confd 3.0 computes it. */
export function answerGanetiRequest(v: GanetiView, req: Plj0Request): GanetiAnswer {
  const q = req.query;
  const C = v.clusterSerial;
  switch (req.type) {
    case RequestType.Ping:
      return ok(v.version, 0);

    case RequestType.NodeRoleByName: {
      if (q.kind !== 'plain') return invalidQuery(q);
      const m = masterName(v);
      if (!m.ok) return failure(formatPrereq(m.msg));
      const l = getNode(v, q.value);
      if (!l.ok) return failure(formatPrereq(prereqMessage('Node', q.value, l.why)));
      const n = l.rec;
      const role = m.name === q.value ? NodeRole.Master : n.drained ? NodeRole.Drained : n.offline ? NodeRole.Offline : n.masterCandidate ? NodeRole.Candidate : NodeRole.Regular;
      return ok(role, C);
    }

    case RequestType.NodePipByInstanceIp: {
      if (q.kind !== 'dict') return ARGUMENT_ERROR;
      const link = q.value.link ?? v.defaultLink;
      const ix = v.inst.get();
      if (q.value.ip !== undefined) return nodePipByInstanceIp(v, ix, link, q.value.ip);
      return ok(
        q.value.ipList.map((ip) => {
          const a = nodePipByInstanceIp(v, ix, link, ip);
          return [a.status, a.answer, a.serial];
        }),
        C,
      );
    }

    case RequestType.ClusterMaster: {
      if (q.kind === 'plain') return ARGUMENT_ERROR;
      if (q.kind === 'empty') {
        const m = masterName(v);
        return m.ok ? ok(m.name, C) : failure(formatPrereq(m.msg));
      }
      const l = getNode(v, v.masterUuid);
      if (!l.ok) return failure(showPrereq(prereqMessage('Node', v.masterUuid, l.why)));
      const node = l.rec;
      return ok(q.value.fields.map((f) => (f === ReqField.Name ? node.name : f === ReqField.Ip ? v.masterIp : node.primaryIp)), C);
    }

    case RequestType.NodePipList:
      return ok(v.nodePrimaryIps, C);

    case RequestType.McPipList:
      return ok(v.mcPrimaryIps, C);

    case RequestType.InstancesIpsList: {
      if (q.kind === 'dict') return failure('Invalid query type');
      const link = q.kind === 'plain' ? q.value : v.defaultLink;
      return ok(v.inst.get().linkIpList.get(link) ?? [], C);
    }

    case RequestType.NodeDrbd: {
      if (q.kind !== 'plain') return invalidQuery(q);
      const l = getNode(v, q.value);
      if (!l.ok) return failure(showPrereq(prereqMessage('Node', q.value, l.why)));
      const node = l.rec;
      const out: unknown[] = [];
      for (const m of v.inst.get().drbdMinors.get(node.uuid) ?? []) {
        const p = getNode(v, m.peer);
        if (!p.ok) return failure(showPrereq(prereqMessage('Node', m.peer, p.why)));
        out.push([node.name, m.minor, m.instance, m.disk, m.role, p.rec.name]);
      }
      return ok(out, node.serial);
    }

    case RequestType.NodeInstances: {
      if (q.kind !== 'plain') return invalidQuery(q);
      const l = getNode(v, q.value);
      if (!l.ok) return failure(`Node not found in the configuration: ${showPrereq(prereqMessage('Node', q.value, l.why))}`);
      const node = l.rec;
      // [[primaries], [secondaries]] as instance slots (filled by the instance indexes): put
      // together from their kept texts.
      const ix = v.inst.get();
      return ok(new ComposedAnswer(ix.instanceJson, [node.primarySlots, node.secondarySlots]), node.serial);
    }

    case RequestType.InstanceDisks: {
      if (q.kind !== 'plain') return invalidQuery(q);
      const ix = v.inst.get();
      const l = lookupByName(ix.instances, ix.instanceNames, q.value);
      if (!l.ok) return failure(`Instance not found in the configuration: ${showPrereq(prereqMessage('Instance', q.value, l.why))}`);
      const inst = l.rec;
      const disks = inst.disks;
      if (!disks.ok) return failure(`Could not retrieve disks: ${showPrereq(`Disk uuid ${disks.missing} not found`)}`);
      return ok(new ComposedAnswer(ix.diskListJson, inst.index), inst.serial);
    }

    case RequestType.ConfigQuery: {
      if (q.kind !== 'plain') return invalidQuery(q);
      const tokens = parseGanetiPointer(q.value);
      if (!tokens) return ARGUMENT_ERROR;
      const r = resolveConfigPointer(v.doc, tokens);
      if (!r.ok && r.tooLarge) return failure(`the answer needs more than ${MAX_UDP_DATA_SIZE} bytes; the limit is ${MAX_UDP_DATA_SIZE}`);
      return r.ok ? ok(r.value, C) : ARGUMENT_ERROR;
    }

    case RequestType.DataCollectors:
      return ok(v.dataCollectors, C);

    default:
      return ARGUMENT_ERROR;
  }
}

/** §5: before any config has loaded, every request (ping included) gets this error. */
export function notLoadedAnswer(configPath: string, reason: string | undefined): GanetiAnswer {
  if (reason === undefined) return failure(`Cannot load configuration from ${configPath}: no valid configuration has been loaded yet`);
  return failure(`Cannot load configuration from ${configPath}: ${reason}`);
}
