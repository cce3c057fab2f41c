/** What a NUT session needs from the server around it (shared state across all connections). */

import type { SecureContext } from 'node:tls';
import type { Clock } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/logger.js';
import type { FleetRegistry } from '../../fleet/registry.js';
import type { Source } from '../../sources/source.js';
import type { StateHub } from '../../state/state-hub.js';
import type { LoginBackoff } from './login-backoff.js';
import type { NutUsers } from './nut-users.js';
import type { RefusalLog } from './refusal-log.js';

export interface LoggedInClient {
  readonly ups: string;
  readonly ip: string;
}

export type TrackingState = 'PENDING' | 'SUCCESS' | `ERR ${string}`;

export interface NutServerContext {
  readonly hub: StateHub;
  readonly registry: FleetRegistry;
  readonly source: Source;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly users: NutUsers;
  /** Failed logins by address and user: a pair that failed too often is refused for a while. */
  readonly loginBackoff: LoginBackoff;
  /** Refusals, logged rate-limited with counters. */
  readonly refusals: RefusalLog;
  readonly description: string;
  readonly version: string;
  /** Hide LB from clients with a group until their step (see ViewOptions.hideLowBattery). */
  readonly hideLowBattery: boolean;
  /** USERNAME/PASSWORD accepted in clear from other hosts (nut.allowPlaintextLogin). */
  readonly allowPlaintextLogin: boolean;
  /** The master's TLS context for STARTTLS; undefined: FEATURE-NOT-CONFIGURED. */
  readonly tls?: SecureContext;
  /** The name the client used, when it names the served UPS (the hub's name or an alias). */
  isOurUps(name: string): boolean;
  /** The UPS names LIST UPS shows. */
  listedUps(): string[];
  fsdLatched(): boolean;
  /** A primary (or a user with `actions: [fsd]`) set FSD: latch it and tell the master. */
  setFsd(user: string, reason: string): void;
  /** Sessions logged in with LOGIN, for NUMLOGINS and LIST CLIENT. */
  logins(): LoggedInClient[];
  /** Whether a shutdown order already reached `user` connecting from `ip` (a reconnect keeps it). */
  wasOrdered(user: string, ip: string): boolean;
  markOrdered(user: string, ip: string): void;
  tracking: {
    create(): string;
    set(id: string, state: TrackingState): void;
    get(id: string): TrackingState | undefined;
  };
}
