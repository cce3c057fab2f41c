/** A real FleetRegistry with fake channels that record the orders they got, on a ManualClock. */

import {
  type DisconnectInfo,
  FleetRegistry,
  type MemberChannel,
  type MemberKind,
} from '../../../master/fleet/registry.js';
import type { TimelineEntry } from '../../../master/sequencer/sequence-view.js';
import { Sequencer } from '../../../master/sequencer/sequencer.js';
import { ManualClock } from '../../../shared/clock.js';
import type { EarlyGroupSpec, StepSpec } from '../../../shared/config/master-settings.js';
import { silentLogger } from '../../../shared/logger.js';
import type { OrderMsg } from '../../../shared/protocol/messages.js';

export interface SentOrder {
  memberId: string;
  at: number;
  order: OrderMsg;
}

export function fleet(opts: {
  steps: StepSpec[];
  earlyGroups?: EarlyGroupSpec[];
  finalStep?: (ctx: { drill: boolean; reason: string }) => Promise<void>;
}) {
  const clock = new ManualClock();
  const t0 = clock.now();
  const registry = new FleetRegistry();
  const sent: SentOrder[] = [];
  const channels = new Map<string, MemberChannel>();
  const finals: Array<{ drill: boolean; reason: string; at: number }> = [];
  const sequencer = new Sequencer({
    clock,
    logger: silentLogger(),
    masterId: 'master-1',
    steps: opts.steps,
    earlyGroups: opts.earlyGroups ?? [],
    registry,
    finalStep:
      opts.finalStep ??
      (async (ctx) => {
        finals.push({ ...ctx, at: clock.now() - t0 });
      }),
  });
  const timeline: TimelineEntry[] = [];
  sequencer.subscribe({ timeline: (e) => timeline.push(e) });

  const connect = (id: string, group: string, kind: MemberKind = 'agent') => {
    const channel: MemberChannel = {
      sendOrder: (order) => sent.push({ memberId: id, at: clock.now() - t0, order }),
    };
    channels.set(id, channel);
    registry.connect(
      { id, kind, group, version: '1', dryRun: false, address: '127.0.0.1', lastSeen: clock.now() },
      channel,
    );
  };
  /** The member's connection closes; `how.closedByMaster` when the master closed it (its timer, a replacement). */
  const disconnect = (id: string, how?: DisconnectInfo) => registry.disconnect(id, channels.get(id)!, how);
  const orderOf = (id: string): OrderMsg => {
    const found = sent.filter((s) => s.memberId === id).at(-1);
    if (!found) throw new Error(`no order sent to ${id}`);
    return found.order;
  };
  /** ack, going-down (real), then the connection closes. */
  const confirmDown = (id: string) => {
    const { orderId } = orderOf(id);
    sequencer.onAck(id, orderId);
    sequencer.onGoingDown(id, orderId, false);
    disconnect(id);
  };
  const member = (id: string) => {
    for (const s of [...sequencer.view().steps, ...sequencer.view().early]) {
      const m = s.members.find((x) => x.id === id);
      if (m) return m;
    }
    throw new Error(`member ${id} not in the view`);
  };
  const elapsed = () => clock.now() - t0;
  const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    clock,
    t0,
    registry,
    sequencer,
    sent,
    timeline,
    finals,
    connect,
    disconnect,
    orderOf,
    confirmDown,
    member,
    elapsed,
    flush,
  };
}

export function step(index: number, groups: string[], deadlineMs = 60_000, settleMs = 0): StepSpec {
  return { index, groups, deadlineMs, settleMs };
}
