// --trust-key and --state-file: the command line's side of verified answers. With trusted keys a
// command accepts only answers proven against a document one of them signed; a state file keeps
// the newest signed serial accepted, so that no later run accepts an older document as newest.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { loadTrustKeys, type TrustKeys } from '../../shared/signing.js';
import type { ConfdClient } from '../confd-client.js';
import { CliExit, stringOf, usageError, type Parsed } from './args.js';
import { EXIT, type Io } from './common.js';

export interface Trust {
  trustKeys?: TrustKeys;
  newestSerial?: number;
  /** Remember what the client accepted (with --state-file; a no-op otherwise). */
  save(client: ConfdClient): void;
}

const NO_TRUST: Trust = { save: () => undefined };

/** A state file holds one serial: more than this is not one. */
const STATE_MAX_BYTES = 4096;

function readState(path: string): number {
  let text: string;
  let fd: number | undefined;
  try {
    // Non-blocking, and checked before reading: a FIFO or a device named here must not hang the
    // command or fill its memory.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CliExit(EXIT.FAILURE, `--state-file ${path}: not a regular file`);
    if (st.size > STATE_MAX_BYTES) throw new CliExit(EXIT.FAILURE, `--state-file ${path}: holds no serial (${st.size} bytes; one whole number is expected); remove it to start afresh`);
    const buf = Buffer.alloc(STATE_MAX_BYTES + 1);
    text = buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0));
  } catch (e) {
    if (e instanceof CliExit) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new CliExit(EXIT.FAILURE, `--state-file ${path}: cannot be read (${(e as NodeJS.ErrnoException).code})`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const m = /^\s*([0-9]{1,16})\s*$/.exec(text);
  if (!m || !Number.isSafeInteger(Number(m[1]))) throw new CliExit(EXIT.FAILURE, `--state-file ${path}: holds no serial (one whole number up to 2^53 - 1 is expected); remove it to start afresh`);
  return Number(m[1]);
}

/** The trusted keys and remembered serial from --trust-key and --state-file. */
export function trustFrom(p: Parsed, io: Io): Trust {
  const keyFile = stringOf(p, 'trust-key');
  const stateFile = stringOf(p, 'state-file');
  if (keyFile === undefined) {
    if (stateFile !== undefined) throw usageError('--state-file needs --trust-key: only signed serials are worth remembering');
    return NO_TRUST;
  }
  let trustKeys: TrustKeys;
  try {
    trustKeys = loadTrustKeys(keyFile);
  } catch (e) {
    throw new CliExit(EXIT.FAILURE, (e as Error).message);
  }
  if (stateFile === undefined) return { trustKeys, save: () => undefined };
  const remembered = readState(stateFile);
  return {
    trustKeys,
    newestSerial: remembered,
    save: (client) => {
      const newest = client.newestSerial;
      if (newest <= remembered) return;
      // Another run may have written a newer one meanwhile: keep the larger.
      const now = Math.max(newest, readState(stateFile));
      try {
        writeFileAtomic(stateFile, `${now}\n`);
      } catch (e) {
        io.err(`qconf: warning: --state-file ${stateFile}: not written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})\n`);
      }
    },
  };
}
