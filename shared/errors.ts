// Typed error values shared by the daemon, the library and the CLI.

/** Error codes a daemon sends in a reply (protocol.md, "Reply body"). */
export const WIRE_ERROR_CODES = ['not_found', 'bad_argument', 'too_large', 'not_ready', 'busy', 'internal', 'retry'] as const;
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
  | 'protocol';

export type ErrorCode = WireErrorCode | LocalErrorCode;

export class QconfError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'QconfError';
    this.code = code;
  }
}
