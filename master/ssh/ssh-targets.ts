/**
 * The master's SSH targets (`sshTargets:`): one SshTarget each, declared in the fleet registry at start,
 * told by the sequencer's timeline when to look: a sequence starting probes every target afresh, and a
 * target its step finds offline (or that dropped before its command reached it) is probed every few
 * seconds until its step's deadline, so that it is ordered as soon as it answers. Also its /status view
 * and Prometheus series.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Clock } from '../../shared/clock.js';
import type { SshTargetSpec } from '../../shared/config/ssh-target-settings.js';
import { UpsfleetError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { FleetRegistry } from '../fleet/registry.js';
import type { SequencerListener, SequenceView, TimelineEntry } from '../sequencer/sequence-view.js';
import type { SshConnector } from './ssh-client.js';
import { type SshFeedback, SshTarget, type SshTargetView } from './ssh-target.js';
import { type ProbeResult, tcpProbe } from './unreachable-watch.js';

/**
 * ssh2 adds about 14 MiB to a process once loaded (its WebAssembly Poly1305 among it): only a master with
 * SSH targets loads it, and at start (SshTargets.start), so that the first order does not wait for it.
 */
let ssh2Loading: Promise<SshConnector> | null = null;
function loadSsh2Connector(): Promise<SshConnector> {
  ssh2Loading ??= import('./ssh-client.js').then(
    (m) => m.ssh2Connector,
    (err: Error) => {
      // tried again by the next probe or order: a failure at the fd limit need not be for good
      ssh2Loading = null;
      throw new UpsfleetError('SSH_CLIENT_UNAVAILABLE', `cannot load the SSH client (ssh2): ${err.message}`);
    },
  );
  return ssh2Loading;
}
const lazySsh2Connector: SshConnector = async (target) => (await loadSsh2Connector())(target);

export interface SshTargetsOptions {
  targets: readonly SshTargetSpec[];
  clock: Clock;
  logger: Logger;
  registry: FleetRegistry;
  feedback: SshFeedback;
  connector?: SshConnector;
  tcpProbe?: (host: string, port: number, timeoutMs: number) => Promise<ProbeResult>;
}

export class SshTargets implements SequencerListener {
  private readonly targets = new Map<string, SshTarget>();
  /** Stage deadlines by `${runId}|${step or early group}`, from step-start / early-start. */
  private readonly deadlines = new Map<string, number>();

  constructor(private readonly opts: SshTargetsOptions) {
    for (const spec of opts.targets)
      this.targets.set(
        spec.id,
        new SshTarget(spec, {
          clock: opts.clock,
          logger: opts.logger,
          registry: opts.registry,
          connector: opts.connector ?? lazySsh2Connector,
          feedback: opts.feedback,
          tcpProbe: opts.tcpProbe ?? tcpProbe,
        }),
      );
  }

  get size(): number {
    return this.targets.size;
  }

  /**
   * `resumed`: the sequence as the journal rebuilt it. A target its running stage recorded as going down
   * (its command accepted before a master restart) resumes its confirmation watch instead of being ordered
   * again when it answers.
   */
  start(resumed?: SequenceView): void {
    if (resumed) this.resumeConfirmations(resumed);
    if (this.targets.size > 0 && !this.opts.connector)
      loadSsh2Connector().catch((err: UpsfleetError) =>
        this.opts.logger.error({ code: err.code, err: err.message }, 'SSH targets: no SSH client'),
      );
    for (const t of this.targets.values()) t.start();
    if (this.targets.size > 0)
      this.opts.logger.info({ targets: [...this.targets.keys()] }, 'SSH targets: probing');
  }

  stop(): void {
    for (const t of this.targets.values()) t.stop();
  }

  private resumeConfirmations(view: SequenceView): void {
    const now = this.opts.clock.now();
    for (const stage of [...view.steps, ...view.early]) {
      if (stage.state !== 'running' && stage.state !== 'settling') continue;
      for (const m of stage.members) {
        const target = this.targets.get(m.id);
        if (!target || m.kind !== 'ssh' || m.state !== 'going-down' || m.dryRun === true) continue;
        target.resumeConfirming(m.orderId, m.goingDownAt ?? now, stage.deadline ?? now);
      }
    }
  }

  views(): SshTargetView[] {
    return [...this.targets.values()].map((t) => t.view());
  }

  view(id: string): SshTargetView | undefined {
    return this.targets.get(id)?.view();
  }

  timeline(entry: TimelineEntry): void {
    const stageKey = `${entry.runId}|${entry.early ?? entry.step ?? ''}`;
    switch (entry.kind) {
      case 'sequence-start':
        for (const t of this.targets.values()) t.refresh();
        return;
      case 'step-start':
      case 'early-start':
        if (entry.deadline !== undefined) this.deadlines.set(stageKey, entry.deadline);
        return;
      case 'offline':
      case 'disconnected': {
        const target = entry.memberId ? this.targets.get(entry.memberId) : undefined;
        const until = this.deadlines.get(stageKey);
        if (target && until !== undefined) target.wanted(until);
        return;
      }
      case 'step-end':
      case 'early-end':
        this.deadlines.delete(stageKey);
        return;
      default:
    }
  }

  registerMetrics(registry: Registry): void {
    const views = () => this.views();
    new Gauge({
      name: 'upsfleet_ssh_target_up',
      help: "1 when the SSH target's last probe logged in with the pinned host key, 0 when it failed",
      labelNames: ['target', 'group'],
      registers: [registry],
      collect() {
        this.reset();
        for (const v of views())
          if (v.lastProbe) this.set({ target: v.id, group: v.group }, v.lastProbe.ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'upsfleet_ssh_target_probe_seconds',
      help: "How long the SSH target's last probe took (connect, handshake, login)",
      labelNames: ['target', 'group'],
      registers: [registry],
      collect() {
        this.reset();
        for (const v of views())
          if (v.lastProbe) this.set({ target: v.id, group: v.group }, v.lastProbe.durationMs / 1000);
      },
    });
    new Gauge({
      name: 'upsfleet_ssh_target_probe_error',
      help: "1 for the error code of the SSH target's last probe while it fails (SSH_HOST_KEY_MISMATCH, SSH_AUTH_FAILED, ...)",
      labelNames: ['target', 'group', 'code'],
      registers: [registry],
      collect() {
        this.reset();
        for (const v of views())
          if (v.lastProbe && !v.lastProbe.ok && v.lastProbe.code)
            this.set({ target: v.id, group: v.group, code: v.lastProbe.code }, 1);
      },
    });
    new Gauge({
      name: 'upsfleet_ssh_target_command_seconds',
      help: "How long the SSH target's last command (or drill command) ran, by result",
      labelNames: ['target', 'group', 'drill', 'result'],
      registers: [registry],
      collect() {
        this.reset();
        for (const v of views()) {
          const r = v.order?.result;
          if (!v.order || !r) continue;
          const result = v.order.phase === 'failed' ? 'failed' : 'ok';
          this.set(
            { target: v.id, group: v.group, drill: String(v.order.drill), result },
            r.durationMs / 1000,
          );
        }
      },
    });
  }
}
