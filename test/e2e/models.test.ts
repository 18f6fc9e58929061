// A trained model in a real browser: its weights exported as a download and imported back through the file input
// (Runs view), its misclassified test digits and confusion matrix, and a digit drawn on the pad (Inspect view).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PARAMETER_COUNT } from '../../core/network';
import { CLASSES, TEST_SIZE } from '../../core/subset';
import { decodeWeights } from '../../core/weights';
import {
  canvasPixels,
  eventually,
  importBundledMnist,
  openApp,
  openView,
  rowCells,
  screenshotOnFailure,
  SLOW_STEP_MS,
  STEP_MS,
  subsetLabels,
  TEST_MS,
  textOf,
  type E2eApp,
} from './support';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'core', 'cli.js');

let app: E2eApp;
/** The run trained here (one pass over all 7,291 digits) and what its pass table says about the test split. */
let trained: { id: number; testCells: string[] };

beforeAll(async () => {
  app = await openApp('models');
  const { page } = app;
  await importBundledMnist(page);
  await openView(page, 'train');
  await page.getByTestId('passes').fill('1');
  await page.getByTestId('train-limit').fill('');
  await page.getByTestId('start-button').click();
  await page.locator('[data-testid="run-status"]', { hasText: /^finished$/ }).waitFor({ timeout: SLOW_STEP_MS });
  const row = page.getByTestId('pass-table').getByTestId('pass-row');
  await row.waitFor();
  const cells = (await rowCells(row))[0]!;
  const id = Number(/^Run #(\d+)/.exec(await textOf(page.locator('#run-status-title')))?.[1]);
  expect(id).toBeGreaterThan(0);
  trained = { id, testCells: cells.slice(4, 7) };
}, TEST_MS);

afterAll(async () => {
  await app?.close();
}, STEP_MS);

screenshotOnFailure(() => app);

const runRow = (page: Page, runId: number) => page.locator(`[data-testid="run-row"][data-run-id="${runId}"]`);

/** What the gallery's summary line says: "198 misses, 9.87 % error, loss 6.35e-2". */
async function gallerySummary(page: Page): Promise<{ misses: string; errorPercent: string; loss: string }> {
  const summary = page.getByTestId('misclassified-gallery').locator('p').first();
  await summary.waitFor({ timeout: SLOW_STEP_MS });
  const match = /^([\d,]+) misses, ([\d.]+) % error, loss (\S+)/.exec(await textOf(summary));
  expect(match, await textOf(summary)).not.toBeNull();
  return { misses: match![1]!, errorPercent: match![2]!, loss: match![3]! };
}

describe('weights on the Runs view', () => {
  it('exports a checkpoint as a safetensors download and imports it back as a new model in the runs list', async () => {
    const { page } = app;
    await openView(page, 'runs');
    await runRow(page, trained.id).getByRole('button', { name: `#${trained.id}`, exact: true }).click();
    await page.getByTestId('run-detail').waitFor();
    const checkpoint = page.locator('[data-testid="checkpoint-row"][data-pass="1"]');
    await checkpoint.waitFor();

    const cliWeights = join(app.work, 'cli.safetensors');
    const expectedWeights = promisify(execFile)(process.execPath, [CLI, 'train', '--no-db', '--json', '--passes', '1', '--save', cliWeights]);
    const [download] = await Promise.all([page.waitForEvent('download'), checkpoint.getByTestId('checkpoint-export').click()]);
    expect(download.suggestedFilename()).toBe(`lecun1989-run${trained.id}-pass1.safetensors`);
    const exportedPath = join(app.work, download.suggestedFilename());
    await download.saveAs(exportedPath);
    await eventually(() => textOf(page.getByTestId('runs-notice'))).toBe(`Exported the weights of run #${trained.id} after pass 1.`);

    // The file is the network after that pass: the very weights the CLI trains with the same settings.
    const exported = decodeWeights(readFileSync(exportedPath), exportedPath).parameters;
    expect(exported).toHaveLength(PARAMETER_COUNT);
    await expectedWeights;
    expect(exported).toEqual(decodeWeights(readFileSync(cliWeights), cliWeights).parameters);

    const runsBefore = await page.getByTestId('run-row').count();
    await page.getByTestId('weights-file-input').setInputFiles(exportedPath);
    await eventually(() => textOf(page.getByTestId('runs-notice'))).toMatch(/^Imported the weights as run #\d+\.$/);
    const importedId = Number(/#(\d+)/.exec(await textOf(page.getByTestId('runs-notice')))![1]);
    expect(importedId).toBeGreaterThan(trained.id);
    expect(await page.getByTestId('run-row').count()).toBe(runsBefore + 1);
    const imported = runRow(page, importedId);
    const cells = (await rowCells(imported))[0]!;
    expect(cells[2]).toBe('imported weights');
    expect(await page.getByTestId('runs-error').count()).toBe(0);
    // The imported model is shown in detail, with its one checkpoint: the weights as given.
    expect(await textOf(page.locator('#run-detail-title'))).toMatch(new RegExp(`^Run #${importedId} · imported weights`));
    await page.locator('[data-testid="checkpoint-row"][data-pass="0"]').waitFor();
    await app.screenshot('runs');

    // Evaluated on the same test digits, the imported copy misses exactly what the trained run's pass table says.
    await openView(page, 'inspect');
    expect(await textOf(page.getByTestId('inspect-model'))).toContain(`run #${importedId}`);
    const summary = await gallerySummary(page);
    expect([summary.loss, summary.errorPercent, summary.misses]).toEqual(trained.testCells);
    // Let this evaluation finish (the gallery's pixels arrive last) before the next test picks another model: the
    // inspect store drops an evaluation asked for while one is in flight, so that model would never be evaluated.
    await page.getByText('Evaluating the test split…').waitFor({ state: 'detached', timeout: SLOW_STEP_MS });
  }, TEST_MS);
});

describe('the Inspect view', () => {
  it('shows the misclassified test digits with their true and predicted labels, and the confusion matrix', async () => {
    const { page } = app;
    await openView(page, 'runs');
    await runRow(page, trained.id).getByRole('button', { name: `#${trained.id}`, exact: true }).click();
    await page.locator('[data-testid="checkpoint-row"][data-pass="1"]').getByTestId('checkpoint-inspect').click();
    await page.locator('[data-testid="nav-inspect"][aria-current="page"]').waitFor();
    await eventually(() => textOf(page.getByTestId('inspect-model'))).toMatch(new RegExp(`^run #${trained.id} .*after pass 1`));

    const summary = await gallerySummary(page);
    expect([summary.loss, summary.errorPercent, summary.misses]).toEqual(trained.testCells);
    const misses = Number(summary.misses.replace(/,/g, ''));
    // One pass leaves a few hundred misses: all of them fit in the gallery (it shows up to 1,024).
    expect(misses).toBeGreaterThan(0);
    expect(misses).toBeLessThan(1024);

    // Every digit in the gallery is a test digit the model got wrong: its true label is the dataset's, the predicted one differs.
    const items = page.getByTestId('misclassified-item');
    await eventually(() => items.count()).toBe(misses);
    await page.locator('[data-testid="misclassified-item"]:not([disabled])').first().waitFor();
    const entries = await items.evaluateAll((buttons) =>
      buttons.map((button) => ({
        index: Number(button.getAttribute('data-index')),
        label: Number(button.getAttribute('data-label')),
        predicted: Number(button.getAttribute('data-predicted')),
        caption: (button.textContent ?? '').trim(),
        drawn: button.querySelector('canvas') !== null,
      })),
    );
    const testLabels = subsetLabels().test;
    for (const entry of entries) {
      expect(entry.label, `test digit ${entry.index}`).toBe(testLabels[entry.index]);
      expect(entry.predicted).not.toBe(entry.label);
      expect(entry.caption).toBe(`${entry.label}→${entry.predicted}`);
      expect(entry.drawn).toBe(true);
    }
    expect(new Set(entries.map((entry) => entry.index)).size).toBe(entries.length);
    const firstDigit = await canvasPixels(items.first().locator('canvas'));
    expect(new Set(firstDigit.rgba).size, 'the first misclassified digit is drawn, not blank').toBeGreaterThan(10);

    // The confusion matrix: rows are the true digits (their counts in the test split), the diagonal what was right.
    const matrix = await rowCells(page.getByTestId('confusion-matrix').locator('tbody tr'));
    expect(matrix.map((cells) => cells[0])).toEqual(Array.from({ length: CLASSES }, (_, digit) => String(digit)));
    const counts = matrix.map((cells) => cells.slice(1).map(Number));
    const rowSums = counts.map((row) => row.reduce((sum, count) => sum + count, 0));
    expect(rowSums).toEqual(Array.from({ length: CLASSES }, (_, digit) => testLabels.filter((label) => label === digit).length));
    expect(rowSums.reduce((sum, count) => sum + count, 0)).toBe(TEST_SIZE);
    const offDiagonal = counts.flatMap((row, truth) => row.filter((_, predicted) => predicted !== truth)).reduce((sum, count) => sum + count, 0);
    expect(offDiagonal).toBe(misses);
    for (let truth = 0; truth < CLASSES; truth++) {
      for (let predicted = 0; predicted < CLASSES; predicted++) {
        if (truth === predicted) continue;
        const inGallery = entries.filter((entry) => entry.label === truth && entry.predicted === predicted).length;
        expect(counts[truth]![predicted], `true ${truth}, predicted ${predicted}`).toBe(inGallery);
      }
    }
    await app.screenshot('inspect');
  }, TEST_MS);

  it('predicts a digit drawn on the pad with the mouse', async () => {
    const { page } = app;
    const pad = page.getByTestId('draw-pad');
    await pad.scrollIntoViewIfNeeded();
    expect(await page.getByTestId('prediction').count()).toBe(0);
    const box = (await pad.boundingBox())!;

    // A "1": one stroke down the middle of the pad.
    await page.mouse.move(box.x + box.width * 0.52, box.y + box.height * 0.15);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.48, box.y + box.height * 0.85, { steps: 12 });
    await page.mouse.up();
    await eventually(() => page.getByTestId('prediction').getAttribute('data-digit')).toBe('1');
    const bars = await page.getByTestId('output-bars').locator('li').allInnerTexts();
    expect(bars).toHaveLength(CLASSES);
    const outputs = bars.map((bar) => Number(bar.trim().split(/\s+/).at(-1)));
    for (const output of outputs) expect(Math.abs(output)).toBeLessThanOrEqual(1);
    expect(outputs.indexOf(Math.max(...outputs))).toBe(1);
    // What the network was given: the stroke, fitted and centred into 16×16, drawn beside the pad.
    const input = await canvasPixels(page.getByTestId('drawing-input'));
    expect([input.width, input.height]).toEqual([16, 16]);
    const inked = input.rgba.filter((_, i) => i % 4 === 0).filter((grey) => grey < 128).length;
    expect(inked).toBeGreaterThan(8);
    await app.screenshot('inspect-drawing');

    // Cleared, the pad says nothing; a "0" drawn as a loop is read as one.
    await page.getByTestId('draw-clear').click();
    await eventually(() => page.getByTestId('prediction').count()).toBe(0);
    const centre = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    const loop = Array.from({ length: 41 }, (_, step) => {
      const angle = (2 * Math.PI * step) / 40 - Math.PI / 2;
      return { x: centre.x + box.width * 0.25 * Math.cos(angle), y: centre.y + box.height * 0.36 * Math.sin(angle) };
    });
    await page.mouse.move(loop[0]!.x, loop[0]!.y);
    await page.mouse.down();
    for (const point of loop.slice(1)) await page.mouse.move(point.x, point.y);
    await page.mouse.up();
    await eventually(() => page.getByTestId('prediction').getAttribute('data-digit')).toBe('0');
    expect(app.pageErrors).toEqual([]);
  }, TEST_MS);
});
