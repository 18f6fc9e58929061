// Crash safety, for real: the service is SIGKILLed during an import, during a pass and inside a pass's checkpoint
// transaction; after a restart the database is intact, every finished pass is there with its checkpoint, the run is
// 'interrupted', and resuming it ends on weights bit-identical to a run never interrupted.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledMnistDir, readMnistDir } from '../core/mnist';
import { base64ToBytes } from '../core/protocol';
import Database from 'better-sqlite3';
import { make1989Dataset } from '../core/subset';
import { runTraining, type TrainConfig } from '../core/train';
import { decodeWeights } from '../core/weights';
import { startService, temporaryFolder, waitForFile, type TestService } from './support/service';

const config = { seed: 1337, passes: 4, learningRate: 0.03, trainLimit: 3000 } as const;

let folder: string;
let referenceWeights: Float32Array;
const running: TestService[] = [];

beforeAll(async () => {
  folder = temporaryFolder('crash');
  // The uninterrupted run, headless, in this process.
  const { train, test } = make1989Dataset(readMnistDir(bundledMnistDir()), config.seed);
  for await (const result of runTraining({ config: { ...config } satisfies TrainConfig, train, test, evaluation: 'in-thread' })) {
    referenceWeights = result.parameters;
  }
});

afterAll(async () => {
  await Promise.all(running.map((service) => service.stop()));
  fs.rmSync(folder, { recursive: true, force: true });
});

function launch(database: string, hang?: string): TestService {
  const env = { ...process.env };
  if (hang) {
    env.LECUN1989_TEST_HANG_BEFORE_COMMIT = hang;
    env.LECUN1989_TEST_HANG_MARKER = `${database}.hanging`;
  }
  const service = startService(database, { env });
  running.push(service);
  return service;
}

async function kill(service: TestService): Promise<void> {
  service.child.kill('SIGKILL');
  expect((await service.exited).signal).toBe('SIGKILL');
}

/**
 * The database as the killed process left it, read without the store's open-time repairs: the file must be whole
 * and every recorded pass must have its checkpoint.
 */
