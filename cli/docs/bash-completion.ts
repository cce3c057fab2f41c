/** The bash completion of `upsfleet`, generated from the command table (cli/command-specs.ts). */
import { COMMAND_SPECS, type CommandSpec } from '../command-specs.js';

function optionWords(spec: CommandSpec): string {
  return spec.options.flatMap((o) => [`--${o.name}`, ...(o.short ? [`-${o.short}`] : [])]).join(' ');
}

/** The options whose value is a file or directory, as a case pattern (e.g. `-c|--config|--out`). */
function valuePattern(spec: CommandSpec, kind: 'file' | 'dir' | 'other'): string {
  return spec.options
    .filter((o) => o.arg !== undefined && (o.complete ?? 'other') === kind)
    .flatMap((o) => [`--${o.name}`, ...(o.short ? [`-${o.short}`] : [])])
    .join('|');
}

function commandCase(spec: CommandSpec): string {
  const lines = [`    ${spec.name})`];
  const files = valuePattern(spec, 'file');
  const dirs = valuePattern(spec, 'dir');
  const other = valuePattern(spec, 'other');
  lines.push('      case "$prev" in');
  if (files) lines.push(`        ${files}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`);
  if (dirs) lines.push(`        ${dirs}) COMPREPLY=($(compgen -d -- "$cur")); return ;;`);
  if (other) lines.push(`        ${other}) return ;;`);
  lines.push('      esac');
  lines.push(
    `      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${optionWords(spec)}" -- "$cur")); return; fi`,
  );
  if (spec.subcommands)
    lines.push(
      `      if [[ $cword -eq 2 ]]; then COMPREPLY=($(compgen -W "${spec.subcommands.join(' ')}" -- "$cur")); return; fi`,
    );
  if (spec.fileArgs) lines.push('      COMPREPLY=($(compgen -f -- "$cur"))');
  lines.push('      ;;');
  return lines.join('\n');
}

export function bashCompletion(): string {
  return `# bash completion for upsfleet (generated from cli/command-specs.ts: upsfleet completion bash)
_upsfleet() {
  local cur prev cword
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cword=$COMP_CWORD
  COMPREPLY=()
  if [[ $cword -eq 1 ]]; then
    COMPREPLY=($(compgen -W "${COMMAND_SPECS.map((c) => c.name).join(' ')} --help --version" -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${COMMAND_SPECS.map(commandCase).join('\n')}
  esac
}
complete -F _upsfleet upsfleet
`;
}
