// Help texts and the README's exit-code table, made from the commands' tables (spec.ts).
import type { CommandSpec, OptionDef } from './spec.js';

function optionLine(o: OptionDef): string {
  const left = `  ${o.short ? `-${o.short}, ` : ''}--${o.name}${o.arg ? ` ${o.arg}` : ''}`;
  const extra = [o.env ? `env ${o.env}` : '', o.default !== undefined ? `default ${o.default}` : o.defaultText ? `default ${o.defaultText}` : '', o.multiple ? 'may be repeated' : '']
    .filter((s) => s !== '')
    .join('; ');
  return `${left.padEnd(28)} ${o.doc}${extra ? ` [${extra}]` : ''}`;
}

export function commandHelp(spec: CommandSpec): string {
  const lines = [`Usage: ${spec.usage.map((u) => `qconf ${spec.name} ${u}`).join('\n       ')}`, '', spec.summary];
  const operands = spec.trailing ? [...spec.operands, spec.trailing] : spec.operands;
  if (operands.length > 0) {
    lines.push('', 'Operands:');
    for (const [name, doc] of operands) lines.push(`  ${name.padEnd(24)} ${doc}`);
  }
  lines.push('', 'Options:', ...spec.options.map(optionLine), '', 'Exit codes:');
  for (const e of spec.exits) lines.push(`  ${e.code}  ${e.when}`);
  lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
}

export function mainHelp(specs: readonly CommandSpec[]): string {
  const lines = ['Usage: qconf COMMAND [operands] [options]', '', 'Commands:'];
  for (const s of specs) lines.push(`  ${s.name.padEnd(8)} ${s.summary}`);
  lines.push(
    '',
    "Run 'qconf COMMAND --help' for a command's operands, options, defaults and exit codes.",
    'Exit codes: 0 success, 1 not found (wait: timed out), 2 usage, 3 no quorum, 4 other failure.',
    'Bash completion: completions/qconf in the package (README, "Run as a service").',
  );
  return lines.join('\n') + '\n';
}

/** The README's table of exit codes: each code and meaning once, with the commands it is theirs. */
export function exitCodeTable(specs: readonly CommandSpec[]): string {
  const rows = new Map<string, { code: number; when: string; commands: string[] }>();
  for (const s of specs) {
    for (const e of s.exits) {
      const key = `${e.code}\u0000${e.when}`;
      const row = rows.get(key) ?? { code: e.code, when: e.when, commands: [] };
      row.commands.push(`\`${s.name}\``);
      rows.set(key, row);
    }
  }
  const lines = ['| exit | commands | when |', '|---|---|---|'];
  for (const r of [...rows.values()].sort((a, b) => a.code - b.code)) lines.push(`| ${r.code} | ${r.commands.join(', ')} | ${r.when.replace(/\|/g, '\\|')} |`);
  return lines.join('\n') + '\n';
}
