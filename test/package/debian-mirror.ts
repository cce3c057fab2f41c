/**
 * The Debian mirror and suite this machine's own apt sources name (deb822 .sources files or sources.list),
 * so a test root comes from the same place as the machine's packages. Security and -updates suites are skipped.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function debianMirror(aptDir = '/etc/apt'): { uri: string; suite: string } {
  const texts: string[] = [];
  const list = join(aptDir, 'sources.list');
  if (existsSync(list)) texts.push(readFileSync(list, 'utf8'));
  const dir = join(aptDir, 'sources.list.d');
  if (existsSync(dir))
    for (const f of readdirSync(dir).sort())
      if (f.endsWith('.sources') || f.endsWith('.list')) texts.push(readFileSync(join(dir, f), 'utf8'));
  const plain = (suite: string) => !/-(security|updates|backports)$/.test(suite) && !suite.includes('/');
  for (const text of texts) {
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name: string) =>
        new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
      if (!field('Types').includes('deb') || /^Enabled:\s*no/im.test(stanza)) continue;
      const uri = field('URIs')[0];
      const suite = field('Suites').find(plain);
      if (uri && suite && field('Components').includes('main')) return { uri, suite };
    }
    for (const line of text.split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line.trim());
      if (m?.[1] && m[2] && plain(m[2]) && (m[3] ?? '').split(/\s+/).includes('main'))
        return { uri: m[1], suite: m[2] };
    }
  }
  throw new Error(`no Debian mirror with a main component in ${aptDir}/sources.list(.d)`);
}