function inspect(database: string) {
  const db = new Database(database, { readonly: true });
  try {
    const passes = (runId: number, table: 'passes' | 'checkpoints') =>
      db.prepare(`SELECT pass FROM ${table} WHERE run_id = ? ORDER BY pass`).pluck().all(runId) as number[];
    const runs = (db.prepare('SELECT id, status FROM runs ORDER BY id').all() as { id: number; status: string }[]).map((run) => ({
      ...run,
      passes: passes(run.id, 'passes'),
      checkpoints: passes(run.id, 'checkpoints'),
    }));
    return {
      integrity: db.pragma('integrity_check', { simple: true }),
      datasets: db.prepare('SELECT id FROM mnist_sources').all(),
      subsets: db.prepare('SELECT id FROM subsets').all(),
      runs,
    };
  } finally {
    db.close();
  }
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

async function finalWeights(service: TestService, runId: number): Promise<Float32Array> {
  const { checkpoints } = await service.api.listCheckpoints({ runId });
  const { base64 } = await service.api.exportWeights({ checkpointId: checkpoints.at(-1)!.id });
  return decodeWeights(base64ToBytes(base64), 'export').parameters;
}

/** Restarts on the database, checks the run came back interrupted with whole passes, resumes it to the end. */
async function restartAndResume(database: string, runId: number, expectPasses: (passes: number[]) => void): Promise<void> {
  const afterCrash = inspect(database);
  expect(afterCrash.integrity).toBe('ok');
  const crashed = afterCrash.runs.find((run) => run.id === runId)!;
  expect(crashed.status).toBe('running'); // as the killed process left it; the next open marks it
  expect(crashed.passes).toEqual(crashed.passes.map((_, i) => i + 1));
  expect(crashed.checkpoints).toEqual([0, ...crashed.passes]);
  expectPasses(crashed.passes);

  const service = launch(database);
  expect((await service.ready).interruptedRunIds).toContain(runId);
  const { run } = await service.api.getRun({ runId });
  expect(run.status).toBe('interrupted');
  expect(run.passes.map((pass) => pass.pass)).toEqual(crashed.passes);

  await service.api.resumeRun({ runId });
  await service.waitForEvent('runStatus', ({ run }) => run.id === runId && run.status === 'finished', 60_000);
  // The resumed run trained exactly the passes that were missing, and no pass twice.
  const resumedPasses = service.events.flatMap((event) => (event.event === 'passFinished' && event.data.runId === runId ? [event.data.metrics.pass] : []));
  expect(resumedPasses).toEqual([1, 2, 3, 4].filter((pass) => !crashed.passes.includes(pass)));
  expect(sameBits(await finalWeights(service, runId), referenceWeights)).toBe(true);
  await service.stop();

  const end = inspect(database);
  expect(end.integrity).toBe('ok');
  expect(end.runs.find((r) => r.id === runId)).toMatchObject({ status: 'finished', passes: [1, 2, 3, 4], checkpoints: [0, 1, 2, 3, 4] });
}

describe('killed during an import', () => {
  it('inside the import transaction, leaves no dataset behind', async () => {
    const database = path.join(folder, 'import-commit.sqlite');
    const service = launch(database, 'import');
    await service.ready;
    const pending = service.api.importMnist({ from: 'bundled' }).catch((error: unknown) => error);
    await waitForFile(`${database}.hanging`);
    await kill(service);
    expect(await pending).toMatchObject({ code: 'disconnected' });
    expect(inspect(database)).toMatchObject({ integrity: 'ok', datasets: [], subsets: [] });

    const again = launch(database);
    await again.ready;
    expect((await again.api.importMnist({ from: 'bundled' })).created).toBe(true);
    await again.stop();
    expect(inspect(database).datasets).toHaveLength(1);
  });

  it('while decoding, leaves no dataset behind', async () => {
    const database = path.join(folder, 'import-decode.sqlite');
    const service = launch(database);
    await service.ready;
    void service.api.importMnist({ from: 'bundled' }).catch(() => {});
    await service.waitForEvent('importProgress', ({ stage }) => stage === 'decoding');
    await kill(service);
    expect(inspect(database)).toMatchObject({ integrity: 'ok', datasets: [], subsets: [] });
  });
});

describe('killed during training', () => {
  async function startRun(database: string, hang?: string): Promise<{ service: TestService; runId: number }> {
    const service = launch(database, hang);
    await service.ready;
    const { dataset } = await service.api.importMnist({ from: 'bundled' });
    const { run } = await service.api.createRun({ datasetId: dataset.id, preset: 'sgd-1989', config, start: true });
    return { service, runId: run.id };
  }

  it('in the middle of a pass, resumes from its last finished pass to identical weights', async () => {
    const database = path.join(folder, 'mid-pass.sqlite');
    const { service, runId } = await startRun(database);
    // Killed as soon as pass 2 is under way; the evaluation of pass 1 may still be in flight.
    const moment = await new Promise<string>((resolve) => {
      service.api.onEvent((event) => {
        if (event.event === 'trainingProgress' && event.data.pass >= 2 && event.data.examplesDone < config.trainLimit) resolve('mid-pass');
        if (event.event === 'runStatus' && event.data.run.status === 'finished') resolve('finished before the kill');
      });
    });
    expect(moment).toBe('mid-pass');
    await kill(service);
    await restartAndResume(database, runId, (passes) => expect(passes.length).toBeLessThan(config.passes));
  });

  it('inside the transaction writing a pass and its checkpoint, loses that pass whole and resumes', async () => {
    const database = path.join(folder, 'pass-commit.sqlite');
    const { service, runId } = await startRun(database, 'pass:2');
    await waitForFile(`${database}.hanging`);
    await kill(service);
    await restartAndResume(database, runId, (passes) => expect(passes).toEqual([1]));
  });

  it('right at the start, before any pass, resumes from the initial weights', async () => {
    const database = path.join(folder, 'first-pass.sqlite');
    const { service, runId } = await startRun(database);
    await service.waitForEvent('runStatus', ({ run }) => run.id === runId && run.status === 'running');
    await kill(service);
    await restartAndResume(database, runId, (passes) => expect(passes.length).toBeLessThanOrEqual(1));
  });
});
