/**
 * `upsfleet token add ID --group G [--role admin] [-c master.yaml]`: a per-agent (or admin) token, shown
 * once and stored only as its hash in the master's tokens file; `token list`, `token revoke ID`.
 * `token new|hash` still print a token and the hash for the config's `agents:`/`admins:` lists.
 */
import { parseArgs } from 'node:util';
import { addToken, type Role, readTokens, revokeToken } from '../../master/auth/token-store.js';
import { generateToken, hashToken } from '../../shared/auth/token.js';
import { loadMasterSettings } from '../../shared/config/master-settings.js';
import { type CommandHandler, type CommandIo, ExitCodes } from './command.js';

const USAGE = `usage: upsfleet token add ID --group GROUP [--role agent|admin] [-c master.yaml]
       upsfleet token list [-c master.yaml]
       upsfleet token revoke ID [-c master.yaml]
       upsfleet token new | upsfleet token hash TOKEN
`;

function manage(sub: string, rest: string[], io: CommandIo): number {
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      group: { type: 'string', short: 'g' },
      role: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const settings = loadMasterSettings(values.config ?? '/etc/upsfleet/master.yaml');
  const file = settings.tokensFile;
  if (sub === 'list' && positionals.length === 0) {
    const tokens = readTokens(file);
    const rows = [
      ['ID', 'ROLE', 'GROUP', 'CREATED'],
      ...tokens.map((t) => [t.id, t.role, t.group ?? '-', t.created]),
    ];
    for (const a of settings.agents) rows.push([a.id, 'agent', a.group, '(config agents:)']);
    for (const a of settings.admins) rows.push([a.name, 'admin', '-', '(config admins:)']);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    io.stdout(
      `${rows
        .map((r) =>
          r
            .map((c, i) => c.padEnd(widths[i]!))
            .join('  ')
            .trimEnd(),
        )
        .join('\n')}\n`,
    );
    return ExitCodes.OK;
  }
  const [id] = positionals;
  if (!id || positionals.length !== 1) {
    io.stderr(USAGE);
    return ExitCodes.USAGE;
  }
  if (sub === 'revoke') {
    revokeToken(file, id);
    io.stdout(`revoked ${id}; a running master drops its connection within seconds\n`);
    return ExitCodes.OK;
  }
  const role = (values.role ?? 'agent') as Role;
  if (role !== 'agent' && role !== 'admin') {
    io.stderr(`upsfleet token add: --role must be agent or admin\n`);
    return ExitCodes.USAGE;
  }
  const token = addToken(file, id, role, values.group);
  io.stdout(`token: ${token}\n`);
  io.stdout(
    role === 'agent'
      ? `This is shown once. Put it in ${id}'s agent config (agent.token, or agent.tokenFile with mode 0600); it grants group "${values.group}".\n`
      : 'This is shown once. Use it as the Bearer token of the admin API (UPSFLEET_ADMIN_TOKEN for the CLI).\n',
  );
  io.stdout(`stored as ${hashToken(token).slice(0, 19)}... in ${file}\n`);
  return ExitCodes.OK;
}

export const tokenCommand: CommandHandler = async (argv, io) => {
  const [sub, arg] = argv;
  if (sub === 'add' || sub === 'list' || sub === 'revoke') return manage(sub, argv.slice(1), io);
  if (sub === 'new') {
    const token = generateToken();
    io.stdout(`token:     ${token}\ntokenHash: ${hashToken(token)}\n`);
    io.stdout(
      'Put the token in the agent config (or its tokenFile) and the tokenHash in the master config.\n',
    );
    return ExitCodes.OK;
  }
  if (sub === 'hash' && arg) {
    io.stdout(`${hashToken(arg)}\n`);
    return ExitCodes.OK;
  }
  io.stderr(USAGE);
  return ExitCodes.USAGE;
};
