// The README's TypeScript examples compile, as written, against the library's own types: each
// ```ts block is a module importing 'qconf', checked with the project's compiler in strict mode.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../testkit/fixtures.js';
import { ROOT } from '../../testkit/paths.js';

function tsBlocks(readme: string): Array<{ at: number; code: string }> {
  const out: Array<{ at: number; code: string }> = [];
  const lines = readme.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue;
    const at = i + 1;
    const code: string[] = [];
    for (i++; i < lines.length && lines[i].trim() !== '```'; i++) code.push(lines[i]);
    out.push({ at, code: code.join('\n') });
  }
  return out;
}

describe("the README's TypeScript examples", () => {
  const blocks = tsBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));

  it('are there: the agent (mirror, fromEnv, dispose) and the one-off reads (typed results, signal)', () => {
    const all = blocks.map((b) => b.code).join('\n');
    for (const used of ['client.mirror', 'fromEnv', 'await using', "case 'no_quorum'", 'signal:', 'mget', 'list', 'ping', 'stats', 'waitFor', 'watch', 'parse:']) expect(all).toContain(used);
  });

  it('compile with tsc --strict against the library', () => {
    const dir = tempDir('qconf-readme-ts-');
    writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
    const files = blocks.map((b) => {
      const f = join(dir, `readme-line-${b.at}.ts`);
      writeFileSync(f, `${b.code}\nexport {};\n`);
      return f;
    });
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'es2022',
          lib: ['esnext'],
          module: 'nodenext',
          moduleResolution: 'nodenext',
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules/@types')],
          skipLibCheck: true,
          paths: { qconf: [join(ROOT, 'client/index.ts')] },
        },
        files,
      }),
    );
    let out = '';
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', cwd: dir });
    } catch (e) {
      out = `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}` || String(e);
    }
    expect(out.replaceAll(dir + '/', ''), 'tsc found errors in the README examples (file names give the README line)').toBe('');
  });
});
