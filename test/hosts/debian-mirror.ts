/**
 * The Debian archives this machine's own apt uses, read from /etc/apt/sources.list(.d): the test hosts are
 * built from them and their apt reaches only them (through the test's proxy). No mirror is named in code.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AptSource {
  /** The archive's base URL, e.g. the scheme, host and path of `URIs:`. */
  uri: string;
  suite: string;
  components: string[];
}

/** deb822 `.sources` stanzas (Types: deb only) and one-line `.list` entries. */
export function parseAptSources(text: string, format: 'deb822' | 'list'): AptSource[] {
  const out: AptSource[] = [];
  if (format === 'list') {
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.+)$/.exec(line);
      if (m) out.push({ uri: m[1]!, suite: m[2]!, components: m[3]!.split(/\s+/) });
    }
    return out;
  }
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const raw of stanza.split('\n')) {
      if (raw.startsWith('#')) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m) fields.set(m[1]!.toLowerCase(), m[2]!.trim());
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if (fields.get('enabled')?.toLowerCase() === 'no') continue;
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter(Boolean))
      for (const suite of (fields.get('suites') ?? '').split(/\s+/).filter(Boolean))
        out.push({ uri, suite, components: (fields.get('components') ?? 'main').split(/\s+/) });
  }
  return out;
}

/**
 * The machine's Debian archives for `release` (bookworm): every enabled source whose suite is the release
 * or one of its -updates/-security suites. Third-party sources (other suites) are left out.
 */
export function machineDebianSources(release = 'bookworm', dir = '/etc/apt'): AptSource[] {
  const found: AptSource[] = [];
  const main = join(dir, 'sources.list');
  if (existsSync(main)) found.push(...parseAptSources(readFileSync(main, 'utf8'), 'list'));
  const d = join(dir, 'sources.list.d');
  if (existsSync(d)) {
    for (const name of readdirSync(d).sort()) {
      const text = () => readFileSync(join(d, name), 'utf8');
      if (name.endsWith('.sources')) found.push(...parseAptSources(text(), 'deb822'));
      else if (name.endsWith('.list')) found.push(...parseAptSources(text(), 'list'));
    }
  }
  const ours = new RegExp(`^${release}(-updates|-security)?$`);
  return found.filter((s) => ours.test(s.suite) && /^https?:\/\//.test(s.uri));
}

/** `deb URI SUITE COMPONENTS` lines, as mmdebstrap takes them and as the hosts' sources.list holds them. */
export function sourcesListLines(sources: readonly AptSource[]): string[] {
  return sources.map((s) => `deb ${s.uri} ${s.suite} ${s.components.join(' ')}`);
}
