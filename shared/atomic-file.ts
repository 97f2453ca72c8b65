// Replace a file so that readers see the old content or the new, never a mix, and the new
// content survives a crash once this returns: write a temporary file in the same directory,
// fsync it, rename it over, fsync the directory. A failure leaves no temporary file behind.
import { closeSync, fsyncSync, lstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * The file at `path`, if any, must be a regular file (or a link, replaced as a file): a rename
 * over a FIFO, a device or a socket would replace it, and a directory cannot be. Its mode is
 * kept. Throws an error naming what is there.
 */
function modeToKeep(path: string, mode: number): number {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return mode;
  }
  if (st.isFile()) return st.mode & 0o7777;
  if (st.isSymbolicLink()) return mode;
  const what = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device';
  throw new Error(`${path} is ${what}, not a file to replace`);
}

export function writeFileAtomic(path: string, content: string, mode = 0o644): void {
  mode = modeToKeep(path, mode);
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
