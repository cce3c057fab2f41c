/**
 * The one-file agent's entry point (`node upsfleet-agent.cjs -c /etc/upsfleet/agent.yaml`): esbuild bundles
 * this file and everything it imports into dist/upsfleet-agent.cjs, for hosts that have only Node.js.
 * Exit codes as the CLI's: 0 ok, 2 usage, 3 configuration invalid, 1 anything else.
 */
import { parseArgs } from 'node:util';
import { loadAgentSettings } from '../shared/config/agent-settings.js';
import { isUpsfleetError } from '../shared/errors.js';
import { runAgent } from './run-agent.js';
import { AGENT_VERSION } from './version.js';

const USAGE = 'usage: upsfleet-agent -c FILE | --version | --help\n';

export async function agentMain(argv: string[]): Promise<number> {
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
