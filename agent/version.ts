/** The agent's version, sent in `hello`: the package version (bundlers inline the JSON). */
import packageJson from '../package.json' with { type: 'json' };

export const AGENT_VERSION: string = packageJson.version;
