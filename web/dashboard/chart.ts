/**
 * The charge/runtime/load history as a uPlot chart (canvas; uPlot is bundled into app.js at build time).
 * Charge and load in % on the left axis, runtime in minutes on the right; the last values are carried to
 * now, so a UPS that has not changed for an hour still draws a line up to the present.
 */
import uPlot from 'uplot';
import type { HistoryPoint } from '../../master/dashboard/live-model.js';

function css(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export class HistoryChart {
  private plot: uPlot | null = null;
  private readonly resize: ResizeObserver;

  constructor(private readonly box: HTMLElement) {
    this.resize = new ResizeObserver(() => this.plot?.setSize(this.size()));
    this.resize.observe(box);
  }

  private size(): { width: number; height: number } {
    const width = Math.max(260, this.box.clientWidth);
    return { width, height: width < 500 ? 200 : 240 };
  }

  update(history: HistoryPoint[], now: number): void {
    const points = [...history];
    const last = points[points.length - 1];
    if (last && now > last.t) points.push({ ...last, t: now });
    const data: uPlot.AlignedData = [
      points.map((p) => p.t / 1000),
      points.map((p) => p.charge),
      points.map((p) => p.load),
      points.map((p) => (p.runtime === null ? null : p.runtime / 60)),
    ];
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    const fg = css('--fg', '#1b1f24');
    const grid = css('--line', '#dde1e6');
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    this.plot = new uPlot(
      {
        ...this.size(),
        scales: {
          x: { time: true },
          pct: { range: [0, 100] },
          min: { range: (_u, _lo, hi) => [0, Math.max(1, hi * 1.1)] },
        },
        series: [
          {},
          { label: 'charge %', scale: 'pct', stroke: css('--ok', '#1a7f37'), width: 2, spanGaps: true },
          { label: 'load %', scale: 'pct', stroke: css('--warn', '#b35900'), width: 2, spanGaps: true },
          { label: 'runtime min', scale: 'min', stroke: css('--info', '#1f5fa8'), width: 2, spanGaps: true },
        ],
        axes: [
          { ...axis },
          { ...axis, scale: 'pct', values: (_u, v) => v.map((x) => `${x}%`) },
          { ...axis, scale: 'min', side: 1, grid: { show: false }, values: (_u, v) => v.map((x) => `${x}m`) },
        ],
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
      },
      data,
      this.box,
    );
  }
}
