import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { CheckpointInfo, ExportFormat, PassMetrics, Result, RunDetail, RunStatus, RunSummary } from '../../core/protocol';
import { readAsBase64, type NamedFile } from '../api/files';
import { useApi } from '../api/key';
import { attempt } from '../errors';

export type RunControl = 'pause' | 'stop' | 'resume';

/** What a run in each status can be asked to do next. */
export const CONTROLS_BY_STATUS: Record<RunStatus, readonly RunControl[]> = {
  queued: ['pause', 'stop'],
  running: ['pause', 'stop'],
  paused: ['resume', 'stop'],
  stopped: ['resume'],
  interrupted: ['resume'],
  finished: [],
  failed: [],
};

/** How the export notice ends for each format: plain weights need no word, a model file does. */
const EXPORTED_AS: Record<ExportFormat, string> = { safetensors: '', onnx: ' as an ONNX model' };

/** At most this many runs share the comparison chart. */
export const COMPARE_LIMIT = 2;

/**
 * Every run the store holds (including those started from the CLI), their passes and checkpoints as far as loaded,
 * kept current by the service's events. The Train view reads its run from here too: one copy of each run.
 */
export const useRunsStore = defineStore('runs', () => {
  const api = useApi();
  /** Newest first. */
  const runs = ref<RunSummary[]>([]);
  const details = ref<Record<number, RunDetail>>({});
  const checkpoints = ref<Record<number, CheckpointInfo[]>>({});
  const selectedId = ref<number | null>(null);
  const compareIds = ref<number[]>([]);
  const error = ref<string | null>(null);
  const notice = ref<string | null>(null);

  const selected = computed(() => runs.value.find((run) => run.id === selectedId.value) ?? null);

  api.onEvent((event) => {
    if (event.event === 'runStatus') {
      upsert(event.data.run);
      // A run that paused or stopped mid-pass may have written a checkpoint worth listing.
      if (checkpoints.value[event.data.run.id] !== undefined) void loadCheckpoints(event.data.run.id);
    } else if (event.event === 'passFinished') {
      addPass(event.data.runId, event.data.metrics);
    }
  });

  function upsert(run: RunSummary): void {
    const at = runs.value.findIndex((known) => known.id === run.id);
    if (at >= 0) runs.value.splice(at, 1, run);
    else runs.value = [run, ...runs.value].sort((a, b) => b.id - a.id);
    const detail = details.value[run.id];
    if (detail !== undefined) details.value[run.id] = { ...detail, ...run };
  }

  function addPass(runId: number, metrics: PassMetrics): void {
    const run = runs.value.find((known) => known.id === runId);
    if (run !== undefined && metrics.pass >= run.passesDone) {
      upsert({ ...run, passesDone: metrics.pass, lastTestErrorPercent: metrics.test.errorPercent });
    }
    const detail = details.value[runId];
    if (detail !== undefined) {
      // A resumed run repeats no finished pass, but a reload racing an event could deliver one twice.
      const passes = detail.passes.filter((known) => known.pass !== metrics.pass);
      passes.push({ ...metrics, createdAt: Date.now() });
      passes.sort((a, b) => a.pass - b.pass);
      detail.passes = passes;
    }
    if (checkpoints.value[runId] !== undefined) void loadCheckpoints(runId);
  }


  async function refresh(): Promise<void> {
    const result = await attempt(error, () => api.listRuns());
    if (result === undefined) return;
    runs.value = [...result.runs].sort((a, b) => b.id - a.id);
    const present = new Set(runs.value.map((run) => run.id));
    for (const id of Object.keys(details.value).map(Number)) if (!present.has(id)) delete details.value[id];
    for (const id of Object.keys(checkpoints.value).map(Number)) if (!present.has(id)) delete checkpoints.value[id];
    compareIds.value = compareIds.value.filter((id) => present.has(id));
    if (selectedId.value !== null && !present.has(selectedId.value)) selectedId.value = null;
    // Runs shown in detail may have moved on while the service was away.
    await Promise.all(Object.keys(details.value).map((id) => loadDetail(Number(id))));
  }

  async function loadDetail(runId: number): Promise<RunDetail | undefined> {
    const result = await attempt(error, () => api.getRun({ runId }));
    if (result === undefined) return undefined;
    details.value[runId] = result.run;
    const { passes: _passes, ...summary } = result.run;
    upsert(summary);
    return result.run;
  }

  async function loadCheckpoints(runId: number): Promise<CheckpointInfo[] | undefined> {
    const result = await attempt(error, () => api.listCheckpoints({ runId }));
    if (result === undefined) return undefined;
    checkpoints.value[runId] = [...result.checkpoints].sort((a, b) => a.pass - b.pass);
    return checkpoints.value[runId];
  }

  async function select(runId: number): Promise<void> {
    selectedId.value = runId;
    notice.value = null;
    await Promise.all([loadDetail(runId), loadCheckpoints(runId)]);
  }

  async function toggleCompare(runId: number): Promise<void> {
    if (compareIds.value.includes(runId)) {
      compareIds.value = compareIds.value.filter((id) => id !== runId);
      return;
    }
    compareIds.value = [...compareIds.value, runId].slice(-COMPARE_LIMIT);
    if (details.value[runId] === undefined) await loadDetail(runId);
  }

  async function control(runId: number, action: RunControl): Promise<void> {
    const result = await attempt(error, () => {
      switch (action) {
        case 'pause':
          return api.pauseRun({ runId });
        case 'stop':
          return api.stopRun({ runId });
        case 'resume':
          return api.resumeRun({ runId });
      }
    });
    if (result !== undefined) upsert(result.run);
  }

  async function deleteRun(runId: number): Promise<boolean> {
    const result = await attempt(error, () => api.deleteRun({ runId }));
    if (result === undefined) return false;
    runs.value = runs.value.filter((run) => run.id !== runId);
    delete details.value[runId];
    delete checkpoints.value[runId];
    compareIds.value = compareIds.value.filter((id) => id !== runId);
    if (selectedId.value === runId) selectedId.value = null;
    return true;
  }

  async function exportCheckpoint(checkpoint: Pick<CheckpointInfo, 'id' | 'runId' | 'pass'>, format: ExportFormat): Promise<void> {
    const saved = await attempt(error, () => api.exportWeightsWithDialog(checkpoint.id, format));
    if (saved === true) {
      notice.value = `Exported the weights of run #${checkpoint.runId} after pass ${checkpoint.pass}${EXPORTED_AS[format]}.`;
    }
  }

  /** Registers the new model's run and shows it; returns its checkpoint for whoever wants to load it. */
  async function adoptImport(imported: Result<'importWeights'> | null | undefined): Promise<Result<'importWeights'> | null> {
    if (imported === null || imported === undefined) return null;
    upsert(imported.run);
    await select(imported.run.id);
    notice.value = `Imported the weights as run #${imported.run.id}.`;
    return imported;
  }

  async function importWeightsWithDialog(): Promise<Result<'importWeights'> | null> {
    return adoptImport(await attempt(error, () => api.importWeightsWithDialog()));
  }

  async function importWeightsFile(file: NamedFile): Promise<Result<'importWeights'> | null> {
    return adoptImport(await attempt(error, async () => api.importWeights(await readAsBase64(file))));
  }

  return {
    runs,
    details,
    checkpoints,
    selectedId,
    selected,
    compareIds,
    error,
    notice,
    upsert,
    refresh,
    loadDetail,
    loadCheckpoints,
    select,
    toggleCompare,
    control,
    deleteRun,
    exportCheckpoint,
    importWeightsWithDialog,
    importWeightsFile,
  };
});
