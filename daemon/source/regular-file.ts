// Reading a file the daemon serves (the document, the etcd replica's copy on disk) without ever
// blocking and with bounded memory: opened non-blocking (a FIFO's open returns at once instead
// of waiting for a writer), checked on the open descriptor to be a regular file (not a FIFO, a
// device such as /dev/zero, a directory), refused when larger than a limit, and read on the
// thread pool, never more than limit + 1 bytes even while the file grows.
import { constants as fsConstants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { QconfError } from '../../shared/errors.js';
import { DocumentLimitError } from './document-limits.js';

const OPEN_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY;

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a plain file';
}

function notRegular(path: string, st: Stats): DocumentLimitError {
  return new DocumentLimitError('not_regular_file', `${path}: not a regular file (${kindOf(st)})`);
}

function tooLarge(path: string, maxBytes: number): DocumentLimitError {
  return new DocumentLimitError('too_large', `${path}: larger than ${maxBytes} bytes (--max-document-bytes)`);
}

/**
 * The bytes of the regular file at `path` (symlinks followed), at most `maxBytes` of them.
 * Throws DocumentLimitError (not_regular_file, too_large) or QconfError('document') naming the
 * path: "does not exist", or "unreadable (CODE)".
 */
export async function readRegularFile(path: string, maxBytes: number): Promise<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new QconfError('document', `${path}: does not exist`);
    // A socket (ENXIO) or another special file that cannot even be opened: say what it is.
    const st = await stat(path).catch(() => undefined);
    if (st !== undefined && !st.isFile()) throw notRegular(path, st);
    throw new QconfError('document', `${path}: unreadable (${code})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw notRegular(path, st);
    if (st.size > maxBytes) throw tooLarge(path, maxBytes);
    return await readBounded(fh, path, st.size, maxBytes);
  } catch (e) {
    if (e instanceof QconfError) throw e;
    throw new QconfError('document', `${path}: unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Read to the end, into one buffer of size + 1 bytes (grown if the file grows), never past maxBytes + 1. */
async function readBounded(fh: FileHandle, path: string, size: number, maxBytes: number): Promise<Buffer> {
  let buf = Buffer.allocUnsafe(Math.min(size, maxBytes) + 1);
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      // Full: the file grew while it was read.
      if (n > maxBytes) throw tooLarge(path, maxBytes);
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, maxBytes + 1));
      buf.copy(bigger, 0, 0, n);
      buf = bigger;
    }
    const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  if (n > maxBytes) throw tooLarge(path, maxBytes);
  return buf.subarray(0, n);
}
