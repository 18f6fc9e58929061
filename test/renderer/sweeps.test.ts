// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PRESETS } from '../../core/presets';
import { MAX_SWEEP_VALUES } from '../../core/protocol';
import { sweepChartConfig } from '../../renderer/charts';
import ConfirmDialog from '../../renderer/components/ConfirmDialog.vue';
import SweepsView from '../../renderer/components/SweepsView.vue';
import { useDatasetsStore } from '../../renderer/stores/datasets';
import { useRunsStore } from '../../renderer/stores/runs';
import { useSessionStore } from '../../renderer/stores/session';
import { SWEEP_REFRESH_INTERVAL_MS, useSweepsStore } from '../../renderer/stores/sweeps';
import { parseSweepValues } from '../../renderer/sweep-values';
import { passMetrics } from './fake-engine';
import { createHarness, flushPromises } from './harness';

const NEWTON = PRESETS.find((preset) => preset.name === 'newton-1989')!;
const SGD = PRESETS.find((preset) => preset.name === 'sgd-1989')!;

// Only the store's throttle timers are faked: flushPromises waits on setImmediate, which stays real.
beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
afterEach(() => void vi.useRealTimers());

async function datasetReady() {
  const harness = createHarness();
  const dataset = harness.engine.addDataset();
  await useDatasetsStore().refresh();
  return { ...harness, dataset, sweeps: useSweepsStore() };
}

/** A learning-rate sweep of the diagonal Newton preset, created through the store. */
async function created() {
  const ready = await datasetReady();
  const { sweeps } = ready;
  sweeps.presetName = NEWTON.name;
  sweeps.parameter = 'learningRate';
  sweeps.valuesText = '0.001, 0.0003,0.0005';
  sweeps.workers = 2;
  await sweeps.create();
  return { ...ready, sweepId: sweeps.selectedId!, runIds: sweeps.selected!.runs.map((run) => run.runId) };
}

