// qconf's help says what the commands do: each help is made from the command's table, the
// parser takes exactly the options the help lists, with the defaults and variables it names,
// and the real CLI behaves by those defaults (a wait's timeout, a query's timeout and port, a
// listing's depth).
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs, type Parsed } from '../../client/cli/args.js';
import { allSpecs } from '../../client/cli/commands.js';
import { commandHelp } from '../../client/cli/help.js';
import type { CommandSpec } from '../../client/cli/spec.js';
import { decodeBody } from '../../shared/qcf1.js';
import { TestDaemon, runCli } from '../../testkit/daemons.js';
import { CLI_JS } from '../../testkit/paths.js';
import { sampleDoc } from '../support/sample-doc.js';
import { spawnTracked, stopProcess } from '../../testkit/processes.js';

let specs: CommandSpec[] = [];
let d: TestDaemon;

beforeAll(async () => {
  specs = await allSpecs();
  d = await new TestDaemon({ doc: sampleDoc(3) }).start();
});

afterAll(async () => {
  await d.stop('SIGKILL');
});

/** An option's default as the command's help prints it. */
function helpDefault(help: string, option: string): string | undefined {
  const line = help.split('\n').find((l) => l.trimStart().startsWith(`--${option} `) || l.trimStart() === `--${option}`);
  return line === undefined ? undefined : /[[;] ?default ([^;\]]+)[;\]]/.exec(line)?.[1];
}

function parse(spec: CommandSpec, args: string[], env: NodeJS.ProcessEnv = {}): Parsed {
  return parseArgs([...args, ...Array(spec.positionals[0]).fill('/x')], spec, env);
}

describe('help made from the tables', () => {
  it("every command's --help is its table's help, listing usage, operands, options with defaults, and exit codes", async () => {
    expect(specs.map((s) => s.name)).toEqual(['get', 'mget', 'list', 'ping', 'stats', 'keygen', 'key-id', 'wait', 'watch', 'publish', 'sign', 'ganeti']);
    for (const spec of specs) {
      const r = await runCli([spec.name, '--help']);
      expect(r.code, spec.name).toBe(0);
      expect(r.stdout).toBe(commandHelp(spec));
      for (const section of ['Usage: ', 'Options:', 'Exit codes:', 'Examples:']) expect(r.stdout, `${spec.name}: ${section}`).toContain(section);
      for (const e of spec.exits) expect(r.stdout).toContain(`  ${e.code}  ${e.when}`);
    }
  });

  it('the parser takes every option the help lists and no other, with the documented defaults and variables', () => {
    for (const spec of specs) {
      const help = commandHelp(spec);
      const listed = [...help.matchAll(/^ {2}(?:-\w, )?--([a-z][a-z-]*)/gm)].map((m) => m[1]);
      expect(listed.sort(), spec.name).toEqual(spec.options.map((o) => o.name).sort());
      for (const o of spec.options) {
        if (o.name === 'help') continue;
        const args = o.arg ? [`--${o.name}`, '7'] : [`--${o.name}`];
        expect(() => parse(spec, args), `${spec.name} --${o.name}`).not.toThrow(/unknown option/);
        const none = parse(spec, []);
        // The help's default is the value used when nothing else gives one.
        expect(none.values[o.name], `${spec.name} --${o.name} default`).toEqual(o.default === undefined ? undefined : o.multiple ? [o.default] : o.default);
        expect(helpDefault(help, o.name), `${spec.name} --${o.name} in help`).toBe(o.default ?? o.defaultText);
        if (o.env) {
          expect(help).toContain(`env ${o.env}`);
          expect(parse(spec, [], { [o.env]: '9' }).values[o.name], `${spec.name} ${o.env}`).toEqual(o.multiple ? ['9'] : '9');
          if (o.arg) expect(parse(spec, [`--${o.name}`, '8'], { [o.env]: '9' }).values[o.name]).toEqual(o.multiple ? ['8'] : '8');
        }
      }
      expect(() => parse(spec, ['--no-such-option'])).toThrow(/unknown option --no-such-option/);
    }
  });
});

describe('the CLI behaves by the defaults its help documents', () => {
  const spec = (name: string) => specs.find((s) => s.name === name) as CommandSpec;

  it("wait: the documented default timeout is the one used (it bounds the first wait's hold)", async () => {
    const documented = Number(helpDefault(commandHelp(spec('wait')), 'timeout'));
    expect(documented).toBe(60_000);
    // A silent "daemon" that records what it is sent.
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const seen: Array<Record<string, unknown>> = [];
    let cli: ChildProcess | undefined;
    sock.on('message', (m) => {
      const body = decodeBody(m);
      if (body) seen.push(body);
    });
    try {
      cli = spawnTracked(process.execPath, [CLI_JS, 'wait', '--serial', '9', '--peers', `127.0.0.1:${sock.address().port}`, '--key-file', d.keyFile], {
        env: { ...process.env, QCONF_TIMEOUT: '', QCONF_PEERS: '', QCONF_KEY_FILE: '' },
      });
      const deadline = Date.now() + 30_000;
      while (!seen.some((b) => b.op === 'wait') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      const wait = seen.find((b) => b.op === 'wait');
      // The library holds a wait at most 25 s, and ends it 500 ms before the command's deadline.
      expect(wait?.timeoutMs).toBe(Math.min(25_000, documented - 500));
      const short = await runCli(['wait', '--serial', '9', '--peers', `127.0.0.1:${sock.address().port}`, '--key-file', d.keyFile, '--timeout', '2000']);
      expect(short.code).toBe(4);
      // With --timeout 2000, the hold ends before the 2 s deadline.
      expect(seen.filter((b) => b.op === 'wait').some((b) => (b.timeoutMs as number) > 1000 && (b.timeoutMs as number) <= 1500)).toBe(true);
    } finally {
      sock.close();
      if (cli) await stopProcess(cli, 'SIGKILL');
    }
  });

  it('get: the documented timeout and port', async () => {
    const help = commandHelp(spec('get'));
    const timeout = Number(helpDefault(help, 'timeout'));
    const port = helpDefault(help, 'port');
    const t0 = Date.now();
    const r = await runCli(['get', '/x', '--peers', '127.0.0.1', '--key-file', d.keyFile, '--json'], { QCONF_TIMEOUT: '', QCONF_PORT: '' });
    const elapsed = Date.now() - t0;
    expect(r.code).toBe(4);
    // Asked at the documented port, for the documented time (a generous bound above).
    expect(JSON.parse(r.stdout).error.message).toContain(`no answer from 127.0.0.1:${port}`);
    expect(elapsed).toBeGreaterThanOrEqual(timeout - 100);
    expect(elapsed).toBeLessThan(timeout + 25_000);
  });

  it('list: the documented depth', async () => {
    expect(helpDefault(commandHelp(spec('list')), 'depth')).toBe('1');
    const r = await runCli(['list', '/', '--peers', d.peer, '--key-file', d.keyFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((k) => k.includes('/'))).toEqual([]);
    expect(r.stdout).toContain('cluster\n');
  });
});
