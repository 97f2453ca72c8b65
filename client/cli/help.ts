// Help texts and the README's exit-code table, made from the commands' tables (spec.ts).
import type { CommandSpec, OptionDef } from './spec.js';

function optionLine(o: OptionDef): string {
  const left = `  ${o.short ? `-${o.short}, ` : ''}--${o.name}${o.arg ? ` ${o.arg}` : ''}`;
  const extra = [o.env ? `env ${o.env}` : '', o.default !== undefined ? `default ${o.default}` : o.defaultText ? `default ${o.defaultText}` : '', o.multiple ? 'may be repeated' : '']
    .filter((s) => s !== '')
    .join('; ');
  return `${left.padEnd(26)} ${o.doc}${extra ? ` [${extra}]` : ''}`;
}

export function commandHelp(spec: CommandSpec): string {
  const lines = [`Usage: ${spec.usage.map((u) => `qconf ${spec.name} ${u}`).join('\n       ')}`, '', spec.summary];
  if (spec.operands.length > 0) {
    lines.push('', 'Operands:');
    for (const [name, doc] of spec.operands) lines.push(`  ${name.padEnd(24)} ${doc}`);
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

/** The README's table of exit codes: one row per command and code. */
export function exitCodeTable(specs: readonly CommandSpec[]): string {
  const rows = ['| command | exit | when |', '|---|---|---|'];
  for (const s of specs) for (const e of s.exits) rows.push(`| \`${s.name}\` | ${e.code} | ${e.when.replace(/\|/g, '\\|')} |`);
  return rows.join('\n') + '\n';
}
