/**
 * What the command line prints: for people, the per-pass table with the published figures beside it and a progress
 * bar on a terminal's stderr; for programs, one JSON line per pass and nothing else on stdout.
 */
import { REFERENCE_RESULTS } from '../reference';
import type { ReferenceSplit } from '../reference';
import type { SplitMetrics } from '../train';

interface Column {
  title: string;
  width: number;
}

const COLUMNS: Column[] = [
  { title: 'pass', width: 4 },
  { title: 'train loss', width: 12 },
  { title: 'error %', width: 7 },
  { title: 'misses', width: 6 },
  { title: 'test loss', width: 12 },
  { title: 'error %', width: 7 },
  { title: 'misses', width: 6 },
  { title: 'seconds', width: 7 },
];

function row(cells: string[]): string {
  return cells.map((cell, i) => cell.padStart(COLUMNS[i]!.width)).join('  ');
}

/**
 * Like Python's `%.4e` (two-digit exponent), so a row reads straight across to the PyTorch reproduction's output.
 * Without `digits`, as many as the value needs: a published loss is printed with the digits its source gave.
 */
export function formatLoss(loss: number, digits?: number): string {
  return loss.toExponential(digits).replace(/e([+-])(\d)$/, 'e$10$2');
}

function splitCells(split: SplitMetrics): string[] {
  return [formatLoss(split.loss, 4), split.errorPercent.toFixed(2), String(split.misses)];
}

function referenceCells(split: ReferenceSplit): string[] {
  return [formatLoss(split.loss), split.errorPercent.toFixed(2), String(split.misses)];
}

function tableHeader(): string {
  return row(COLUMNS.map((column) => column.title));
}

function tableRow(pass: number, train: SplitMetrics, test: SplitMetrics, seconds: number): string {
  return row([String(pass), ...splitCells(train), ...splitCells(test), seconds.toFixed(2)]);
}

/** The published results after their 23 passes, aligned under the run's own columns. */
function referenceRows(): string[] {
  return REFERENCE_RESULTS.map(
    (reference) =>
      `${row([String(reference.passes), ...referenceCells(reference.train), ...referenceCells(reference.test), ''])}  ${reference.label}`,
  );
}

export interface PassPrinter {
  runStarted(runId: number): void;
  pass(result: { pass: number; train: SplitMetrics; test: SplitMetrics; seconds: number }): void;
  end(): void;
}

export function passPrinter(json: boolean): PassPrinter {
  if (json) {
    return {
      // stdout carries only the pass lines, so the run id goes to stderr.
      runStarted: (runId) => console.error(`run ${runId}`),
      pass: ({ pass, train, test, seconds }) =>
        console.log(JSON.stringify({ pass, train: metricsOnly(train), test: metricsOnly(test), seconds })),
      end: () => {},
    };
  }
  let headerPrinted = false;
  return {
    runStarted: (runId) => console.log(`run ${runId}`),
    pass({ pass, train, test, seconds }) {
      if (!headerPrinted) console.log(tableHeader());
      headerPrinted = true;
      console.log(tableRow(pass, train, test, seconds));
    },
    end: () => console.log(['', ...referenceRows()].join('\n')),
  };
}

export function metricsOnly({ loss, errorPercent, misses }: SplitMetrics): SplitMetrics {
  return { loss, errorPercent, misses };
}

export interface ProgressDisplay {
  show(pass: number, passes: number, done: number, total: number): void;
  clear(): void;
}

/** A progress bar redrawn in place on stderr, only where a person watches a terminal. */
export function progressDisplay(enabled: boolean): ProgressDisplay {
  if (!enabled || !process.stderr.isTTY) return { show() {}, clear() {} };
  let lastDrawnAt = 0;
  let currentPass = 0;
  let passStartedAt = 0;
  return {
    show(pass, passes, done, total) {
      const now = performance.now();
      if (pass !== currentPass) [currentPass, passStartedAt] = [pass, now];
      if (now - lastDrawnAt < 100 && done < total) return;
      lastDrawnAt = now;
      const examplesPerSecond = (1000 * done) / Math.max(now - passStartedAt, 1);
      process.stderr.write(`\r${progressLine(pass, passes, done, total, examplesPerSecond)}\x1b[K`);
    },
    clear: () => process.stderr.write('\r\x1b[K'),
  };
}

/** One line, redrawn in place with a carriage return, for a terminal's stderr. */
function progressLine(pass: number, passes: number, done: number, total: number, examplesPerSecond: number): string {
  const width = 30;
  const filled = Math.round((width * done) / total);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  return `pass ${pass}/${passes} [${bar}] ${done}/${total}  ${Math.round(examplesPerSecond)} examples/s`;
}
