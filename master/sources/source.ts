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

/** How well the source reads its UPS (usbhid: decode failures and stale values), for /status and /metrics. */
export interface SourceHealth {
  /** Reports that could not be decoded (unknown report ID, empty, codec error), since start. */
  undecodable: number;
  /** Reports shorter than their descriptor declares (the fields past the end were not read), since start. */
  truncated: number;
  byReport: Record<string, { undecodable: number; truncated: number }>;
  /** Report IDs not refreshed by the last `staleAfterPolls` polls that asked for them. */
  staleReports: number[];
  staleAfterPolls: number;
  /** Variables whose value comes from a stale report: still published, last value read. */
  staleVariables: string[];
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
  /** Read health, when the source can tell (usbhid). */
  health?(): SourceHealth;
}
