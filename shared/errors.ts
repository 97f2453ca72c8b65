// Typed error values shared by the daemon, the library and the CLI.

/** Error codes a daemon sends in a reply (protocol.md, "Reply body"). */
export const WIRE_ERROR_CODES = ['not_found', 'bad_argument', 'too_large', 'not_ready', 'busy', 'internal', 'retry', 'forbidden', 'seal_required'] as const;
/** An error code a daemon sends. */
export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

/** Local failures: files, flags, the network, quorum. */
export type LocalErrorCode =
  | 'usage'
  | 'key_file'
  | 'document'
  | 'peer'
  | 'timeout'
  | 'no_quorum'
  | 'closed'
  | 'protocol'
  | 'invalid_answer'
  /** The daemon's access file (--access-file) is invalid. */
  | 'access_file'
  /** The daemon's port cannot be bound (in use, or not allowed). */
  | 'bind';

/** Every error code: a daemon's or a local one. */
export type ErrorCode = WireErrorCode | LocalErrorCode;

/** Every error qconf throws: a code to branch on, and a message that says what to do. */
export class QconfError extends Error {
  /** What went wrong, to branch on. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QconfError';
    this.code = code;
  }
}

/** Whether `e` is a QconfError (of `code`, when given). */
export function isQconfError(e: unknown, code?: ErrorCode): e is QconfError {
  return e instanceof QconfError && (code === undefined || e.code === code);
}
