/**
 * Redundant supplies (NUT's POWERVALUE / MINSUPPLIES): a host fed by several UPSes follows one master per
 * UPS and counts the power it still trusts. A supply is lost when its master says the UPS is critical (it
 * ordered us down, or its state shows FSD, OB with LB, or its critical latch), or when its master has been
 * unreachable past the local deadtime while that UPS was last seen on battery. A master that is gone while
 * its UPS was last seen on line still counts as feeding us, as in NUT.
 *
 * The host goes down when the trusted power falls below minSupplies, in the step the master ordering it
 * gives: an order is obeyed only if, without that master's supply, the host would be short; otherwise it
 * is declined ("redundantly fed") and kept, and obeyed later if the other supplies are lost meanwhile.
 * With no order to obey, it goes down on its own only once a lost master's deadtime has passed (nobody is
 * left to order it). Pure bookkeeping: the agent feeds it events and carries out what it decides.
 */
import type { Logger } from '../shared/logger.js';
import { hasStatus } from '../shared/nut/status.js';
import type { OrderMsg, StateMsg, SupplyDeclarationT } from '../shared/protocol/messages.js';

export interface SupplyInfo {
  name: string;
  powerValue: number;
}

export interface SuppliesOptions {
  supplies: readonly SupplyInfo[];
  minSupplies: number;
  logger: Logger;
  /** The host is already going down (a real shutdown under way): nothing more is decided. */
  isDown(): boolean;
  /** Carry out an order (the one just received, or one declined earlier whose supply count has now run out). */
  obey(index: number, order: OrderMsg): void;
  /** Go down on our own: the supplies are short and no master is left to order us. */
  shutdownLocally(reason: string): void;
  /** The power the others give changed for this master: tell it (if it is connected and understands it). */
  report(index: number, declaration: SupplyDeclarationT): void;
}

interface SupplyState extends SupplyInfo {
  connected: boolean;
  /** Why its master says the UPS is critical, from its last state (null: not critical). */
  critical: string | null;
  /** The real order its master sent us (a critical UPS for us), until its state says the outage is over. */
  ordered: OrderMsg | null;
  /** Its master lost past the deadtime while on battery (the reason), until it is back. */
  gone: string | null;
  /** An order we declined (redundantly fed), kept to be obeyed if the supplies run short later. */
  declined: OrderMsg | null;
  /** The `others` value this master was last told. */
  reported: number | null;
}

export type OrderDecision = { obey: true } | { obey: false; reason: string; declaration: SupplyDeclarationT };

export class Supplies {
  private readonly s: SupplyState[];
  private readonly total: number;
  private waitingLogged = false;

  constructor(private readonly opts: SuppliesOptions) {
    this.s = opts.supplies.map((x) => ({
      ...x,
      connected: false,
      critical: null,
      ordered: null,
      gone: null,
      declined: null,
      reported: null,
    }));
    this.total = opts.supplies.reduce((sum, x) => sum + x.powerValue, 0);
  }

  get minSupplies(): number {
    return this.opts.minSupplies;
  }

  /** Whether this supply counts as lost now, and why. */
  lostReason(index: number): string | null {
    const x = this.s[index];
    if (!x) return null;
    if (x.ordered) return `${x.name}: its master ordered us down`;
    if (x.critical) return `${x.name}: critical (${x.critical})`;
    return x.gone;
  }

  /** The power value of the supplies we still trust (all of them, or all but `except`). */
  trusted(except?: number): number {
    let sum = 0;
    this.s.forEach((x, i) => {
      if (i !== except && this.lostReason(i) === null) sum += x.powerValue;
    });
    return sum;
  }

  /** What this master is told: its power value, what we need and have, and what the others still give. */
  declaration(index: number): SupplyDeclarationT {
    return {
      powerValue: this.s[index]?.powerValue ?? 0,
      minSupplies: this.opts.minSupplies,
      total: this.total,
      others: this.trusted(index),
    };
  }

  /** A per-supply picture for logs and tests. */
  view(): Array<{ name: string; powerValue: number; connected: boolean; lost: string | null }> {
    return this.s.map((x, i) => ({
      name: x.name,
      powerValue: x.powerValue,
      connected: x.connected,
      lost: this.lostReason(i),
    }));
  }

  connected(index: number): void {
    const x = this.s[index];
    if (!x) return;
    x.connected = true;
    // the hello carried the current declaration
    x.reported = this.trusted(index);
    if (x.gone) {
      this.opts.logger.info({ supply: x.name }, 'master of a lost supply is back: the supply counts again');
      x.gone = null;
      this.changed();
    }
  }

  disconnected(index: number): void {
    const x = this.s[index];
    if (!x) return;
    x.connected = false;
    x.reported = null;
  }