describe('sweeps store', () => {
  it('creates a sweep of the chosen preset’s config, one run per value, and selects it', async () => {
    const { engine, dataset, sweeps, sweepId, runIds } = await created();
    expect(engine.callsOf('createSweep')).toEqual([
      { datasetId: dataset.id, preset: NEWTON.name, config: NEWTON.config, parameter: 'learningRate', values: [0.001, 0.0003, 0.0005], workers: 2 },
    ]);
    expect(sweeps.sweeps.map((sweep) => sweep.id)).toEqual([sweepId]);
    expect(sweeps.selected?.runs.map((run) => [run.value, run.status])).toEqual([
      [0.001, 'queued'],
      [0.0003, 'queued'],
      [0.0005, 'queued'],
    ]);
    // The Runs view lists the sweep's runs as ordinary runs.
    expect(useRunsStore().runs.map((run) => run.id).sort()).toEqual([...runIds].sort());
  });

  it('re-reads the sweep when its runs report, at most once per interval, and never misses the last report', async () => {
    const { engine, sweeps, runIds } = await created();
    const [first, second, third] = runIds as [number, number, number];
    const reads = () => engine.callsOf('getSweep').length;
    const before = reads();
    engine.setStatus(first, 'running');
    engine.finishPass(first, passMetrics(1, 150));
    engine.finishPass(second, passMetrics(1, 120));
    await flushPromises();
    expect(reads()).toBe(before + 1);
    // A run of no known sweep asks for nothing.
    engine.emit({ event: 'passFinished', data: { runId: 9999, metrics: passMetrics(1) } });
    vi.advanceTimersByTime(SWEEP_REFRESH_INTERVAL_MS);
    await flushPromises();
    expect(reads()).toBe(before + 2);
    vi.advanceTimersByTime(SWEEP_REFRESH_INTERVAL_MS);
    await flushPromises();
    expect(reads()).toBe(before + 2);
    expect(sweeps.selected?.runs.map((run) => [run.value, run.passesDone, run.testErrorPercent])).toEqual([
      [0.001, 1, passMetrics(1, 150).test.errorPercent],
      [0.0003, 1, passMetrics(1, 120).test.errorPercent],
      [0.0005, 0, null],
    ]);

    engine.finishPass(third, passMetrics(1, 130));
    engine.setStatus(third, 'finished');
    await flushPromises();
    vi.advanceTimersByTime(SWEEP_REFRESH_INTERVAL_MS);
    await flushPromises();
    const chart = sweepChartConfig(sweeps.selected!);
    const test = chart.data.datasets.find((line) => line.label === 'test')!;
    // One point per value, in value order, whatever order the runs were asked for in.
    expect(test.data).toEqual([
      { x: 0.0003, y: passMetrics(1, 120).test.errorPercent },
      { x: 0.0005, y: passMetrics(1, 130).test.errorPercent },
      { x: 0.001, y: passMetrics(1, 150).test.errorPercent },
    ]);
  });

  it('refuses values the service would refuse, saying which one and why, and sends nothing', async () => {
    const { engine, sweeps } = await datasetReady();
    sweeps.presetName = SGD.name;
    const problemsFor = (parameter: typeof sweeps.parameter, text: string) => {
      sweeps.parameter = parameter;
      sweeps.valuesText = text;
      return sweeps.problems;
    };
    expect(problemsFor('learningRate', '0.03')).toEqual(['a sweep tries 2 to 32 values of the learning rate, separated by commas; 1 given']);
    expect(problemsFor('learningRate', '0.01, abc, 0x10')).toEqual(['"abc" is not a number', '"0x10" is not a number']);
    expect(problemsFor('learningRate', '20, 0.1')).toEqual([expect.stringMatching(/^learning rate 20: .*10/)]);
    expect(problemsFor('passes', '1.5, 2')).toEqual([expect.stringMatching(/^passes 1.5: .*int/i)]);
    expect(problemsFor('trainLimit', '100, 1e2')).toEqual(['training examples 1e2 is given twice']);
    expect(problemsFor('seed', Array.from({ length: MAX_SWEEP_VALUES + 1 }, (_, i) => i).join(','))).toEqual([
      'a sweep tries 2 to 32 values of the seed, separated by commas; 33 given',
    ]);
    expect(sweeps.canCreate).toBe(false);
    await sweeps.create();
    expect(engine.callsOf('createSweep')).toEqual([]);

    problemsFor('seed', '1, 2, 3');
    sweeps.workers = 0;
    expect(sweeps.problems).toEqual(['workers: a whole number from 1 to 64, or empty for one per core']);
    sweeps.workers = '';
    expect(sweeps.canCreate).toBe(true);
  });

  it('reads values with blanks around them, each checked in the base config', () => {
    // A train limit of 0 is out of range whatever the rest; the swept field alone varies.
    expect(parseSweepValues('0, 10', 'trainLimit', NEWTON.config)).toEqual({ ok: false, problems: [expect.stringMatching(/^training examples 0: /)] });
    expect(parseSweepValues(' 10 ,, 20 ', 'trainLimit', NEWTON.config)).toEqual({ ok: true, values: [10, 20] });
  });

  it('says why the service refused a sweep, readably, and keeps the form', async () => {
    const { engine, sweeps } = await datasetReady();
    engine.failNext('createSweep', 'invalid_params', 'createSweep: values: too many');
    await sweeps.create();
    expect(sweeps.error).toBe('The engine refused the request: createSweep: values: too many');
    expect(sweeps.selectedId).toBeNull();
    expect(sweeps.valuesText).toBe('0.01, 0.03, 0.1');
    expect(sweeps.creating).toBe(false);
  });

  it('stops a sweep’s unfinished runs and shows them stopped', async () => {
    const { engine, sweeps, sweepId, runIds } = await created();
    engine.setStatus(runIds[0]!, 'finished');
    await sweeps.stop(sweepId);
    expect(engine.callsOf('stopSweep')).toEqual([{ sweepId }]);
    expect(sweeps.selected?.runs.map((run) => run.status)).toEqual(['finished', 'stopped', 'stopped']);
  });

  it('lists sweeps started elsewhere, newest first, with the session’s refresh', async () => {
    const { engine, dataset } = await datasetReady();
    const config = { seed: 1337, passes: 2, learningRate: 0.03, trainLimit: 100 };
    const older = await engine.api.createSweep({ datasetId: dataset.id, preset: SGD.name, config, parameter: 'seed', values: [1, 2] });
    const newer = await engine.api.createSweep({ datasetId: dataset.id, preset: SGD.name, config, parameter: 'passes', values: [1, 2] });
    await useSessionStore().refreshAll();
    const sweeps = useSweepsStore();
    expect(sweeps.sweeps.map((sweep) => sweep.id)).toEqual([newer.sweepId, older.sweepId]);
    expect(sweeps.selectedId).toBe(newer.sweepId);
  });
});

describe('sweep chart', () => {
  const runs = [
    { runId: 3, value: 0.1, status: 'running' as const, passesDone: 1, trainErrorPercent: 4, testErrorPercent: 6 },
    { runId: 1, value: 0.01, status: 'finished' as const, passesDone: 2, trainErrorPercent: 2, testErrorPercent: 5 },
    { runId: 2, value: 0.03, status: 'queued' as const, passesDone: 0, trainErrorPercent: null, testErrorPercent: null },
  ];

  it('puts learning rates on a logarithmic axis, other parameters on a linear one', () => {
    expect(sweepChartConfig({ parameter: 'learningRate', runs }).options?.scales?.x?.type).toBe('logarithmic');
    expect(sweepChartConfig({ parameter: 'passes', runs }).options?.scales?.x?.type).toBe('linear');
  });

  it('draws train and test error of the runs measured so far, a run still training hollow', () => {
    const config = sweepChartConfig({ parameter: 'learningRate', runs });
    const [train, test] = config.data.datasets;
    expect(train?.data).toEqual([
      { x: 0.01, y: 2 },
      { x: 0.1, y: 4 },
    ]);
    expect(test?.data).toEqual([
      { x: 0.01, y: 5 },
      { x: 0.1, y: 6 },
    ]);
    expect(test?.pointBackgroundColor).toEqual([test?.borderColor, 'transparent']);
    // Seeds are samples: no line joins them.
    expect(sweepChartConfig({ parameter: 'seed', runs }).data.datasets.map((line) => line.showLine)).toEqual([false, false]);
  });
});

