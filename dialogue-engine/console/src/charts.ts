// ECharts, tree-shaken to what the console draws, with the SVG renderer: crisp at any zoom, printable,
// and its bars and labels are real DOM elements the browser tests can count and read.
import { init, use, type EChartsCoreOption, type ECharts } from 'echarts/core';
import { BarChart, LineChart, ScatterChart } from 'echarts/charts';
import { AriaComponent, DataZoomComponent, GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';

use([BarChart, LineChart, ScatterChart, AriaComponent, DataZoomComponent, GridComponent, LegendComponent, TooltipComponent, SVGRenderer]);

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

/** Draws an option into el (which gets data-chart=name), resizing with its box. */
export function drawChart(el: HTMLElement, option: EChartsCoreOption, name: string, scope: Scope): ECharts {
  el.dataset.chart = name;
  const chart = init(el, undefined, { renderer: 'svg' });
  chart.setOption(option);
  const observer = new ResizeObserver(() => chart.resize());
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
