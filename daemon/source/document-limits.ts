// The limits a document must keep to be served, and the error that names the one it broke: it
// is a regular file (not a FIFO, a device or a directory), at most --max-document-bytes long, and
// nested at most MAX_DOCUMENT_DEPTH deep. A refusal carries its reason code, which the daemon
// logs and counts; the last good document keeps serving.
import { constants as bufferConstants } from 'node:buffer';
import { QconfError } from '../../shared/errors.js';
import { depthBeyondBytes, JsonDepthError } from '../../shared/json-depth.js';

/**
 * Objects and arrays nested deeper than this are refused (the top-level object is depth 1).
 * JSON.parse takes a million levels, but the daemon walks documents recursively (etags over
 * canonical JSON, MessagePack, listing, the Ganeti serializer): this keeps those walks far from
 * the end of the stack. Real configurations nest a dozen levels.
 */
export const MAX_DOCUMENT_DEPTH = 512;

/** --max-document-bytes when not given: 1 GiB. */
export const DEFAULT_MAX_DOCUMENT_BYTES = 1024 * 1024 * 1024;

/** The largest --max-document-bytes: up to one byte more than the limit is read, into one Buffer. */
export const MAX_DOCUMENT_BYTES_LIMIT = bufferConstants.MAX_LENGTH - 1;

export type DocumentLimitReason = 'not_regular_file' | 'too_large' | 'too_deep';

export class DocumentLimitError extends QconfError {
  constructor(
    readonly reason: DocumentLimitReason,
    message: string,
  ) {
    super('document', message);
    this.name = 'DocumentLimitError';
  }
}

/** The refusal of a document (named `what`) that nests too deeply. */
export function tooDeep(what: string, e: JsonDepthError): DocumentLimitError {
  return new DocumentLimitError('too_deep', `${what}: ${e.message}`);
}

/** Throws JsonDepthError when the JSON text in `bytes` nests deeper than MAX_DOCUMENT_DEPTH. */
export function checkDepth(bytes: Uint8Array, max = MAX_DOCUMENT_DEPTH): void {
  const at = depthBeyondBytes(bytes, max);
  if (at >= 0) throw new JsonDepthError(at, max);
}
