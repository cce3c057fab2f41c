/** Builds the configured source. Native or network sources are imported lazily, only when configured. */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Clock } from '../../shared/clock.js';
import type { MasterSettings } from '../../shared/config/master-settings.js';
import { parseDuration } from '../../shared/duration.js';
import { UpsfleetError } from '../../shared/errors.js';
import { SimulatedSource } from './simulated/simulated-source.js';
import { parseTimeline } from './simulated/timeline.js';
import type { Source } from './source.js';

export async function createSource(settings: MasterSettings, clock: Clock, logger: Logger): Promise<Source> {
  const cfg = settings.ups.source;
  const upsName = settings.ups.name;
  switch (cfg.type) {
    case 'simulated': {
      let text = cfg.script ?? '';
      if (cfg.timeline) {
        try {
          text = readFileSync(cfg.timeline, 'utf8');
        } catch (err) {
          throw new UpsfleetError(
            'CONFIG_NOT_FOUND',
            `${settings.file}: /ups/source/timeline: cannot read ${cfg.timeline} (${(err as Error).message})`,
          );
        }
      }
      return new SimulatedSource({
        upsName,
        steps: parseTimeline(text, cfg.timeline ?? `${settings.file} /ups/source/script`),
        ...(cfg.initial ? { initial: { ...cfg.initial } } : {}),
        loop: cfg.loop ?? false,
        speed: cfg.speed ?? 1,
        ...(cfg.persist ? { stateDir: settings.stateDir } : {}),
        clock,
        logger: logger.child({ module: 'source' }),
      });
    }
    case 'usbhid': {
      // node-hid is native and optional: imported only when a USB UPS is configured
      const { createUsbhidSource } = await import('./usbhid/usbhid-source.js');
      const device = {
        ...(cfg.vendorId ? { vendorId: cfg.vendorId.toLowerCase() } : {}),
        ...(cfg.productId ? { productId: cfg.productId.toLowerCase() } : {}),
        ...(cfg.serial ? { serial: cfg.serial } : {}),
        ...(cfg.path ? { path: cfg.path } : {}),
      };
      const low = cfg.override ?? {};
      return createUsbhidSource({
        upsName,
        device,
        clock,
        logger: logger.child({ module: 'source' }),
        ...(cfg.pollInterval !== undefined
          ? { pollIntervalMs: parseDuration(cfg.pollInterval, '/ups/source/pollInterval') }
          : {}),
        ...(cfg.fullPollInterval !== undefined
          ? { fullPollIntervalMs: parseDuration(cfg.fullPollInterval, '/ups/source/fullPollInterval') }
          : {}),
        ...(low['battery.charge.low'] !== undefined ? { batteryChargeLow: low['battery.charge.low'] } : {}),
        ...(low['battery.runtime.low'] !== undefined
          ? { batteryRuntimeLow: low['battery.runtime.low'] }
          : {}),
        ...(cfg.ignoreLowBattery !== undefined ? { ignoreLowBattery: cfg.ignoreLowBattery } : {}),
      });
    }
    case 'nut': {
      const { createNutSource } = await import('../nut/source/nut-source.js');
      return createNutSource({ config: cfg, upsName, clock, logger: logger.child({ module: 'source' }) });
    }
    default:
      throw new UpsfleetError(
        'CONFIG_INVALID',
        `${settings.file}: /ups/source/type "${(cfg as { type: string }).type}" is not available in this build`,
      );
  }
}
