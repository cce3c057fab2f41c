/**
 * Encoding of words for the upsd network protocol: values are sent in double quotes with `"` and `\`
 * escaped by a backslash; bare words (names, codes) are sent as they are unless they need quoting.
 */

/** A value in double quotes, with `\` and `"` escaped. */
export function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A word as it must appear on the wire: bare when it is safe, quoted otherwise. */
export function encodeWord(word: string): string {
  return word === '' || /[\s"\\#]/.test(word) ? quote(word) : word;
}

/** Words joined into one command line (without the trailing newline). */
export function encodeLine(words: readonly string[]): string {
  return words.map(encodeWord).join(' ');
}
