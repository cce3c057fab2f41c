/**
 * Wires the dashboard to a running master: the live feed over its hub, policy, registry, sequencer,
 * journal and drill store, the built page, and who may watch (config `dashboard.viewing`, `viewers:`).
 */
import type { Master } from '../master.js';
import type { DashboardOptions } from '../servers/http-server.js';
import { findDashboardDir, loadDashboard } from './dashboard-assets.js';
import { LiveFeed } from './live-feed.js';
import type { LiveAgent, LiveSnapshot } from './live-model.js';

export function createDashboard(m: Master): { feed: LiveFeed; http: DashboardOptions } {
  const { settings } = m;
  const dir = findDashboardDir();
  const files = loadDashboard(dir);
  if (!files)
    m.logger.warn(
      { dir },
      'the dashboard was not built: GET / answers 503 (the live stream and /status still work)',
    );
  const feed = new LiveFeed({
    clock: m.clock,
    logger: m.logger.child({ module: 'live' }),
    master: () => m.status().master as LiveSnapshot['master'],
    hub: m.hub,
    policy: m.policy,
    registry: m.registry,
    agents: () =>
      m.registry.all().map((a): LiveAgent => {
        const link = a.kind === 'agent' ? m.agentServer?.link(a.id) : undefined;
        return link ? { ...a, link } : a;
      }),
    sequence: () => m.sequencer.view(),
    plan: () => m.ops.plan(),
    journal: m.journal,
    drills: m.ops.drills,
    layout: {
      steps: m.steps.map((s) => ({
        index: s.index,
        groups: [...s.groups],
        deadlineMs: s.deadlineMs,
        settleMs: s.settleMs,
      })),
      early: settings.earlyGroups.map((g) => ({
        name: g.name,
        trigger: { ...g.trigger },
        deadlineMs: g.deadlineMs,
        settleMs: g.settleMs,
      })),
    },
  });
  return {
    feed,
    http: {
      files,
      live: feed,
      viewing: settings.dashboard.viewing,
      viewers: () => settings.viewers,
    },
  };
}
