/**
 * The threshold vocabulary shared by the fleet's critical rule and early groups (`chargeBelow`,
 * `runtimeBelow`, `onBatteryFor`), turned into named conditions with their delay. Thresholds only count
 * while the UPS is on battery: a low charge while charging on mains is not an outage.
 */
import type { TriggerSpec } from '../../shared/config/resolved.js';
import { numberVar, type UpsVars } from '../../shared/nut/ups-state.js';

export interface ConditionInput {
  tokens: ReadonlySet<string>;
  vars: UpsVars;
  /** Epoch ms since when the UPS is on battery (kept across master restarts by the journal). */
  onBatterySince: number | null;
}

export interface TriggerCondition {
  key: string;
  /** How long it must hold before it fires. */
  delayMs: number;
  holds(input: ConditionInput): boolean;
  /** Why it fired, with the values that made it hold. */
  reason(input: ConditionInput): string;
  /** When it started to hold, if known to be earlier than its first evaluation. */
  heldSince?(input: ConditionInput): number | null;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

/** In the order they are listed: on equal firing time the first listed wins. */
export function triggerConditions(trigger: TriggerSpec, debounceMs: number): TriggerCondition[] {
  const out: TriggerCondition[] = [];
  const { chargeBelow, runtimeBelowMs, onBatteryForMs } = trigger;
  if (chargeBelow !== undefined) {
    out.push({
      key: 'chargeBelow',
      delayMs: debounceMs,
      holds: ({ tokens, vars }) =>
        tokens.has('OB') && (numberVar(vars, 'battery.charge') ?? Infinity) < chargeBelow,
      reason: ({ vars }) => `battery.charge ${vars['battery.charge']}% below ${chargeBelow}% on battery`,
    });
  }
  if (runtimeBelowMs !== undefined) {
    out.push({
      key: 'runtimeBelow',
      delayMs: debounceMs,
      holds: ({ tokens, vars }) =>
        tokens.has('OB') && (numberVar(vars, 'battery.runtime') ?? Infinity) < runtimeBelowMs / 1000,
      reason: ({ vars }) =>
        `battery.runtime ${vars['battery.runtime']}s below ${seconds(runtimeBelowMs)} on battery`,
    });
  }
  if (onBatteryForMs !== undefined) {
    // the duration itself filters blips, so it is not debounced a second time
    out.push({
      key: 'onBatteryFor',
      delayMs: onBatteryForMs,
      holds: ({ tokens }) => tokens.has('OB'),
      heldSince: ({ onBatterySince }) => onBatterySince,
      reason: () => `on battery for ${seconds(onBatteryForMs)}`,
    });
  }
  return out;
}

/** NUT's rule: OB together with LB, except during a runtime calibration (CAL). */
export function lowBatteryCondition(debounceMs: number): TriggerCondition {
  return {
    key: 'onBatteryLowBattery',
    delayMs: debounceMs,
    holds: ({ tokens }) => tokens.has('OB') && tokens.has('LB') && !tokens.has('CAL'),
    reason: () => 'on battery with low battery (OB LB)',
  };
}
