import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { EventData, RunConfig } from '../../core/protocol';
import { useApi } from '../api/key';
import { describeError } from '../errors';
import { PRESETS } from '../../core/presets';
import { useDatasetsStore } from './datasets';
import { CONTROLS_BY_STATUS, useRunsStore, type RunControl } from './runs';

export type TrainingProgress = EventData<'trainingProgress'>;

/**
 * The Train view: the config being edited, the run being watched and its progress inside a pass. The run itself,
 * with its passes, lives in the runs store.
 */
export const useTrainingStore = defineStore('training', () => {
  const api = useApi();
  const runsStore = useRunsStore();
  const datasetsStore = useDatasetsStore();

  const presetName = ref(PRESETS[0]!.name);
  /** Fields the form does not edit (optimizer, model, …) come from the preset and go into createRun unchanged. */
  const config = ref<RunConfig>({ ...PRESETS[0]!.config });
  const chosenDatasetId = ref<number | null>(null);
  const runId = ref<number | null>(null);
  const progressByRun = ref<Record<number, TrainingProgress>>({});
  const starting = ref(false);
  const error = ref<string | null>(null);

  /** The dataset the next run trains on: the one chosen here, else the one selected on the Data view. */
  const datasetId = computed<number | null>({
    get: () => datasetsStore.resolveId(chosenDatasetId.value),
    set: (id) => {
      chosenDatasetId.value = id;
    },
  });

  const dataset = computed(() => datasetsStore.datasets.find((known) => known.id === datasetId.value) ?? null);
  const run = computed(() => runsStore.runs.find((known) => known.id === runId.value) ?? null);
  const passes = computed(() => (runId.value === null ? [] : (runsStore.details[runId.value]?.passes ?? [])));
  // A run that died with the service sends no status change until the service is back; its status says it all.
  const progress = computed(() => (run.value?.status === 'running' ? (progressByRun.value[run.value.id] ?? null) : null));
  const controls = computed<readonly RunControl[]>(() => (run.value === null ? [] : CONTROLS_BY_STATUS[run.value.status]));
  const canStart = computed(() => datasetId.value !== null && !starting.value);
  /** The pass count the chart's axis spans: the run's plan, or the form's before any run. */
  const plannedPasses = computed(() => run.value?.config?.passes ?? config.value.passes);

  api.onEvent((event) => {
    if (event.event === 'trainingProgress') {
      progressByRun.value[event.data.runId] = event.data;
    } else if (event.event === 'runStatus' && event.data.run.status !== 'running') {
      delete progressByRun.value[event.data.run.id];
    } else if (event.event === 'passFinished') {
      // The finished pass's progress is history; the next pass's first report will replace it.
      const shown = progressByRun.value[event.data.runId];
      if (shown !== undefined && shown.pass === event.data.metrics.pass) delete progressByRun.value[event.data.runId];
    }
  });

  function applyPreset(name: string): void {
    const preset = PRESETS.find((known) => known.name === name);
    if (preset === undefined) return;
    presetName.value = name;
    // Replaced, not merged: a field the previous preset set (an optimizer, a damping) must not outlive it.
    config.value = { ...preset.config };
  }

  /** Shows `id`'s passes and progress in the Train view. */
  async function watch(id: number): Promise<void> {
    runId.value = id;
    await runsStore.loadDetail(id);
  }

  async function start(): Promise<void> {
    const dataset = datasetId.value;
    if (dataset === null || starting.value) return;
    starting.value = true;
    error.value = null;
    try {
      const { run: created } = await api.createRun({ datasetId: dataset, preset: presetName.value, config: { ...config.value }, start: true });
      runsStore.upsert(created);
      runId.value = created.id;
      await runsStore.loadDetail(created.id);
    } catch (caught) {
      error.value = describeError(caught);
    } finally {
      starting.value = false;
    }
  }

  async function control(action: RunControl): Promise<void> {
    if (runId.value === null) return;
    await runsStore.control(runId.value, action);
    error.value = runsStore.error;
  }

  return {
    presetName,
    config,
    datasetId,
    dataset,
    runId,
    run,
    passes,
    progress,
    controls,
    canStart,
    plannedPasses,
    starting,
    error,
    applyPreset,
    watch,
    start,
    control,
  };
});
