/**
 * Where the master gets UPS state. A source publishes full snapshots of NUT variables and its
 * communication state; the state hub above it derives everything else (events, policy, fan-out).
 */
import type { UpsVars } from '../../shared/nut/ups-state.js';

export interface SourceListener {
  /** A full snapshot of the UPS's variables, sent whenever any of them changed. */
  update(vars: UpsVars): void;
  /** Communication with the UPS was lost (ok=false) or is back (ok=true). */
  comm(ok: boolean, reason: string): void;
}

export interface WritableVariable {
  name: string;
  type: 'NUMBER' | 'STRING' | 'ENUM' | 'RANGE';
  enum?: string[];
  range?: { min: number; max: number };
}

export interface Source {
  readonly kind: string;
  /** The UPS name, as NUT clients use it (`ups@host`). */
  readonly upsName: string;
  /** Opens the device/connection and begins publishing. Rejects only for unrecoverable configuration problems. */
  start(listener: SourceListener): Promise<void>;
  stop(): Promise<void>;
  /** Instant commands this UPS supports, by NUT name (load.off.delay, shutdown.return, ...). */
  commands(): string[];
  writableVariables(): WritableVariable[];
  /** Runs a NUT instant command (killpower uses this with shutdown.return by default). */
  instantCommand(name: string, param?: string): Promise<void>;
  setVariable(name: string, value: string): Promise<void>;
}