describe('Sweeps view', () => {
  it('starts a sweep from the form, charts its runs as they report, and opens a run in the Runs view', async () => {
    const { engine, mount, dataset } = await datasetReady();
    const view = mount(SweepsView);
    await view.find('[data-testid="sweep-parameter"]').setValue('passes');
    await view.find('[data-testid="sweep-values"]').setValue('1, 3');
    expect(view.find('[data-testid="sweep-base-config"]').text()).toContain('passes: swept');
    await view.find('[data-testid="sweep-form"]').trigger('submit');
    await flushPromises();
    expect(engine.callsOf('createSweep')).toEqual([{ datasetId: dataset.id, preset: SGD.name, config: SGD.config, parameter: 'passes', values: [1, 3] }]);
    const [shortRun, longRun] = engine.sweeps[0]!.runIds as [number, number];
    expect(view.find('[data-testid="sweep-chart"]').attributes('data-points')).toBe('0');

    engine.finishPass(shortRun, passMetrics(1, 160));
    engine.setStatus(shortRun, 'finished');
    await flushPromises();
    vi.advanceTimersByTime(SWEEP_REFRESH_INTERVAL_MS);
    await flushPromises();
    // Train and test after the one measured run's last pass.
    expect(view.find('[data-testid="sweep-chart"]').attributes('data-points')).toBe('2');
    const rows = view.findAll('[data-testid="sweep-run-row"]');
    expect(rows.map((row) => [row.attributes('data-run-id'), row.attributes('data-status')])).toEqual([
      [String(shortRun), 'finished'],
      [String(longRun), 'queued'],
    ]);
    expect(rows[0]!.findAll('td').map((cell) => cell.text())).toEqual(['1', `#${shortRun}`, 'finished', '1 / 1', '10.00', '7.97']);
    expect(rows[1]!.findAll('td').map((cell) => cell.text())).toEqual(['3', `#${longRun}`, 'queued', '0 / 3', '–', '–']);

    await rows[1]!.find('[data-testid="sweep-run-open"]').trigger('click');
    await flushPromises();
    expect(useRunsStore().selectedId).toBe(longRun);
    expect(useRunsStore().details[longRun]?.config?.passes).toBe(3);
    expect(useSessionStore().view).toBe('runs');
  });

  it('shows the form’s problems and keeps Start disabled until the values are right', async () => {
    const { mount } = await datasetReady();
    const view = mount(SweepsView);
    await view.find('[data-testid="sweep-values"]').setValue('0.01, fast');
    expect(view.find('[data-testid="sweep-problems"]').text()).toBe('"fast" is not a number');
    expect(view.find('[data-testid="sweep-start"]').attributes('disabled')).toBeDefined();
    await view.find('[data-testid="sweep-values"]').setValue('0.01, 0.02');
    expect(view.find('[data-testid="sweep-problems"]').exists()).toBe(false);
    expect(view.find('[data-testid="sweep-start"]').attributes('disabled')).toBeUndefined();
  });

  it('asks before stopping a sweep, and stops it on confirmation', async () => {
    const { engine, mount, sweepId } = await created();
    const view = mount(SweepsView);
    const dialog = mount(ConfirmDialog);
    await flushPromises();
    await view.find('[data-testid="sweep-stop"]').trigger('click');
    expect(dialog.text()).toContain(`Stop sweep #${sweepId}?`);
    await dialog.find('[data-testid="confirm-cancel"]').trigger('click');
    await flushPromises();
    expect(engine.callsOf('stopSweep')).toEqual([]);
    await view.find('[data-testid="sweep-stop"]').trigger('click');
    await dialog.find('[data-testid="confirm-ok"]').trigger('click');
    await flushPromises();
    expect(engine.callsOf('stopSweep')).toEqual([{ sweepId }]);
    expect(view.findAll('[data-testid="sweep-run-row"]').map((row) => row.attributes('data-status'))).toEqual(['stopped', 'stopped', 'stopped']);
    expect(view.find('[data-testid="sweep-stop"]').attributes('disabled')).toBeDefined();
  });
});
