// Shell completion scripts (bash, zsh, fish), made from the CLI's own definition: every command,
// subcommand and option that `agentvisor --help` lists is completed, and nothing else.
import type { Command, Option } from 'commander';

/** The options whose value is a file or folder: only these complete file names. */
const PATH_OPTIONS = new Set(['--file', '--out', '--worktree', '--kubeconfig', '--data-dir']);

interface Node {
  name: string;
  description: string;
  options: { flags: string[]; takesValue: boolean; isPath: boolean; choices?: readonly string[]; description: string }[];
  subcommands: Node[];
  /** its arguments include a file (run FILE, add RUN FILE, validate FILE) */
  takesFile: boolean;
  /** its first argument is a run id: completed from the run folders of AGENTVISOR_HOME */
  takesRun: boolean;
}

function nodeOf(cmd: Command): Node {
  const options = cmd.options.map((o: Option) => ({
    flags: [o.short, o.long].filter((f): f is string => !!f),
    takesValue: o.required || o.optional,
    isPath: !!o.long && PATH_OPTIONS.has(o.long),
    choices: o.argChoices,
    description: o.description,
  }));
  options.push({ flags: ['-h', '--help'], takesValue: false, isPath: false, choices: undefined, description: 'show help' });
  const args = cmd.registeredArguments.map((a) => a.name());
  return {
    name: cmd.name(),
    description: cmd.description(),
    options,
    subcommands: cmd.commands.filter((c) => c.name() !== 'help').map(nodeOf),
    takesFile: args.some((a) => a === 'file' || a === 'dir'),
    takesRun: args[0] === 'run' || args[0] === 'runs',
  };
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export function completionScript(program: Command, shell: Shell): string {
  const root = nodeOf(program);
  if (shell === 'bash') return bashScript(root);
  if (shell === 'zsh') return zshScript(root);
  return fishScript(root);
}

const words = (xs: string[]) => xs.join(' ');

/** The run ids of this machine, for bash and zsh: the folders of the data folder's runs/ (paths/data-folder.ts). */
const RUNS_SH = `RUNS_FN() {
  local dir="\${AGENTVISOR_HOME:-$HOME/.agentvisor}/runs"
  [[ -d "$dir" ]] && command ls -1 "$dir" 2>/dev/null
}`;

/** The lines that complete the words after `node` (its options, their values, its subcommands). */
function bashBody(node: Node, indent: string): string[] {
  const opts = words(node.options.flatMap((o) => o.flags));
  const subs = words(node.subcommands.map((s) => s.name));
  const pathOpts = node.options.filter((o) => o.isPath).flatMap((o) => o.flags);
  const valueOpts = node.options.filter((o) => o.takesValue && !o.isPath && !o.choices).flatMap((o) => o.flags);
  const choiceCases = node.options
    .filter((o) => o.choices)
    .map((o) => `  ${o.flags.join('|')}) COMPREPLY=($(compgen -W "${words([...o.choices!])}" -- "$cur")); return ;;`);
  return [
    `case "$prev" in`,
    ...choiceCases,
    ...(pathOpts.length ? [`  ${pathOpts.join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`] : []),
    ...(valueOpts.length ? [`  ${valueOpts.join('|')}) COMPREPLY=(); compopt +o default 2>/dev/null; return ;;`] : []),
    `esac`,
    `COMPREPLY=($(compgen -W "${opts} ${subs}" -- "$cur"))`,
    ...(node.takesRun ? [`[[ -z "$sub" && "$cur" != -* ]] && COMPREPLY+=($(compgen -W "$(_agentvisor_runs)" -- "$cur"))`] : []),
    ...(node.takesFile ? [`[[ "$cur" != -* ]] && COMPREPLY+=($(compgen -f -- "$cur"))`] : []),
  ].map((l) => indent + l);
}

function bashScript(root: Node): string {
  const cases = root.subcommands.map((c) => {
    const body = c.subcommands.length
      ? [
          `      case "$sub" in`,
          ...c.subcommands.flatMap((s) => [`        ${s.name})`, ...bashBody(s, '          '), `          ;;`]),
          `        *)`,
          ...bashBody(c, '          '),
          `          ;;`,
          `      esac`,
        ]
      : bashBody(c, '      ');
    return [`    ${c.name})`, ...body, `      ;;`].join('\n');
  });
  return `# agentvisor completion for bash: eval "$(agentvisor completion bash)" (e.g. in ~/.bashrc)
${RUNS_SH.replace('RUNS_FN', '_agentvisor_runs')}
_agentvisor() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmd="" sub="" i
  # the command and (for images) its subcommand: the first words that are not options
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      --color|--otel-endpoint) ((i++)) ;;
      -*) ;;
      *) if [[ -z "$cmd" ]]; then cmd="\${COMP_WORDS[i]}"; elif [[ -z "$sub" ]]; then sub="\${COMP_WORDS[i]}"; fi ;;
    esac
  done
  case "$cmd" in
    "")
${bashBody(root, '      ').join('\n')}
      ;;
${cases.join('\n')}
  esac
}
complete -o default -F _agentvisor agentvisor
`;
}

/** Text inside a zsh _arguments spec or _describe entry: brackets and colons escaped. */
const zshText = (s: string) =>
  s
    .replace(/\\/g, '\\\\')
    .replace(/'/g, "'\\''")
    .replace(/([[\]:])/g, '\\$1');

function zshScript(root: Node): string {
  const specOf = (o: Node['options'][number]) => {
    const value = o.takesValue
      ? `:${zshText(o.flags[o.flags.length - 1].replace(/^-+/, ''))}:${o.choices ? `(${o.choices.join(' ')})` : o.isPath ? '_files' : ' '}`
      : '';
    const names = o.flags.length > 1 ? `'(${o.flags.join(' ')})'{${o.flags.join(',')}}'` : `'${o.flags[0]}`;
    return `${names}[${zshText(o.description)}]${value}'`;
  };
  const argumentsOf = (n: Node) =>
    `_arguments -s ${n.options.map(specOf).join(' ')}${n.takesRun ? " '1:run:_agentvisor_run_ids'" : ''} ${n.takesFile ? "'*:file:_files'" : "'*::argument:'"}`;
  const cases = root.subcommands.map((c) => {
    if (!c.subcommands.length) return [`    ${c.name})`, `      ${argumentsOf(c)}`, `      ;;`].join('\n');
    const subs = c.subcommands.map((s) => `'${zshText(s.name)}:${zshText(s.description)}'`);
    return [
      `    ${c.name})`,
      `      local -a subs; subs=(${subs.join(' ')})`,
      `      (( CURRENT == 2 )) && { _describe 'subcommand' subs; return }`,
      `      case $words[2] in`,
      ...c.subcommands.map((sub) => `        ${sub.name}) shift words; (( CURRENT-- )); ${argumentsOf(sub)} ;;`),
      `        *) ${argumentsOf(c)} ;;`,
      `      esac`,
      `      ;;`,
    ].join('\n');
  });
  const commands = root.subcommands.map((c) => `'${zshText(c.name)}:${zshText(c.description)}'`);
  return `#compdef agentvisor
# agentvisor completion for zsh: agentvisor completion zsh > "\${fpath[1]}/_agentvisor" (or eval it after compinit)
${RUNS_SH.replace('RUNS_FN', '_agentvisor_runs')}
_agentvisor_run_ids() {
  local -a runs
  runs=(\${(f)"$(_agentvisor_runs)"})
  compadd -a runs
}
_agentvisor() {
  local -a commands
  commands=(${commands.join(' ')})
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  local cmd=$words[2]
  shift words
  (( CURRENT-- ))
  case $cmd in
${cases.join('\n')}
  esac
}
compdef _agentvisor agentvisor
`;
}

/** Text in single quotes for fish. */
const fishText = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fishScript(root: Node): string {
  const lines = [
    '# agentvisor completion for fish: agentvisor completion fish > ~/.config/fish/completions/agentvisor.fish',
    'function __agentvisor_runs',
    '  set -l home $AGENTVISOR_HOME',
    '  test -n "$home"; or set home $HOME/.agentvisor',
    '  test -d $home/runs; and command ls -1 $home/runs',
    'end',
    'complete -c agentvisor -f',
  ];
  for (const o of root.options) lines.push(fishOption('__fish_use_subcommand', o));
  for (const c of root.subcommands) {
    lines.push(`complete -c agentvisor -n __fish_use_subcommand -a ${c.name} -d ${fishText(c.description)}`);
    const seen = `'__fish_seen_subcommand_from ${c.name}'`;
    for (const o of c.options) lines.push(fishOption(seen, o));
    for (const s of c.subcommands) lines.push(`complete -c agentvisor -n ${seen} -a ${s.name} -d ${fishText(s.description)}`);
    if (c.takesRun) lines.push(`complete -c agentvisor -n ${seen} -a '(__agentvisor_runs)' -d run`);
    if (c.takesFile) lines.push(`complete -c agentvisor -n ${seen} -F`);
  }
  return lines.join('\n') + '\n';
}

function fishOption(condition: string, o: Node['options'][number]): string {
  const flags = o.flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)).join(' ');
  const value = o.takesValue ? (o.choices ? ` -x -a ${fishText(o.choices.join(' '))}` : o.isPath ? ' -r -F' : ' -x') : '';
  return `complete -c agentvisor -n ${condition} ${flags}${value} -d ${fishText(o.description)}`;
}
