/**
 * What the command line prints for people: the per-pass table with the published figures beside it, and the
 * progress bar. JSON output does not come through here.
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

export function tableHeader(): string {
  return row(COLUMNS.map((column) => column.title));
}

export function tableRow(pass: number, train: SplitMetrics, test: SplitMetrics, seconds: number): string {
  return row([String(pass), ...splitCells(train), ...splitCells(test), seconds.toFixed(2)]);
}

/** The published results after their 23 passes, aligned under the run's own columns. */
export function referenceRows(): string[] {
  return REFERENCE_RESULTS.map(
    (reference) =>
      `${row([String(reference.passes), ...referenceCells(reference.train), ...referenceCells(reference.test), ''])}  ${reference.label}`,
  );
}

/** One line, redrawn in place with a carriage return, for a terminal's stderr. */
export function progressLine(pass: number, passes: number, done: number, total: number, examplesPerSecond: number): string {
  const width = 30;
  const filled = Math.round((width * done) / total);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  return `pass ${pass}/${passes} [${bar}] ${done}/${total}  ${Math.round(examplesPerSecond)} examples/s`;
}
