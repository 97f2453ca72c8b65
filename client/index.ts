// The client library's public surface: the client, its results and errors, and the pieces a
// caller needs to configure it (keyrings, peers, pointers, etags).
export { ConfdClient, type ConfdClientOptions, type QueryOptions, type SendOptions } from './confd-client.js';
export { CountingCallback, FilterCallback, StoreResultCallback } from './callbacks.js';
export type {
  ErrorResult,
  ExpireUpcall,
  Logger,
  MgetEntry,
  NoQuorumResult,
  NotFoundResult,
  OkResult,
  PeerResult,
  PingAnswer,
  QueryResult,
  Reply,
  ReplyUpcall,
  Request,
  ResultBase,
  ResultError,
  Upcall,
  UpcallHandler,
} from './types.js';
export { Keyring, loadKeyring, makeKey, generateKeyText, type Key } from '../shared/keyring.js';
export { TrustKeys, loadTrustKeys, type PublicKey } from '../shared/signing.js';
export { QconfError, isQconfError, WIRE_ERROR_CODES, type ErrorCode, type LocalErrorCode, type WireErrorCode } from '../shared/errors.js';
export { neededReplies } from './quorum-rule.js';
export { parsePointer, formatPointer, escapeSegment, type PointerParse } from '../shared/json-pointer.js';
export { parsePeer, parsePeerList, DEFAULT_PORT, type Peer } from '../shared/peers.js';
export { etagOf, canonicalJson } from '../shared/canonical-json.js';
export { QUERY_CHANNEL, type QueryTrace } from './tracing.js';
export type { ChangeEvent, StatusEvent, WaitCondition, WaitOptions, WaitResult, WatchEvent, WatchOptions } from './wait-for.js';
export type { Mirror, MirrorChange, MirrorEvent, MirrorOptions, MirrorStatus } from './mirror.js';
