/**
 * Splits one line of the upsd network protocol into words. Words are separated by blanks; a double
 * quote starts a word that may contain blanks and ends at the next unescaped quote; a backslash makes
 * the next character literal, inside quotes or not (so `\"` and `\\` carry a quote or a backslash).
 * Returns null for a malformed line (an unterminated quote or a trailing lone backslash).
 */
export function tokenizeLine(line: string): string[] | null {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '\\') {
      i++;
      if (i >= line.length) return null;
      word += line[i];
      inWord = true;
      continue;
    }
    if (quoted) {
      if (ch === '"') quoted = false;
      else word += ch;
      continue;
    }
    if (ch === '"') {
      quoted = true;
      inWord = true;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    word += ch;
    inWord = true;
  }
  if (quoted) return null;
  if (inWord) words.push(word);
  return words;
}
