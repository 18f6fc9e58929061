/**
 * The command line's database mode: the same engine service the app talks to, started as a child process on the
 * same SQLite file, so a run started in a terminal shows up in the app and the other way round.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { findMnistFiles } from '../mnist';
import { base64ToBytes, bytesToBase64 } from '../protocol';
import type { EngineApi, EngineEvent, ExportFormat, Params, Result, RunSummary } from '../protocol';
import { spawnEngineService } from '../service/spawn';
import type { SpawnedService } from '../service/spawn';
import type { PassPrinter, ProgressDisplay } from './output';

/** Runs `work` against a service on `databasePath`, and stops the service however `work` ends. */
export async function withService<T>(databasePath: string, work: (api: EngineApi, service: SpawnedService) => Promise<T>): Promise<T> {
  const service = spawnEngineService({ databasePath });
  // Ctrl-C: the service records the run in flight as interrupted, and it can be resumed later.
  const interrupt = () => void service.stop();
  process.once('SIGINT', interrupt);
  try {
    await service.ready;
    return await work(service.api, service);
  } finally {
    process.off('SIGINT', interrupt);
    await service.stop();
  }
}

/** The bundled MNIST, or the four files of a folder, or the files named one by one. */
export function mnistSource(dir: string | undefined, files: string[] = []): Params<'importMnist'> {
  if (dir !== undefined && files.length > 0) throw new Error('give either --mnist DIR or the four files, not both');
  if (files.length > 0) return { from: 'paths', paths: files };
  if (dir !== undefined) return { from: 'paths', paths: findMnistFiles(dir) };
  return { from: 'bundled' };
}

/** Stores the dataset a command names: a USPS folder (--usps), else MNIST as mnistSource reads the flags. */
export async function importDataset(api: EngineApi, options: { mnist?: string; usps?: string }, files: string[] = []): Promise<Result<'importUsps'>> {
  if (options.usps === undefined) return api.importMnist(mnistSource(options.mnist, files));
  if (options.mnist !== undefined || files.length > 0) throw new Error('give either --usps DIR or MNIST files (--mnist DIR or the four files), not both');
  return api.importUsps({ from: 'paths', paths: [options.usps] });
}

export async function importWeightsFile(api: EngineApi, path: string): Promise<number> {
  const { checkpointId } = await api.importWeights({ name: path, base64: bytesToBase64(readFileSync(path)) });
  return checkpointId;
}

/** The checkpoint after `pass` (default: the last one) of a run. */
export async function checkpointOf(api: EngineApi, runId: number, pass?: number): Promise<number> {
  const { checkpoints } = await api.listCheckpoints({ runId });
  const checkpoint = pass === undefined ? checkpoints.at(-1) : checkpoints.find((candidate) => candidate.pass === pass);
  if (checkpoint === undefined) {
    const passes = checkpoints.map((candidate) => candidate.pass).join(', ');
    throw new Error(`run ${runId} has no checkpoint for pass ${pass ?? '(any)'}; it has ${passes || 'none'}`);
  }
  return checkpoint.id;
}

export async function exportCheckpoint(api: EngineApi, checkpointId: number, out: string, format: ExportFormat = 'safetensors'): Promise<void> {
  const { base64 } = await api.exportWeights({ checkpointId, format });
  writeFileSync(out, base64ToBytes(base64));
}

const ENDED: ReadonlySet<RunSummary['status']> = new Set(['finished', 'failed', 'paused', 'stopped', 'interrupted']);

/**
 * Prints a run's passes as the service finishes them until the run ends, and returns how it ended. `begin` starts
 * (or resumes) the run; listening starts first so that no event is missed. If the service goes first (Ctrl-C), the
 * run is left interrupted at its last finished pass, and the error says how to continue it.
 */
export async function followRun(
  { api, exited }: SpawnedService,
  begin: () => Promise<RunSummary>,
  printer: PassPrinter,
  progress: ProgressDisplay,
): Promise<RunSummary> {
  let runId: number | undefined;
  const early: EngineEvent[] = [];
  let settle: (run: RunSummary) => void = () => {};
  const ended = new Promise<RunSummary>((resolve) => (settle = resolve));
  const handle = (event: EngineEvent) => {
    if (event.event === 'trainingProgress' && event.data.runId === runId) {
      progress.show(event.data.pass, event.data.passes, event.data.examplesDone, event.data.examplesTotal);
    } else if (event.event === 'passFinished' && event.data.runId === runId) {
      progress.clear();
      printer.pass(event.data.metrics);
    } else if (event.event === 'runStatus' && event.data.run.id === runId && ENDED.has(event.data.run.status)) {
      progress.clear();
      settle(event.data.run);
    }
  };
  const unsubscribe = api.onEvent((event) => (runId === undefined ? early.push(event) : handle(event)));
  try {
    runId = (await begin()).id;
    printer.runStarted(runId);
    for (const event of early.splice(0)) handle(event);
    const serviceGone = exited.then(() => {
      progress.clear();
      throw new Error(`stopped: run ${runId} is interrupted after its last finished pass; continue it with: lecun1989 resume ${runId}`);
    });
    return await Promise.race([ended, serviceGone]);
  } finally {
    unsubscribe();
  }
}

/**
 * Waits until every run of a sweep has ended, calling `runEnded` as each one does, and returns how they ended, in
 * the order of `runIds`. `begin` creates the sweep; listening starts first so that no event is missed. If the service
 * goes first (Ctrl-C), its runs in training are left interrupted and those waiting for a thread queued, and the
 * error says how to continue them.
 */
export async function followSweep(
  { api, exited }: SpawnedService,
  begin: () => Promise<{ sweepId: number; runIds: number[] }>,
  runEnded: (run: RunSummary) => void,
): Promise<{ sweepId: number; runs: RunSummary[] }> {
  const ends = new Map<number, RunSummary>();
  let runIds: number[] | undefined;
  let settle: () => void = () => {};
  const allEnded = new Promise<void>((resolve) => (settle = resolve));
  const check = () => {
    if (runIds !== undefined && runIds.every((runId) => ends.has(runId))) settle();
  };
  const unsubscribe = api.onEvent((event) => {
    if (event.event !== 'runStatus' || !ENDED.has(event.data.run.status) || ends.has(event.data.run.id)) return;
    ends.set(event.data.run.id, event.data.run);
    if (runIds?.includes(event.data.run.id)) runEnded(event.data.run);
    check();
  });
  try {
    const sweep = await begin();
    runIds = sweep.runIds;
    for (const runId of runIds) {
      const run = ends.get(runId);
      if (run !== undefined) runEnded(run);
    }
    check();
    const serviceGone = exited.then(() => {
      const unfinished = runIds!.filter((runId) => !ends.has(runId));
      throw new Error(
        `stopped: sweep ${sweep.sweepId} was cut short before runs ${unfinished.join(', ')} ended; \`lecun1989 runs\` shows where each stands, ` +
          'and `lecun1989 resume RUN_ID` continues one that is interrupted or still queued',
      );
    });
    await Promise.race([allEnded, serviceGone]);
    return { sweepId: sweep.sweepId, runs: runIds.map((runId) => ends.get(runId)!) };
  } finally {
    unsubscribe();
  }
}

/** Where a run that did not finish can be picked up again, in words for the terminal. */
export function endedMessage(run: RunSummary): string | null {
  if (run.status === 'finished') return null;
  if (run.status === 'failed') return `run ${run.id} failed: ${run.error ?? 'unknown error'}`;
  return `run ${run.id} is ${run.status} after ${run.passesDone} passes; continue it with: lecun1989 resume ${run.id}`;
}
