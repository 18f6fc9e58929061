/**
 * The per-pass curves as chart.js configurations: pure data, so what a chart shows is tested without a canvas.
 */
import type { ChartConfiguration, ChartDataset } from 'chart.js';
import { PAPER_1989 } from '../core/reference';
import type { PassMetrics, SweepInfo } from '../core/protocol';
import { PARAMETER_LABELS } from './run-settings';

export type Metric = 'errorPercent' | 'loss';
export type LineChartConfig = ChartConfiguration<'line', { x: number; y: number }[]>;
type LineDataset = ChartDataset<'line', { x: number; y: number }[]>;

export const METRIC_TITLE: Record<Metric, string> = { errorPercent: 'error %', loss: 'loss (MSE)' };

/** Train and test per run; a second run in a comparison takes the second pair. */
const SPLIT_COLOURS = [
  { train: '#2f6fb3', test: '#d9731a' },
  { train: '#7b4fb8', test: '#2a9d6f' },
] as const;
const REFERENCE_COLOUR = '#8a8f98';

type Passes = readonly Pick<PassMetrics, 'pass' | 'train' | 'test'>[];

function points(passes: Passes, split: 'train' | 'test', metric: Metric) {
  return passes.map((pass) => ({ x: pass.pass, y: pass[split][metric] }));
}

/** One run's two curves for `metric`. */
export function runDatasets(passes: Passes, metric: Metric, label = '', colourIndex = 0): LineDataset[] {
  const colours = SPLIT_COLOURS[colourIndex % SPLIT_COLOURS.length]!;
  const prefix = label === '' ? '' : `${label} `;
  return (['train', 'test'] as const).map((split) => ({
    label: `${prefix}${split}`,
    data: points(passes, split, metric),
    borderColor: colours[split],
    backgroundColor: colours[split],
    borderWidth: 2,
    pointRadius: 2,
    // Train dashed, test solid: the split reads the same way whichever run's colour it has.
    borderDash: split === 'train' ? [5, 3] : [],
  }));
}

/** The paper's values after its 23 passes, as flat lines across the chart. */
export function paperDatasets(metric: Metric, lastPass: number): LineDataset[] {
  return (['train', 'test'] as const).map((split) => ({
    label: `${PAPER_1989.label} ${split} (${formatReference(PAPER_1989[split][metric], metric)})`,
    data: [
      { x: 1, y: PAPER_1989[split][metric] },
      { x: Math.max(lastPass, 2), y: PAPER_1989[split][metric] },
    ],
    borderColor: REFERENCE_COLOUR,
    backgroundColor: REFERENCE_COLOUR,
    borderWidth: 1,
    borderDash: split === 'train' ? [2, 4] : [8, 4],
    pointRadius: 0,
  }));
}

function formatReference(value: number, metric: Metric): string {
  return metric === 'loss' ? value.toExponential(1) : `${value.toFixed(2)} %`;
}

type XScale = NonNullable<NonNullable<LineChartConfig['options']>['scales']>['x'];

/** Error % on a linear axis; loss on a logarithmic one, where its decades of decline read as a slope. */
function chartConfig(datasets: LineDataset[], metric: Metric, x: XScale): LineChartConfig {
  return {
    type: 'line',
    data: { datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      scales: {
        x,
        y: { type: metric === 'loss' ? 'logarithmic' : 'linear', title: { display: true, text: METRIC_TITLE[metric] }, ...(metric === 'errorPercent' ? { min: 0 } : {}) },
      },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 18 } } },
    },
  };
}

function lineChartConfig(datasets: LineDataset[], metric: Metric, lastPass: number): LineChartConfig {
  return chartConfig(datasets, metric, { type: 'linear', min: 1, max: Math.max(lastPass, 2), title: { display: true, text: 'pass' }, ticks: { precision: 0 } });
}

/** A run's curves for one metric, with the paper's values beside them. */
export function passChartConfig(passes: Passes, metric: Metric, plannedPasses: number): LineChartConfig {
  const lastPass = Math.max(plannedPasses, passes.at(-1)?.pass ?? 1);
  return lineChartConfig([...runDatasets(passes, metric), ...paperDatasets(metric, lastPass)], metric, lastPass);
}

/** Several runs' curves for one metric on one chart. */
export function compareChartConfig(runs: readonly { label: string; passes: Passes }[], metric: Metric): LineChartConfig {
  const lastPass = Math.max(2, ...runs.map((run) => run.passes.at(-1)?.pass ?? 1));
  const datasets = runs.flatMap((run, index) => runDatasets(run.passes, metric, run.label, index));
  return lineChartConfig([...datasets, ...paperDatasets(metric, lastPass)], metric, lastPass);
}

/**
 * A sweep's error % after each run's last pass against the swept value, train and test. A run still training is
 * drawn hollow: its point will move. Learning rates are spread over decades, so theirs is a logarithmic axis.
 */
export function sweepChartConfig(sweep: Pick<SweepInfo, 'parameter' | 'runs'>): LineChartConfig {
  const runs = [...sweep.runs].sort((a, b) => a.value - b.value);
  const colours = SPLIT_COLOURS[0];
  const datasets = (['train', 'test'] as const).map((split): LineDataset => {
    const measured = runs.flatMap((run) => {
      const y = split === 'train' ? run.trainErrorPercent : run.testErrorPercent;
      return y === null ? [] : [{ x: run.value, y, finished: run.status === 'finished' }];
    });
    return {
      label: split,
      data: measured.map(({ x, y }) => ({ x, y })),
      borderColor: colours[split],
      backgroundColor: colours[split],
      pointBackgroundColor: measured.map((point) => (point.finished ? colours[split] : 'transparent')),
      borderWidth: 2,
      pointRadius: 4,
      borderDash: split === 'train' ? [5, 3] : [],
      // Runs of different seeds are samples, not a curve.
      showLine: sweep.parameter !== 'seed',
    };
  });
  const title = { display: true, text: PARAMETER_LABELS[sweep.parameter] };
  return chartConfig(datasets, 'errorPercent', sweep.parameter === 'learningRate' ? { type: 'logarithmic', title } : { type: 'linear', title });
}
