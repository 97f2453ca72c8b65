// No key is kept in the repository or shipped in the package: tests and benchmarks make theirs.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../testkit/paths.js';

const KEY_NAME = /(\.key|\.pem|\.pub|hmac\.key)$/;

describe('keys', () => {
  it('no file git tracks is a key', () => {
    const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n');
    expect(tracked.filter((f) => KEY_NAME.test(f))).toEqual([]);
  });

  it("the package's files name no key", () => {
    const files = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] }).files;
    expect(files.filter((f) => KEY_NAME.test(f))).toEqual([]);
  });
});
