// `npm run docs`: the API reference is generated from the library's entry point, and the run fails
// on any export (or member of one) without a doc comment, so the reference cannot rot.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../testkit/fixtures.js';
import { ROOT } from '../../testkit/paths.js';
import { runCommand } from './helpers.js';

const NPM = join(process.execPath, '..', 'npm');

describe('npm run docs', () => {
  it('writes the API reference with no warning: every export is documented', async () => {
    const out = tempDir('qconf-docs-');
    const r = await runCommand(existsSync(NPM) ? NPM : 'npm', ['run', 'docs', '--', '--out', out], {}, 180_000, ROOT);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/\[warning\]|\[error\]/);
    const client = readFileSync(join(out, 'classes', 'ConfdClient.html'), 'utf8');
    for (const member of ['fromEnv', 'mirror', 'waitFor', 'watch', 'close']) expect(client, member).toContain(`>${member}<`);
    // Internal plumbing stays out of the reference.
    expect(client).not.toContain('>fanOut<');
    for (const page of ['interfaces/OkResult.html', 'classes/Keyring.html', 'interfaces/Mirror.html', 'types/QueryResult.html']) {
      expect(existsSync(join(out, page)), page).toBe(true);
    }
  }, 240_000);
});
