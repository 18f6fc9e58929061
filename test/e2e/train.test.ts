// The Train view in a real browser: a short run fills the per-pass table for both splits with exactly the numbers
// the engine computes, the charts draw it, the published reference values sit beside it; and a longer run is
// paused, stopped and resumed to the end.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SIZE, TRAIN_SIZE } from '../../core/subset';
import {
  eventually,
  importBundledMnist,
  openApp,
  openView,
  pixelsOfColour,
  rowCells,
  screenshotOnFailure,
  SLOW_STEP_MS,
  STEP_MS,
  TEST_MS,
  textOf,
  type E2eApp,
} from './support';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'core', 'cli.js');

let app: E2eApp;

beforeAll(async () => {
  app = await openApp('train');
  await importBundledMnist(app.page);
  await openView(app.page, 'train');
}, TEST_MS);

afterAll(async () => {
  await app?.close();
}, STEP_MS);

screenshotOnFailure(() => app);

interface SplitMetrics {
  loss: number;
  errorPercent: number;
  misses: number;
}
interface PassLine {
  pass: number;
  train: SplitMetrics;
  test: SplitMetrics;
}

/** The same run through the CLI (seed 1337, SGD 0.03): the numbers the app must show. */
async function cliPasses(passes: number, trainLimit: number | null): Promise<PassLine[]> {
  const limit = trainLimit === null ? [] : ['--train-limit', String(trainLimit)];
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'train', '--json', '--no-db', '--passes', String(passes), ...limit]);
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as PassLine);
}

/** A row of the pass table as the app formats it (renderer/format.ts). */
function expectedCells(line: PassLine): string[] {
  const split = (metrics: SplitMetrics) => [metrics.loss.toExponential(2), metrics.errorPercent.toFixed(2), metrics.misses.toLocaleString('en-US')];
  return [String(line.pass), ...split(line.train), ...split(line.test)];
}

const passRows = (page: Page) => page.getByTestId('pass-table').getByTestId('pass-row');
const runStatus = (page: Page) => textOf(page.getByTestId('run-status'));

/** The series colours of renderer/charts.ts: pixels of them on a chart are its curves (and their legend boxes). */
const TRAIN_BLUE = [0x2f, 0x6f, 0xb3] as const;
const TEST_ORANGE = [0xd9, 0x73, 0x1a] as const;

async function setRunForm(page: Page, passes: number, trainLimit: number | null): Promise<void> {
  await page.getByTestId('passes').fill(String(passes));
  await page.getByTestId('train-limit').fill(trainLimit === null ? '' : String(trainLimit));
  expect(await page.getByTestId('learning-rate').inputValue()).toBe('0.03');
  expect(await page.getByTestId('seed').inputValue()).toBe('1337');
}

describe('a short run', () => {
  it('fills the pass table for both splits with the engine’s numbers, draws the charts, and shows the 1989 values beside them', async () => {
    const { page } = app;
    const expected = cliPasses(2, 300);
    const baseline = {
      train: await pixelsOfColour(page.getByTestId('error-chart'), TRAIN_BLUE),
      test: await pixelsOfColour(page.getByTestId('error-chart'), TEST_ORANGE),
    };
    expect(await passRows(page).count()).toBe(0);

    await setRunForm(page, 2, 300);
    await page.getByTestId('start-button').click();
    await eventually(() => runStatus(page), SLOW_STEP_MS).toBe('finished');
    await eventually(() => passRows(page).count()).toBe(2);

    const shown = await rowCells(passRows(page));
    const lines = await expected;
    expect(lines.map((line) => line.pass)).toEqual([1, 2]);
    expect(shown.map((cells) => cells.slice(0, 7))).toEqual(lines.map(expectedCells));
    // Train error is counted over the whole 7,291-digit split even when training saw only 300; test over 2,007.
    for (const line of lines) {
      expect(line.train.misses).toBe(Math.round((line.train.errorPercent * TRAIN_SIZE) / 100));
      expect(line.test.misses).toBe(Math.round((line.test.errorPercent * TEST_SIZE) / 100));
    }
    // Two passes on 300 digits learn something: the test error falls from the first pass to the second.
    expect(lines[1]!.test.errorPercent).toBeLessThan(lines[0]!.test.errorPercent);

    // Beside the table: the 1989 paper after 23 passes and the public reproduction's published final values.
    const references = await rowCells(page.getByTestId('pass-table').getByTestId('reference-row'));
    expect(references.map((cells) => cells.slice(1, 7))).toEqual([
      ['2.50e-3', '0.14', '10', '1.80e-2', '5.00', '102'],
      ['4.07e-3', '0.62', '45', '2.84e-2', '4.09', '82'],
    ]);
    expect(references[0]![0]).toMatch(/1989 paper.*23/);
    expect(references[1]![0]).toMatch(/reproduction.*23/);

    // Both charts hold the two passes of both splits and the paper's two reference lines, and draw the curves.
    for (const chart of ['error-chart', 'loss-chart']) expect(await page.getByTestId(chart).getAttribute('data-points')).toBe('8');
    await eventually(() => pixelsOfColour(page.getByTestId('error-chart'), TRAIN_BLUE)).toBeGreaterThan(baseline.train + 200);
    await eventually(() => pixelsOfColour(page.getByTestId('error-chart'), TEST_ORANGE)).toBeGreaterThan(baseline.test + 200);
    await app.screenshot('train');
  }, TEST_MS);
});

