/**
 * The values a sweep tries, as typed: comma-separated numbers, each checked against the same schema the service
 * checks the runs' configs with, so the form says which value is wrong before anything is sent.
 */
import { MAX_SWEEP_VALUES, RunConfigSchema, type RunConfig, type SweepParameter } from '../core/protocol';
import { PARAMETER_LABELS } from './run-settings';

export type ParsedValues = { ok: true; values: number[] } | { ok: false; problems: string[] };

export function parseSweepValues(text: string, parameter: SweepParameter, baseConfig: RunConfig): ParsedValues {
  const label = PARAMETER_LABELS[parameter];
  const pieces = text
    .split(',')
    .map((piece) => piece.trim())
    .filter((piece) => piece !== '');
  const problems: string[] = [];
  const values: number[] = [];
  for (const piece of pieces) {
    // Number('') and Number(' ') are 0, and Number('0x10') 16: only decimal notation is taken as a value.
    const value = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(piece) ? Number(piece) : Number.NaN;
    if (!Number.isFinite(value)) {
      problems.push(`"${piece}" is not a number`);
      continue;
    }
    const checked = RunConfigSchema.safeParse({ ...baseConfig, [parameter]: value });
    if (!checked.success) {
      problems.push(`${label} ${piece}: ${checked.error.issues.map((issue) => issue.message).join('; ')}`);
      continue;
    }
    if (values.includes(value)) problems.push(`${label} ${piece} is given twice`);
    else values.push(value);
  }
  if (problems.length === 0 && (values.length < 2 || values.length > MAX_SWEEP_VALUES)) {
    problems.push(`a sweep tries 2 to ${MAX_SWEEP_VALUES} values of the ${label}, separated by commas; ${values.length} given`);
  }
  return problems.length === 0 ? { ok: true, values } : { ok: false, problems };
}
