// ECharts, tree-shaken to what the console draws, with the SVG renderer: crisp at any zoom, printable,
// and its bars and labels are real DOM elements the browser tests can count and read.
import { init, use, type EChartsCoreOption, type ECharts } from 'echarts/core';
import { BarChart, LineChart, ScatterChart } from 'echarts/charts';
import { AriaComponent, DataZoomComponent, GridComponent, LegendComponent, TitleComponent, TooltipComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';

use([BarChart, LineChart, ScatterChart, AriaComponent, DataZoomComponent, GridComponent, LegendComponent, TitleComponent, TooltipComponent, SVGRenderer]);

/** Charts and listeners of the current view, disposed together when the view changes. */
export class Scope {
  private readonly cleanups: (() => void)[] = [];
  readonly abort = new AbortController();

  add(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get disposed(): boolean {
    return this.abort.signal.aborted;
  }

  dispose(): void {
    this.abort.abort();
    for (const c of this.cleanups.splice(0)) c();
  }
}

/** Below this width a chart gets its compact option (shorter axis labels). */
export const NARROW = 560;

/**
 * Draws an option into el (which gets data-chart=name), resizing with its box. An option given as a
 * function of "narrow" is rebuilt when the box crosses NARROW.
 */
export function drawChart(el: HTMLElement, option: EChartsCoreOption | ((narrow: boolean) => EChartsCoreOption), name: string, scope: Scope): ECharts {
  el.dataset.chart = name;
  const chart = init(el, undefined, { renderer: 'svg' });
  let narrow = el.clientWidth > 0 && el.clientWidth < NARROW;
  chart.setOption(typeof option === 'function' ? option(narrow) : option);
  const observer = new ResizeObserver(() => {
    const now = el.clientWidth > 0 && el.clientWidth < NARROW;
    if (typeof option === 'function' && now !== narrow) {
      narrow = now;
      chart.setOption(option(narrow), { notMerge: true });
    }
    chart.resize();
  });
  observer.observe(el);
  scope.add(() => {
    observer.disconnect();
    chart.dispose();
  });
  // Marked once the first frame is drawn, so tests (and people) know the numbers are on screen.
  chart.on('finished', () => {
    el.dataset.rendered = 'true';
  });
  return chart;
}
