/**
 * Applies a config reload (SIGHUP) to a running master: the file is read again with the loader used at
 * start, compared with the running settings (planReload), and what is live is swapped in: tokens, log
 * level, notify, NUT users. What needs a restart is logged on one line and left as it runs. A file
 * that does not load changes nothing. reload() never throws: a reload must not end the master.
 */
import type { ConfigProblem } from '../../shared/config/load.js';
import { loadMasterSettings, type MasterSettings } from '../../shared/config/master-settings.js';
import type { NutUserT } from '../../shared/config/nut-server-schema.js';
import { type ErrorCode, isUpsfleetError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ConfigCredentials } from '../auth/token-store.js';
import type { NotifySettings } from '../notify/master-notifier.js';
import { planReload, type ReloadArea, runningAfter } from './reload-plan.js';

/** What the reloader needs from a running master, and nothing more. */
export interface ReloadTargets {
  /** The master's root logger: its child loggers follow its level (none is given a level of its own). */
  logger: Logger;
  /** Takes the config's `agents:`/`admins:` lists and re-reads the tokens file now. */
  tokens: { reconfigure(lists: ConfigCredentials): unknown };
  notifier: { setNotify(notify: NotifySettings): void };
  /** The running NUT server; null when it is off or out of reach (then `nut.users` waits for a restart). */
  nutServer: () => { setUsers(users: readonly NutUserT[]): void } | null;
}

export type ReloadResult =
  | { ok: true; file: string; applied: string[]; restartNeeded: string[] }
  /** code: from the errors catalogue; null for an error that carries none (a bug, described by message). */
  | { ok: false; file: string; code: ErrorCode | null; message: string; problems: ConfigProblem[] };

export interface ConfigReloaderOptions {
  /** The settings the master was started with. */
  settings: MasterSettings;
  targets: ReloadTargets;
  /** Seam for tests; default loadMasterSettings (the loader of `upsfleet master -c`). */
  load?: (file: string) => MasterSettings;
  /** Every reload, failed or not (the master journals it). */
  onReloaded?: (result: ReloadResult) => void;
}

export class ConfigReloader {
  private running: MasterSettings;

  constructor(private readonly opts: ConfigReloaderOptions) {
    this.running = opts.settings;
  }

  /** The settings in effect: those of the start with every reload's live changes in. */
  get settings(): MasterSettings {
    return this.running;
  }

  reload(): ReloadResult {
    const result = this.reloadOnce();
    try {
      this.opts.onReloaded?.(result);
    } catch (err) {
      this.opts.targets.logger.error({ err }, 'reload hook failed');
    }
    return result;
  }

  private reloadOnce(): ReloadResult {
    const { logger } = this.opts.targets;
    const { file } = this.running;
    let next: MasterSettings;
    try {
      next = (this.opts.load ?? loadMasterSettings)(file);
    } catch (err) {
      return this.refused(file, err);
    }
    const plan = planReload(this.running, next);
    const restartNeeded = plan.restartNeeded.map((c) => c.path);
    const applied: string[] = [];
    const appliedAreas = new Set<ReloadArea>();
    for (const area of new Set(plan.apply.map((c) => c.area!))) {
      const paths = plan.apply.filter((c) => c.area === area).map((c) => c.path);
      if (this.applyArea(area, next)) {
        appliedAreas.add(area);
        applied.push(...paths);
      } else restartNeeded.push(...paths);
    }
    // the tokens file is re-read on every reload, whether the config's lists changed or not
    if (!appliedAreas.has('tokens')) this.applyArea('tokens', next);
    this.running = runningAfter(this.running, next, appliedAreas);
    logger.info({ file, applied }, 'config reloaded');
    if (restartNeeded.length > 0)
      logger.warn({ file, restartNeeded }, 'config reloaded; these changes need a restart');
    return { ok: true, file, applied, restartNeeded };
  }

  /** Swaps one live area in; false when it cannot be done now (it then waits for a restart). */
  private applyArea(area: ReloadArea, next: MasterSettings): boolean {
    const { targets } = this.opts;
    try {
      switch (area) {
        case 'tokens':
          targets.tokens.reconfigure({ agents: next.agents, admins: next.admins });
          return true;
        case 'logLevel':
          targets.logger.level = next.log.level;
          return true;
        case 'notify':
          targets.notifier.setNotify(next.notify);
          return true;
        case 'nutUsers': {
          const nut = targets.nutServer();
          if (!nut) return false;
          nut.setUsers(next.nut?.users ?? []);
          return true;
        }
      }
    } catch (err) {
      targets.logger.error({ err, area }, 'config reload could not apply a change; it waits for a restart');
      return false;
    }
  }

  private refused(file: string, err: unknown): ReloadResult {
    const { logger } = this.opts.targets;
    const code = isUpsfleetError(err) ? err.code : null;
    const problems =
      isUpsfleetError(err) && Array.isArray(err.details.problems)
        ? (err.details.problems as ConfigProblem[])
        : [];
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    logger.error(
      problems.length > 0 ? { file, code, problems } : { file, code, err },
      'config reload refused: the file does not load; the running config stays',
    );
    return { ok: false, file, code, message, problems };
  }
}