  /** The master's deadtime passed while its UPS was last seen on battery: that supply is lost. */
  gone(index: number, reason: string): void {
    const x = this.s[index];
    if (!x || x.gone) return;
    x.gone = `${x.name}: ${reason}`;
    // one supply: the local safety has said it all (the host goes down with its reason, as ever)
    if (this.s.length === 1) {
      this.changed(reason);
      return;
    }
    this.opts.logger.warn({ supply: x.name, reason }, 'supply lost: its master is gone while on battery');
    this.changed();
  }

  observeState(index: number, state: Pick<StateMsg, 'vars' | 'policy'>): void {
    const x = this.s[index];
    if (!x) return;
    const status = state.vars['ups.status'] ?? '';
    const ob = hasStatus(status, 'OB');
    const why = hasStatus(status, 'FSD')
      ? 'FSD'
      : ob && hasStatus(status, 'LB')
        ? 'OB LB'
        : state.policy.critical
          ? (state.policy.reason ?? 'critical')
          : null;
    const before = this.lostReason(index);
    x.critical = why;
    // the outage is over for this UPS (mains back, latch released): its earlier order no longer stands
    if (why === null && !ob && x.ordered) {
      this.opts.logger.info({ supply: x.name }, 'UPS back on line: its earlier order no longer counts');
      x.ordered = null;
      x.declined = null;
    }
    if (before !== this.lostReason(index)) this.changed();
  }

  /** A shutdown order from this supply's master: obey it, or decline it while the others still feed us. */
  order(index: number, order: OrderMsg): OrderDecision {
    const x = this.s[index];
    if (!x || order.drill || this.opts.isDown()) return { obey: true };
    const known = x.ordered?.orderId === order.orderId;
    x.ordered = order;
    const others = this.trusted(index);
    if (others < this.opts.minSupplies) {
      x.declined = null;
      this.opts.logger.warn(
        { supply: x.name, others, minSupplies: this.opts.minSupplies },
        this.s.length === 1
          ? 'shutdown order from the master'
          : `shutdown order from ${x.name}'s master: the other supplies give ${others} < minSupplies ${this.opts.minSupplies}, obeying`,
      );
      return { obey: true };
    }
    x.declined = order;
    const reason = `redundantly fed, not going down: the other supplies still give ${others} of minSupplies ${this.opts.minSupplies}`;
    if (!known)
      this.opts.logger.warn({ supply: x.name, orderId: order.orderId, others }, `order declined: ${reason}`);
    this.changed();
    return { obey: false, reason, declaration: this.declaration(index) };
  }

  /**
   * Re-counts after a change: tells each master what the others now give, and when the supplies are short,
   * obeys an order declined earlier, waits for a critical master's order, or goes down on its own.
   */
  private changed(localReason?: string): void {
    this.s.forEach((x, i) => {
      if (!x.connected) return;
      const others = this.trusted(i);
      if (x.reported === others) return;
      x.reported = others;
      this.opts.report(i, this.declaration(i));
    });
    if (this.opts.isDown()) return;
    const trusted = this.trusted();
    if (trusted >= this.opts.minSupplies) {
      this.waitingLogged = false;
      return;
    }
    const lost = this.s.map((_, i) => this.lostReason(i)).filter((r): r is string => r !== null);
    // an order we declined: its master's step for us has come, and now we are short
    const declined = this.s
      .map((x, i) => ({ x, i }))
      .filter(({ x }) => x.declined !== null)
      .sort((a, b) => Number(b.x.connected) - Number(a.x.connected));
    const first = declined[0];
    if (first) {
      const order = first.x.declined!;
      first.x.declined = null;
      this.opts.logger.warn(
        { supply: first.x.name, orderId: order.orderId, trusted, minSupplies: this.opts.minSupplies, lost },
        `supplies short (${trusted} < minSupplies ${this.opts.minSupplies}): obeying the order declined earlier`,
      );
      this.opts.obey(first.i, order);
      return;
    }
    // a critical master still connected orders us at our step
    const waitFor = this.s.find((x) => x.connected && (x.critical !== null || x.ordered !== null));
    if (waitFor) {
      if (!this.waitingLogged)
        this.opts.logger.warn(
          { supply: waitFor.name, trusted, minSupplies: this.opts.minSupplies, lost },
          `supplies short (${trusted} < minSupplies ${this.opts.minSupplies}): going down at ${waitFor.name}'s order in our step`,
        );
      this.waitingLogged = true;
      return;
    }
    if (!this.s.some((x) => x.gone !== null)) return;
    if (localReason !== undefined) {
      this.opts.shutdownLocally(localReason);
      return;
    }
    const reason = `supplies short: ${trusted} of minSupplies ${this.opts.minSupplies} left (${lost.join('; ')})`;
    this.opts.logger.error(
      { code: 'MASTER_UNREACHABLE', trusted, minSupplies: this.opts.minSupplies, lost },
      `shutting down on our own: ${reason}`,
    );
    this.opts.shutdownLocally(reason);
  }
}
