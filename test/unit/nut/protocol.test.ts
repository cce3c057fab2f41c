import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeLine, quote } from '../../../master/nut/protocol/encode.js';
import { LineSplitter } from '../../../master/nut/protocol/line-splitter.js';
import { tokenizeLine } from '../../../master/nut/protocol/tokenize.js';

test('tokenizer splits words, keeps quoted blanks and unescapes \\" and \\\\', () => {
  assert.deepEqual(tokenizeLine('GET VAR ups ups.status'), ['GET', 'VAR', 'ups', 'ups.status']);
  assert.deepEqual(tokenizeLine('SET VAR ups ups.id "rack \\"A\\" \\\\ 1"'), [
    'SET',
    'VAR',
    'ups',
    'ups.id',
    'rack "A" \\ 1',
  ]);
  assert.deepEqual(tokenizeLine('  a\t "" b\\ c  '), ['a', '', 'b c']);
  assert.deepEqual(tokenizeLine('VAR ups x "a#b"'), ['VAR', 'ups', 'x', 'a#b']);
  assert.deepEqual(tokenizeLine(''), []);
  assert.equal(tokenizeLine('SET VAR ups x "open'), null);
  assert.equal(tokenizeLine('trailing \\'), null);
});

test('encoder quotes values and escapes quotes and backslashes; round trip', () => {
  assert.equal(quote('OB LB'), '"OB LB"');
  assert.equal(quote('a "b" \\c'), '"a \\"b\\" \\\\c"');
  const words = ['SET', 'VAR', 'ups', 'ups.id', 'x "y" \\ z', ''];
  assert.equal(encodeLine(words), 'SET VAR ups ups.id "x \\"y\\" \\\\ z" ""');
  assert.deepEqual(tokenizeLine(encodeLine(words)), words);
});

test('line splitter joins chunks, strips CR and reports over-long lines once', () => {
  const lines: string[] = [];
  let tooLong = 0;
  const sp = new LineSplitter(
    10,
    (l) => lines.push(l),
    () => tooLong++,
  );
  sp.push('VER\r\nNET');
  sp.push('VER\n');
  sp.push('x'.repeat(8));
  sp.push('y'.repeat(8));
  sp.push('z'.repeat(100));
  sp.push('\nHELP\n');
  sp.push(`${'w'.repeat(11)}\nok\n`);
  assert.deepEqual(lines, ['VER', 'NETVER', 'HELP', 'ok']);
  assert.equal(tooLong, 2);
});
