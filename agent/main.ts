/**
 * The one-file agent's entry point (`node upsfleet-agent.cjs -c /etc/upsfleet/agent.yaml`): esbuild bundles
 * this file and everything it imports into dist/upsfleet-agent.cjs, for hosts that have only Node.js.
 * Exit codes as the CLI's: 0 ok, 2 usage, 3 configuration invalid, 1 anything else.
 */
// first: V8 flags that must be set before the rest of the bundle runs
import './v8-memory.js';
import { parseArgs } from 'node:util';
import { loadAgentSettings } from '../shared/config/agent-settings.js';
import { isUpsfleetError } from '../shared/errors.js';
import { runAgent } from './run-agent.js';
import { AGENT_VERSION } from './version.js';

const USAGE = `usage: upsfleet-agent -c FILE              run the agent
       upsfleet-agent config check FILE  validate an agent configuration (every problem as file:line:column, exit 3)
       upsfleet-agent --version | --help
`;

/** `config check FILE` on hosts that have only the one-file agent (the full CLI's check needs the master code). */
function configCheck(argv: string[]): number {
  const [sub, file, ...extra] = argv;
  if (sub === '--help' || sub === '-h' || file === '--help' || file === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (sub !== 'check' || file === undefined || extra.length > 0) {
    process.stderr.write(USAGE);
    return 2;
  }
  try {
    loadAgentSettings(file);
  } catch (err) {
    // whatever makes loading fail (schema, a duration, an unreadable or empty token file) makes it unusable
    if (isUpsfleetError(err)) {
      process.stderr.write(`${err.message} [${err.code}]\n`);
      return 3;
    }
    throw err;
  }
  process.stdout.write(`${file}: valid agent configuration\n`);
  return 0;
}

export async function agentMain(argv: string[]): Promise<number> {
  if (argv[0] === 'config') return configCheck(argv.slice(1));
  let values: { config?: string; version?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        version: { type: 'boolean', short: 'V' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`upsfleet-agent: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return 0;
  }
  if (!values.config) {
    process.stderr.write(`upsfleet-agent: -c FILE is required (the agent configuration)\n${USAGE}`);
    return 2;
  }
  try {
    await runAgent(loadAgentSettings(values.config));
    return 0;
  } catch (err) {
    if (isUpsfleetError(err)) {
      process.stderr.write(`upsfleet-agent: ${err.message} [${err.code}]\n`);
      return err.code.startsWith('CONFIG_') || err.code === 'DURATION_INVALID' ? 3 : 1;
    }
    process.stderr.write(`upsfleet-agent: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

agentMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`upsfleet-agent: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
