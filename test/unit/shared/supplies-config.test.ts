/** The agent's `supplies:` / `minSupplies` config: resolved per supply, and every misuse refused naming where. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAgentSettings, suppliesOf } from '../../../shared/config/agent-settings.js';

const AGENT = 'agent: { id: db-1, group: db, token: "0123456789abcdef", stateDir: /var/lib/upsfleet }\n';
const A = '{ master: { urls: ["ws://127.0.0.1:8740/ws"] } }';
const B = '{ master: { urls: ["ws://127.0.0.1:8741/ws"] } }';

function problems(text: string): string {
  try {
    parseAgentSettings(AGENT + text, '/etc/upsfleet/agent.yaml');
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

describe('agent config: supplies', () => {
  it('resolves each supply with its power value, token and state directory', () => {
    const s = parseAgentSettings(
      `${AGENT}supplies:\n  - { name: ups-a, master: { urls: ["ws://127.0.0.1:8740/ws"] }, powerValue: 2, token: "token-of-ups-a" }\n  - ${B}\nminSupplies: 2\n`,
      '/etc/upsfleet/agent.yaml',
    );
    const { supplies, minSupplies } = suppliesOf(s);
    assert.equal(minSupplies, 2);
    assert.deepEqual(
      supplies.map((x) => [x.name, x.urls, x.powerValue, x.token, x.stateDir]),
      [
        ['ups-a', ['ws://127.0.0.1:8740/ws'], 2, 'token-of-ups-a', '/var/lib/upsfleet/supplies/ups-a'],
        [
          'supply-2',
          ['ws://127.0.0.1:8741/ws'],
          1,
          '0123456789abcdef',
          '/var/lib/upsfleet/supplies/supply-2',
        ],
      ],
    );
  });

  it('the single master form is one supply of power value 1 (its urls are fail-overs of that one master)', () => {
    const s = parseAgentSettings(
      `${AGENT}master: { urls: ["ws://127.0.0.1:8740/ws", "ws://127.0.0.1:8741/ws"] }\n`,
      '/etc/upsfleet/agent.yaml',
    );
    assert.equal(s.supplies, undefined);
    const { supplies, minSupplies } = suppliesOf(s);
    assert.equal(supplies.length, 1);
    assert.deepEqual(supplies[0]!.urls, ['ws://127.0.0.1:8740/ws', 'ws://127.0.0.1:8741/ws']);
    assert.equal(supplies[0]!.stateDir, '/var/lib/upsfleet');
    assert.equal(minSupplies, 1);
  });

  it('minSupplies above the power values, master and supplies together, a master twice: refused, naming where', () => {
    assert.match(
      problems(`supplies: [${A}, ${B}]\nminSupplies: 3\n`),
      /agent\.yaml:3:14: \/minSupplies minSupplies 3 is more than the supplies' powerValue add up to \(2\)/,
    );
    assert.match(
      problems(
        `supplies: [${A}, { master: { urls: ["ws://127.0.0.1:8741/ws"] }, powerValue: 0 }]\nminSupplies: 2\n`,
      ),
      /\/minSupplies minSupplies 2 is more than the supplies' powerValue add up to \(1\)/,
    );
    assert.match(problems(`master: ${A.slice(10, -2)}\nsupplies: [${B}]\n`), /\/supplies give either master/);
    assert.match(
      problems(`master: { urls: ["ws://127.0.0.1:8740/ws"] }\nminSupplies: 1\n`),
      /\/minSupplies only with supplies/,
    );
    assert.match(
      problems(`supplies: [${A}, ${A}]\n`),
      /\/supplies\/1\/master\/urls\/0 ws:\/\/127\.0\.0\.1:8740\/ws is already the master of \/supplies\/0/,
    );
    assert.match(
      problems(`supplies: [{ master: { auto: true, fingerprint: "sha256:${'a'.repeat(64)}" } }]\n`),
      /\/supplies\/0\/master\/auto/,
    );
    assert.match(problems(''), /missing required setting "master" \(or "supplies"/);
    assert.match(
      problems(`supplies: [${A.replace('ws://', 'ws://10.0.0.1:1/x#')}]\n`),
      /\/supplies\/0\/master\/urls\/0 plain ws:\/\//,
    );
  });
});
