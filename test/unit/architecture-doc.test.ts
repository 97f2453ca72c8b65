// docs/architecture.md kept true to the code: every path it names exists, every function, class,
// method and constant it names is defined (a method in its class), every source folder is
// described, and the README's layout section names only folders and files that exist. A rename
// without the doc's update fails here. Also the convention the doc relies on: every module of
// the folders it describes opens with a comment saying its job.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../testkit/paths.js';

const DOC = 'docs/architecture.md';
/** Where the names the doc uses are defined: the product, the testkit, the benchmarks. */
const DEFINING_DIRS = ['daemon', 'client', 'shared', 'testkit', 'bench', 'examples', 'scripts', 'test/support'];
/** Folders whose every subfolder of TypeScript sources the doc must describe. */
const DESCRIBED_DIRS = ['daemon', 'client', 'shared', 'testkit', 'bench', 'test'];
/** Folders whose every module must open with a comment. */
const HEADED_DIRS = ['daemon', 'client', 'shared', 'testkit', 'bench'];

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = `${dir}/${name}`;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...tsFiles(rel));
    else if (name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

const SOURCES = new Map(DEFINING_DIRS.flatMap(tsFiles).map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));

/** The doc split into prose and fenced blocks. */
function parts(text: string): { prose: string; fenced: string } {
  const prose: string[] = [];
  const fenced: string[] = [];
  let inFence = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    else (inFence ? fenced : prose).push(line);
  }
  return { prose: prose.join('\n'), fenced: fenced.join('\n') };
}

/** The contents of every `code span` in prose. */
function codeSpans(prose: string): string[] {
  return [...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
}

const PATH = /^[\w.-]+(?:\/[\w.-]+)*(?:\/|\.(?:ts|md|json|sh|py|svg|service))$/;
const FENCED_PATH = /(?<![\w./-])[\w-]+(?:\/[\w.-]+)+\.(?:ts|md|json)\b/g;
const CALL = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)?\(\)$/;
const FENCED_CALL = /(?<![\w$.])[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)?\(\)/g;
/** A class, interface or type (PascalCase with a lower-case letter), or a member of one. */
const TYPE_NAME = /^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*(?:\.[A-Za-z_$][\w$]*)?$/;
const CONSTANT = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;

/** The index of the parenthesis closing the one at `open`, or -1. */
function closingParen(src: string, open: number): number {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === '(') depth++;
    else if (src[i] === ')' && --depth === 0) return i;
  }
  return -1;
}

/**
 * Whether `src` defines `name`: a declaration (function, class, interface, type, enum, const,
 * let), or a member (a method with a body or a signature, a property, a getter). A call standing
 * as a statement (`name(x);`) is not a definition.
 */
