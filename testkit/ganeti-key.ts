// A Ganeti-style hmac.key for tests and benchmarks (40 hex digits and the newline that is part of
// the key), made on first use in the checkout's .cache (ignored by git): no key is kept in the
// repository or shipped. Every process of one checkout uses the same file: it is linked into
// place at once, so a process never reads one half written or replaced.
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths.js';

const KEY_FILE = join(ROOT, '.cache', 'ganeti-example-hmac.key');

/** The path of the example Ganeti key, made if missing. */
export function ganetiExampleKey(): string {
  if (existsSync(KEY_FILE)) return KEY_FILE;
  mkdirSync(join(ROOT, '.cache'), { recursive: true });
  const tmp = `${KEY_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, randomBytes(20).toString('hex') + '\n', { mode: 0o600 });
  try {
    linkSync(tmp, KEY_FILE);
  } catch (e) {
    // Another process made it first: that one is the key.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
  return KEY_FILE;
}
