import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { PRESETS } from '../../core/presets';
import type { RunConfig, RunStatus, SweepInfo, SweepParameter } from '../../core/protocol';
import { useApi } from '../api/key';
import { attempt } from '../errors';
import { parseSweepValues } from '../sweep-values';
import { useDatasetsStore } from './datasets';
import { useRunsStore } from './runs';

/** A sweep's runs finish passes on every core at once: its chart is re-read at most this often. */
export const SWEEP_REFRESH_INTERVAL_MS = 500;

/** The statuses stopSweep acts on: a run training or waiting for a worker. */
export const STOPPABLE: ReadonlySet<RunStatus> = new Set(['queued', 'running', 'paused']);

/**
 * The Sweeps view: the form for a new sweep (one parameter of a preset's config, tried at several values), every
 * sweep stored, and the selected one kept current as its runs report passes and status changes.
 */
export const useSweepsStore = defineStore('sweeps', () => {
  const api = useApi();
  const datasetsStore = useDatasetsStore();
  const runsStore = useRunsStore();

  const presetName = ref(PRESETS[0]!.name);
  const parameter = ref<SweepParameter>('learningRate');
  const valuesText = ref('0.01, 0.03, 0.1');
  const chosenDatasetId = ref<number | null>(null);
  /** Empty: one worker per core, the service's default. */
  const workers = ref<number | ''>('');
  const creating = ref(false);
  const error = ref<string | null>(null);

  /** Newest first. */
  const sweeps = ref<SweepInfo[]>([]);
  const selectedId = ref<number | null>(null);

  const datasetId = computed<number | null>({
    get: () => datasetsStore.resolveId(chosenDatasetId.value),
    set: (id) => {
      chosenDatasetId.value = id;
    },
  });
  const baseConfig = computed<RunConfig>(() => ({ ...(PRESETS.find((preset) => preset.name === presetName.value) ?? PRESETS[0]!).config }));
  const parsedValues = computed(() => parseSweepValues(valuesText.value, parameter.value, baseConfig.value));
  const problems = computed(() => {
    const found = parsedValues.value.ok ? [] : [...parsedValues.value.problems];
    const count = workers.value;
    if (count !== '' && !(Number.isInteger(count) && count >= 1 && count <= 64)) found.push(`workers: a whole number from 1 to 64, or empty for one per core`);
    return found;
  });
  const canCreate = computed(() => datasetId.value !== null && problems.value.length === 0 && !creating.value);
  const selected = computed(() => sweeps.value.find((sweep) => sweep.id === selectedId.value) ?? null);

  api.onEvent((event) => {
    const runId = event.event === 'passFinished' ? event.data.runId : event.event === 'runStatus' ? event.data.run.id : null;
    if (runId === null) return;
    for (const sweep of sweeps.value) if (sweep.runs.some((run) => run.runId === runId)) refreshSoon(sweep.id);
  });

  /** Sweeps read within the last interval, and whether an event asked for them again meanwhile. */
  const recentlyRead = new Map<number, { again: boolean }>();

  /**
   * Re-reads a sweep now, or once the interval since its last read is over: one read in flight per sweep, and the
   * last event always followed by a read.
   */
  function refreshSoon(sweepId: number): void {
    const recent = recentlyRead.get(sweepId);
    if (recent !== undefined) {
      recent.again = true;
      return;
    }
    const window = { again: false };
    recentlyRead.set(sweepId, window);
    void loadSweep(sweepId).finally(() =>
      setTimeout(() => {
        recentlyRead.delete(sweepId);
        if (window.again) refreshSoon(sweepId);
      }, SWEEP_REFRESH_INTERVAL_MS),
    );
  }

  function upsert(sweep: SweepInfo): void {
    const at = sweeps.value.findIndex((known) => known.id === sweep.id);
    if (at >= 0) sweeps.value.splice(at, 1, sweep);
    else sweeps.value = [sweep, ...sweeps.value].sort((a, b) => b.id - a.id);
  }

  async function loadSweep(sweepId: number): Promise<void> {
    const result = await attempt(error, () => api.getSweep({ sweepId }));
    if (result !== undefined) upsert(result.sweep);
  }

  async function refresh(): Promise<void> {
    const result = await attempt(error, () => api.listSweeps());
    if (result === undefined) return;
    sweeps.value = [...result.sweeps].sort((a, b) => b.id - a.id);
    if (selected.value === null) selectedId.value = sweeps.value[0]?.id ?? null;
  }

  function select(sweepId: number): void {
    selectedId.value = sweepId;
    void loadSweep(sweepId);
  }

  async function create(): Promise<void> {
    const dataset = datasetId.value;
    const parsed = parsedValues.value;
    if (dataset === null || !parsed.ok || !canCreate.value) return;
    creating.value = true;
    try {
      const created = await attempt(error, () =>
        api.createSweep({
          datasetId: dataset,
          preset: presetName.value,
          config: baseConfig.value,
          parameter: parameter.value,
          values: parsed.values,
          ...(workers.value === '' ? {} : { workers: workers.value }),
        }),
      );
      if (created === undefined) return;
      selectedId.value = created.sweepId;
      await Promise.all([loadSweep(created.sweepId), runsStore.refresh()]);
    } finally {
      creating.value = false;
    }
  }

  async function stop(sweepId: number): Promise<void> {
    const result = await attempt(error, () => api.stopSweep({ sweepId }));
    if (result !== undefined) upsert(result.sweep);
  }

  return {
    presetName,
    parameter,
    valuesText,
    datasetId,
    workers,
    creating,
    error,
    sweeps,
    selectedId,
    selected,
    baseConfig,
    parsedValues,
    problems,
    canCreate,
    refresh,
    select,
    create,
    stop,
  };
});
