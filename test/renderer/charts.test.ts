// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { compareChartConfig, passChartConfig } from '../../renderer/charts';
import { passMetrics } from './fake-engine';

describe('pass charts', () => {
  const passes = [passMetrics(1, 198), passMetrics(2, 148), passMetrics(3, 129)];

  it('draws error % per pass for both splits with the paper’s values as flat reference lines', () => {
    const config = passChartConfig(passes, 'errorPercent', 23);
    const byLabel = Object.fromEntries(config.data.datasets.map((dataset) => [dataset.label, dataset.data]));
    expect(byLabel.train).toEqual(passes.map((pass) => ({ x: pass.pass, y: pass.train.errorPercent })));
    expect(byLabel.test).toEqual(passes.map((pass) => ({ x: pass.pass, y: pass.test.errorPercent })));
    expect(byLabel['1989 paper train (0.14 %)']).toEqual([{ x: 1, y: 0.14 }, { x: 23, y: 0.14 }]);
    expect(byLabel['1989 paper test (5.00 %)']).toEqual([{ x: 1, y: 5 }, { x: 23, y: 5 }]);
    expect(config.options?.scales?.y?.type).toBe('linear');
    expect(config.options?.scales?.x?.max).toBe(23);
  });

  it('draws the loss on a logarithmic axis, the paper’s MSE beside it', () => {
    const config = passChartConfig(passes, 'loss', 2);
    expect(config.options?.scales?.y?.type).toBe('logarithmic');
    const labels = config.data.datasets.map((dataset) => dataset.label);
    expect(labels).toEqual(['train', 'test', '1989 paper train (2.5e-3)', '1989 paper test (1.8e-2)']);
    // A run past its plan (resumed with more passes) widens the axis rather than running off it.
    expect(config.options?.scales?.x?.max).toBe(3);
  });

  it('puts two runs on one chart, each split of each run its own line', () => {
    const config = compareChartConfig(
      [
        { label: '#1', passes },
        { label: '#2', passes: passes.slice(0, 2) },
      ],
      'errorPercent',
    );
    const runLines = config.data.datasets.filter((dataset) => dataset.label?.startsWith('#'));
    expect(runLines.map((dataset) => [dataset.label, dataset.data.length])).toEqual([
      ['#1 train', 3],
      ['#1 test', 3],
      ['#2 train', 2],
      ['#2 test', 2],
    ]);
    expect(new Set(runLines.map((dataset) => dataset.borderColor)).size).toBe(4);
  });
});
