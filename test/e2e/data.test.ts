// The Data view in a real browser: the four MNIST files through the page's file input (gzip, then raw), a corrupt
// file refused with a readable message, and the preview grid of the 1989-style subset with its labels.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, IMAGE_PIXELS, INPUT_PIXELS, resize28to16, TRAIN_SIZE } from '../../core/subset';
import { STANDARD_FILE_NAMES } from '../../core/mnist';
import { legacyPermutation, MT19937 } from '../../core/rng';
import {
  canvasPixels,
  eventually,
  MNIST_DIR,
  MNIST_FILE_NAMES,
  openApp,
  rowCells,
  screenshotOnFailure,
  SLOW_STEP_MS,
  STEP_MS,
  subsetLabels,
  TEST_MS,
  textOf,
  type E2eApp,
} from './support';

let app: E2eApp;

beforeAll(async () => {
  app = await openApp('data');
}, SLOW_STEP_MS);

afterAll(async () => {
  await app?.close();
}, STEP_MS);

screenshotOnFailure(() => app);

/** What the dataset list shows, row by row; the list must not change when an import fails or repeats. */
const datasetRows = () => rowCells(app.page.getByTestId('dataset-row'));

describe('loading MNIST through the file input', () => {
  it('imports the four gzip files and previews the subset: digits with their labels, and the class counts', async () => {
    const { page } = app;
    expect(await page.getByTestId('dataset-row').count()).toBe(0);

    const gzipDir = join(app.work, 'gzip');
    mkdirSync(gzipDir);
    // Level 1: the test needs gzip, not a small file, and the 47 MB image file compresses fastest so.
    const gzipPaths = MNIST_FILE_NAMES.map((name) => {
      const path = join(gzipDir, `${name}.gz`);
      writeFileSync(path, gzipSync(readFileSync(join(MNIST_DIR, name)), { level: 1 }));
      return path;
    });
    await page.getByTestId('mnist-file-input').setInputFiles(gzipPaths);

    await eventually(() => textOf(page.getByTestId('import-result')), SLOW_STEP_MS).toMatch(/^Imported "/);
    expect(await page.getByTestId('import-error').count()).toBe(0);
    const rows = await datasetRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.slice(1, 4)).toEqual(['60,000', '10,000', '0']);

    // The preview: the first page of the training split, the subset's first 64 digits in the order seed 1337 drew them.
    const preview = page.getByTestId('digit-preview');
    const digits = preview.locator('li');
    await eventually(() => digits.count()).toBe(64);
    const expectedLabels = subsetLabels().train;
    const shownLabels = await digits.locator('span').allTextContents();
    expect(shownLabels.map(Number)).toEqual(expectedLabels.slice(0, 64));
    const canvasLabels = await digits.locator('canvas').evaluateAll((canvases) => canvases.map((canvas) => canvas.getAttribute('aria-label')));
    expect(canvasLabels).toEqual(expectedLabels.slice(0, 64).map((label, index) => `train digit ${index}: ${label}`));

    // Each digit is drawn as the network sees it: 16×16, -1 white to +1 black (renderer/pixels.ts's ink palette).
    const trainImages = readFileSync(join(MNIST_DIR, STANDARD_FILE_NAMES.train.images)).subarray(16);
    const order = legacyPermutation(new MT19937(DEFAULT_SEED), 60_000);
    for (let i = 0; i < 4; i++) {
      const source = order[i]!;
      const image = Float32Array.from(trainImages.subarray(source * IMAGE_PIXELS, (source + 1) * IMAGE_PIXELS), (byte) => byte / 127.5 - 1);
      const input = new Float32Array(INPUT_PIXELS);
      resize28to16(image, 0, input, 0);
      const { width, height, rgba } = await canvasPixels(digits.nth(i).locator('canvas'));
      expect([width, height]).toEqual([16, 16]);
      const greys = Array.from(input, (_, p) => rgba[4 * p]!);
      const expectedGreys = Array.from(input, (value) => 255 * (1 - (value + 1) / 2));
      const worst = Math.max(...greys.map((grey, p) => Math.abs(grey - expectedGreys[p]!)));
      expect(worst, `digit ${i} (MNIST train #${source}) drawn off by ${worst} grey levels`).toBeLessThanOrEqual(2);
    }

    const counts = await rowCells(page.getByTestId('class-counts').locator('tbody tr'));
    const expectedCounts = Array.from({ length: 10 }, (_, digit) => expectedLabels.filter((label) => label === digit).length);
    expect(counts.map((cells) => cells.slice(0, 2))).toEqual(expectedCounts.map((count, digit) => [String(digit), count.toLocaleString('en-US')]));
    expect(expectedCounts.reduce((sum, count) => sum + count, 0)).toBe(TRAIN_SIZE);
    await app.screenshot('data');
  }, TEST_MS);

  it('reports the same files given raw as already present, and still lists one dataset', async () => {
    const { page } = app;
    const before = await datasetRows();
    await page.getByTestId('mnist-file-input').setInputFiles(MNIST_FILE_NAMES.map((name) => join(MNIST_DIR, name)));
    await eventually(() => textOf(page.getByTestId('import-result')), SLOW_STEP_MS).toMatch(/^These files are already stored as "/);
    expect(await page.getByTestId('import-error').count()).toBe(0);
    expect(await datasetRows()).toEqual(before);
  }, TEST_MS);

  it('refuses a corrupt file with a readable message naming it, and leaves the dataset list as it was', async () => {
    const { page } = app;
    const before = await datasetRows();
    const corruptDir = join(app.work, 'corrupt');
    mkdirSync(corruptDir);
    const paths = MNIST_FILE_NAMES.map((name) => join(corruptDir, name));
    for (const [index, name] of MNIST_FILE_NAMES.entries()) {
      if (name === STANDARD_FILE_NAMES.train.images) continue;
      copyFileSync(join(MNIST_DIR, name), paths[index]!);
    }
    // A download cut short: the header still promises 60,000 images.
    const trainImages = paths[MNIST_FILE_NAMES.indexOf(STANDARD_FILE_NAMES.train.images)]!;
    writeFileSync(trainImages, readFileSync(join(MNIST_DIR, STANDARD_FILE_NAMES.train.images)).subarray(0, 100_000));
    await page.getByTestId('mnist-file-input').setInputFiles(paths);

    const error = page.getByTestId('import-error');
    await error.waitFor({ timeout: SLOW_STEP_MS });
    const message = await textOf(error);
    expect(message).toContain(STANDARD_FILE_NAMES.train.images);
    expect(message).toMatch(/100000 bytes.*47040016/);
    // A sentence, not a stack trace or a serialised object.
    expect(await error.textContent()).not.toMatch(/\n\s+at |undefined|\[object/);
    expect(await page.getByTestId('import-result').count()).toBe(0);
    expect(await datasetRows()).toEqual(before);
    await app.screenshot('data-corrupt-file');
    expect(app.pageErrors).toEqual([]);
  }, TEST_MS);
});