function defines(src: string, name: string): boolean {
  if (new RegExp(`\\b(?:function\\s*\\*?|class|interface|type|enum|const|let|var)\\s+${name}\\b`).test(src)) return true;
  const member = new RegExp(
    `^[ \\t]*(?:(?:export|public|private|protected|static|readonly|async|override|declare|abstract|get|set)\\s+)*\\*?\\s*${name}\\s*(?:<[^>\\n]*>)?\\s*([(=:?!])`,
    'gm',
  );
  for (const m of src.matchAll(member)) {
    if (m[1] !== '(') return true;
    const close = closingParen(src, (m.index ?? 0) + m[0].length - 1);
    if (close >= 0 && /^\s*[:{]/.test(src.slice(close + 1, close + 40))) return true;
  }
  return false;
}

/** The body of class or interface `owner` in `src` (up to its closing brace at column 0). */
function bodyOf(src: string, owner: string): string | undefined {
  const m = new RegExp(`^(?:export\\s+)?(?:abstract\\s+)?(?:class|interface)\\s+${owner}\\b`, 'm').exec(src);
  if (!m) return undefined;
  const end = src.indexOf('\n}', m.index);
  return src.slice(m.index, end < 0 ? undefined : end);
}

/** Why `ref` (`name`, `name()`, `Owner.member`, `Owner.member()`) names nothing in the sources, or undefined. */
function unresolved(ref: string): string | undefined {
  const [owner, member] = ref.replace(/\(\)$/, '').split('.');
  if (member === undefined) {
    for (const src of SOURCES.values()) if (defines(src, owner)) return undefined;
    return `${ref}: not defined in ${DEFINING_DIRS.join(', ')}`;
  }
  if (!/^[A-Z]/.test(owner)) {
    for (const src of SOURCES.values()) if (defines(src, member)) return undefined;
    return `${ref}: ${member} is not defined anywhere`;
  }
  const bodies = [...SOURCES.values()].map((src) => bodyOf(src, owner)).filter((b) => b !== undefined);
  if (bodies.length === 0) return `${ref}: no class or interface ${owner}`;
  if (bodies.some((b) => defines(b, member))) return undefined;
  return `${ref}: ${owner} has no member ${member}`;
}

/** The paths a text names that do not exist (relative to the checkout). */
function missingPaths(paths: Iterable<string>): string[] {
  return [...new Set(paths)].filter((p) => !existsSync(join(ROOT, p)));
}

/** The names a doc refers to as code: calls anywhere, and type names and constants in code spans. */
function codeRefs(text: string): string[] {
  const { prose, fenced } = parts(text);
  const refs = codeSpans(prose).filter((s) => CALL.test(s) || TYPE_NAME.test(s) || CONSTANT.test(s));
  refs.push(...[...fenced.matchAll(FENCED_CALL)].map((m) => m[0]));
  return [...new Set(refs)];
}

/** The paths a doc names: in code spans, in fenced blocks (source files), and its relative links. */
function pathRefs(text: string, docPath: string): string[] {
  const { prose, fenced } = parts(text);
  const spans = codeSpans(prose).filter((s) => s.includes('/') && PATH.test(s));
  const inFences = [...fenced.matchAll(FENCED_PATH)].map((m) => m[0]);
  const links = [...prose.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
    .map((m) => m[1])
    .filter((l) => !/^[a-z]+:/.test(l))
    .map((l) => relative(ROOT, resolve(ROOT, dirname(docPath), l)));
  return [...spans, ...inFences, ...links];
}

const doc = readFileSync(join(ROOT, DOC), 'utf8');

describe('docs/architecture.md', () => {
  it('names only files and folders that exist', () => {
    const paths = pathRefs(doc, DOC);
    expect(paths.length).toBeGreaterThan(50);
    expect(missingPaths(paths)).toEqual([]);
  });

  it('names only functions, classes, methods and constants that are defined', () => {
    const refs = codeRefs(doc);
    expect(refs.length).toBeGreaterThan(50);
    expect(refs.map(unresolved).filter((why) => why !== undefined)).toEqual([]);
  });

  it('describes every folder of sources', () => {
    const folders = new Set(DESCRIBED_DIRS.flatMap(tsFiles).map((f) => dirname(f)));
    const spans = new Set(codeSpans(parts(doc).prose));
    expect([...folders].filter((d) => !spans.has(`${d}/`)).sort()).toEqual([]);
  });

  it('is checked by a check that can fail', () => {
    expect(unresolved('Qcf1Service.handle()')).toBeUndefined();
    expect(unresolved('Qcf1Service.noSuchMethod()')).toMatch(/no member/);
    expect(unresolved('ReplyTable.offer()')).toMatch(/no member/);
    expect(unresolved('noSuchFunction()')).toMatch(/not defined/);
    expect(missingPaths(['daemon/qcf1/no-such-file.ts'])).toHaveLength(1);
    // A call standing as a statement is not a definition.
    expect(defines('function f() {\n  g(1);\n}\n', 'g')).toBe(false);
    expect(defines('class A {\n  g(x: number): void {\n  }\n}\n', 'g')).toBe(true);
  });
});

describe("README's layout section", () => {
  it('names only files and folders that exist', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf('\n### Layout');
    expect(at, 'README.md has a "### Layout" section').toBeGreaterThan(0);
    const next = readme.slice(at + 1).search(/\n#{1,3} /);
    const section = readme.slice(at, next < 0 ? undefined : at + 1 + next);
    const paths = pathRefs(section, 'README.md');
    expect(paths).toContain('docs/architecture.md');
    expect(missingPaths(paths)).toEqual([]);
  });
});

describe('modules', () => {
  it('open with a comment saying their job', () => {
    const bare = HEADED_DIRS.flatMap(tsFiles).filter((f) => {
      const lines = readFileSync(join(ROOT, f), 'utf8').split('\n');
      const first = lines[0].startsWith('#!') ? lines[1] : lines[0];
      return !/^\s*(\/\/|\/\*)/.test(first ?? '');
    });
    expect(bare).toEqual([]);
  });
});
