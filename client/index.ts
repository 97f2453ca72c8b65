// The client library's public surface.
export { ConfdClient, type ConfdClientOptions, type QueryOptions, type SendOptions } from './confd-client.js';
export { CountingCallback, FilterCallback, StoreResultCallback } from './callbacks.js';
export type { ExpireUpcall, Logger, PeerResult, QueryResult, Reply, ReplyUpcall, Request, Upcall, UpcallHandler } from './types.js';
export { Keyring, loadKeyring, makeKey, generateKeyText } from '../shared/keyring.js';
export { QconfError, type ErrorCode, type WireErrorCode } from '../shared/errors.js';
export { neededReplies } from './quorum-rule.js';
export { parsePointer, formatPointer, escapeSegment } from '../shared/json-pointer.js';
export { parsePeer, parsePeerList, DEFAULT_PORT, type Peer } from '../shared/peers.js';
export { etagOf, canonicalJson } from '../shared/canonical-json.js';
export type { WaitCondition, WaitOptions, WaitResult, WatchEvent } from './wait-for.js';