describe('a longer run', () => {
  it('pauses, resumes, stops, and resumes again to its last pass, as one run', async () => {
    const { page } = app;
    const PASSES = 6;
    // All 7,291 digits per pass, so that there is time to press the buttons while it trains.
    const uninterrupted = cliPasses(PASSES, null);
    await setRunForm(page, PASSES, null);
    await page.getByTestId('start-button').click();
    await eventually(() => runStatus(page)).toBe('running');
    const heading = await textOf(page.locator('#run-status-title'));
    expect(heading).toMatch(/^Run #\d+/);
    // The progress line says how far the pass is and how fast it goes.
    await eventually(() => textOf(page.getByTestId('training-progress'))).toMatch(new RegExp(`pass \\d+ of ${PASSES} .*examples/s .*ETA`));

    await page.getByTestId('pause-button').click();
    await eventually(() => runStatus(page)).toBe('paused');
    expect(await page.getByTestId('resume-button').isEnabled()).toBe(true);
    expect(await page.getByTestId('pause-button').isDisabled()).toBe(true);
    const pausedAt = await passRows(page).count();
    expect(pausedAt).toBeLessThan(PASSES);
    // A paused run trains no further.
    await page.waitForTimeout(1_500);
    expect(await passRows(page).count()).toBe(pausedAt);
    expect(await runStatus(page)).toBe('paused');
    await app.screenshot('train-paused');

    await page.getByTestId('resume-button').click();
    await eventually(() => runStatus(page)).toBe('running');
    await page.getByTestId('stop-button').click();
    await eventually(() => runStatus(page)).toBe('stopped');
    expect(await page.getByTestId('stop-button').isDisabled()).toBe(true);
    const stoppedAt = await passRows(page).count();
    expect(stoppedAt).toBeLessThan(PASSES);

    await page.getByTestId('resume-button').click();
    await eventually(() => runStatus(page), SLOW_STEP_MS).toBe('finished');
    // Still the same run, each pass listed once, in order.
    expect(await textOf(page.locator('#run-status-title'))).toBe(heading);
    await eventually(() => passRows(page).count()).toBe(PASSES);
    const passes = await passRows(page).evaluateAll((rows) => rows.map((row) => Number(row.getAttribute('data-pass'))));
    expect(passes).toEqual(Array.from({ length: PASSES }, (_, i) => i + 1));
    // Resumed from its last finished pass each time, it ends exactly where a run never interrupted ends.
    const shown = await rowCells(passRows(page));
    expect(shown.map((cells) => cells.slice(0, 7))).toEqual((await uninterrupted).map(expectedCells));
    for (const button of ['pause-button', 'stop-button', 'resume-button']) expect(await page.getByTestId(button).isDisabled()).toBe(true);
    expect(app.pageErrors).toEqual([]);
  }, TEST_MS);
});
