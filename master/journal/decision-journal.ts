/**
 * The one place where the master's decisions meet the journal: every policy decision (status change,
 * power event, critical latch, early trigger) and every sequencer timeline entry is journaled before it
 * is broadcast or acted on. The master and the recovery tests wire the same function, so the records
 * a test replays are exactly those a running master writes.
 */
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { type PowerEvent, powerEventLogLevel } from '../../shared/nut/events.js';
import type { Policy } from '../policy/policy.js';
import type { Sequencer } from '../sequencer/sequencer.js';
import type { JournalRecord } from './journal-line.js';

export interface DecisionJournalDeps {
  policy: Policy;
  sequencer: Sequencer;
  journal: { write(record: JournalRecord): unknown };
  clock: Clock;
  logger: Logger;
  /** Tells the fleet (agents) about a power event, after it was journaled. */
  broadcast(event: PowerEvent, message: string): void;
}

export function journalDecisions(d: DecisionJournalDeps): void {
  const { policy, sequencer, journal, clock, logger } = d;
  const release = () => {
    if (policy.releaseLatch())
      journal.write({ kind: 'latch-released', ts: clock.now(), reason: 'mains back, run ended' });
  };
  sequencer.subscribe({
    timeline: (entry) => {
      journal.write({ ...entry, kind: 'sequence', event: entry.kind });
      if (entry.kind === 'done' && !entry.drill && policy.view().onBatterySince === null) release();
    },
  });
  policy.subscribe({
    status: (status, onBatterySince, events) => {
      journal.write({ kind: 'status', ts: clock.now(), status, onBatterySince, events });
      const runState = sequencer.view().state;
      if (onBatterySince === null && runState !== 'running' && runState !== 'final') release();
    },
    event: (event, message) => {
      logger[powerEventLogLevel(event)]({ event, message }, 'power event');
      journal.write({ kind: 'event', ts: clock.now(), event, message });
      d.broadcast(event, message);
    },
    critical: (reason) => {
      logger.warn({ reason }, 'fleet is critical: starting the shutdown sequence');
      journal.write({ kind: 'critical', ts: clock.now(), reason });
      d.broadcast('SHUTDOWN', reason);
      sequencer.start(reason);
    },
    outage: () => {
      // a new outage with the last one over: early groups that left in it leave again on their own trigger
      // (recovery.ts folds the same from this status record)
      const runState = sequencer.view().state;
      if (policy.view().critical || runState === 'running' || runState === 'final') return;
      const forgotten = sequencer.view().early.filter((e) => sequencer.forgetEarly(e.group));
      policy.rearmEarly();
      if (forgotten.length > 0)
        logger.info(
          { groups: forgotten.map((e) => e.group) },
          'a new outage: early groups that left in an earlier one can leave again',
        );
    },
    early: (group, reason) => {
      logger.warn({ group, reason }, 'early group trigger: ordering the group down');
      journal.write({ kind: 'early', ts: clock.now(), group, reason });
      sequencer.startEarly(group, reason);
    },
  });
}
