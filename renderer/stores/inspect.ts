import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { PARAMETER_SHAPES } from '../../core/network';
import { MAX_IMAGES_PER_REQUEST, type CheckpointInfo, type Result } from '../../core/protocol';
import { useApi } from '../api/key';
import { attempt } from '../errors';
import { useDatasetsStore } from './datasets';
import { useRunsStore } from './runs';

export type Evaluation = Result<'evaluate'>;
export type Prediction = Result<'predict'>;

/** The model the Inspect view examines: one checkpoint of one run. */
export interface Model {
  checkpointId: number;
  runId: number;
  pass: number;
}

/** The digit whose feature maps are shown: a test digit, or the one drawn on the pad. */
export type ChosenDigit = { kind: 'test'; index: number; label: number; pixels: number[] } | { kind: 'drawing' };

/** The gallery shows the misclassified digits one request can fetch; an untrained model misses nearly all 2,007. */
export const GALLERY_LIMIT = MAX_IMAGES_PER_REQUEST;

export const H1_KERNELS = PARAMETER_SHAPES.H1w[0];
export const KERNEL_SIDE = PARAMETER_SHAPES.H1w[2];

export const useInspectStore = defineStore('inspect', () => {
  const api = useApi();
  const runsStore = useRunsStore();
  const datasetsStore = useDatasetsStore();

  const model = ref<Model | null>(null);
  /** For a model without a dataset of its own (imported weights): which dataset to evaluate it on. */
  const chosenDatasetId = ref<number | null>(null);
  const error = ref<string | null>(null);

  const evaluation = ref<Evaluation | null>(null);
  const evaluating = ref(false);
  /** Pixels of the misclassified test digits, by subset index. */
  const galleryPixels = ref<Record<number, number[]>>({});

  const drawingInput = ref<number[] | null>(null);
  const drawingPrediction = ref<Prediction | null>(null);
  const chosen = ref<ChosenDigit | null>(null);
  const chosenPrediction = ref<Prediction | null>(null);

  /** H1w as 12 kernels of 5×5, row-major. */
  const kernels = ref<number[][] | null>(null);

  const modelRun = computed(() => (model.value === null ? null : (runsStore.runs.find((run) => run.id === model.value!.runId) ?? null)));
  const datasetId = computed<number | null>(() => {
    if (modelRun.value?.datasetId != null) return modelRun.value.datasetId;
    const known = (id: number | null) => id !== null && datasetsStore.datasets.some((dataset) => dataset.id === id);
    if (known(chosenDatasetId.value)) return chosenDatasetId.value;
    return datasetsStore.selectedId ?? datasetsStore.datasets[0]?.id ?? null;
  });
  /**
   * The subset a run trained on has its seed (USPS_SUBSET_SEED on a USPS set); an imported model is read against the
   * dataset's standard split.
   */
  const seed = computed(() => modelRun.value?.seed ?? datasetsStore.standardSplit(datasetId.value).seed);
  /** The feature maps on show: those of the chosen test digit, else of the drawing. */
  const featurePrediction = computed(() => (chosen.value?.kind === 'test' ? chosenPrediction.value : drawingPrediction.value));


  function setModel(checkpoint: Pick<CheckpointInfo, 'id' | 'runId' | 'pass'>): void {
    model.value = { checkpointId: checkpoint.id, runId: checkpoint.runId, pass: checkpoint.pass };
    evaluation.value = null;
    galleryPixels.value = {};
    chosen.value = null;
    chosenPrediction.value = null;
    drawingPrediction.value = null;
    kernels.value = null;
    error.value = null;
    void predictDrawing();
  }

  /** Without a model chosen, takes the last checkpoint of the newest run that has trained or imported weights. */
  async function ensureModel(): Promise<void> {
    if (model.value !== null) return;
    const run = runsStore.runs.find((candidate) => candidate.passesDone > 0 || candidate.preset === 'imported');
    if (run === undefined) return;
    const checkpoints = await runsStore.loadCheckpoints(run.id);
    const last = checkpoints?.at(-1);
    if (last !== undefined && model.value === null) setModel(last);
  }

  let evaluationQueued = false;

  /**
   * The model on the test split: metrics, confusion matrix, and the misclassified digits with their pixels. A model
   * chosen while another is being evaluated is evaluated as soon as that one is done (whose result is dropped).
   */
  async function evaluate(): Promise<void> {
    const current = model.value;
    const dataset = datasetId.value;
    if (current === null || dataset === null) return;
    if (evaluating.value) {
      evaluationQueued = true;
      return;
    }
    evaluating.value = true;
    const split = { datasetId: dataset, seed: seed.value, split: 'test' } as const;
    // An answer is for the model and the split asked about; if either changed meanwhile, it is dropped.
    const stale = () => model.value !== current || datasetId.value !== split.datasetId || seed.value !== split.seed;
    try {
      const result = await attempt(error, () => api.evaluate({ checkpointId: current.checkpointId, ...split }));
      if (result === undefined || stale()) return;
      evaluation.value = result;
      const indices = result.misclassified.slice(0, GALLERY_LIMIT).map((entry) => entry.index);
      if (indices.length === 0) return;
      const images = await attempt(error, () => api.getSubsetImages({ ...split, indices }));
      if (images === undefined || stale()) return;
      galleryPixels.value = Object.fromEntries(images.images.map((image) => [image.index, image.pixels]));
    } finally {
      evaluating.value = false;
      if (evaluationQueued) {
        evaluationQueued = false;
        void evaluate();
      }
    }
  }

  /** For a model without a dataset of its own: evaluates it on another. */
  async function evaluateOn(otherDatasetId: number): Promise<void> {
    chosenDatasetId.value = otherDatasetId;
    evaluation.value = null;
    galleryPixels.value = {};
    await evaluate();
  }

  let drawingInFlight = false;
  let drawingQueued = false;

  /** The pad's normalised drawing (null when cleared), predicted as it changes. */
  function setDrawing(input: Float32Array | null): Promise<void> {
    drawingInput.value = input === null ? null : Array.from(input);
    if (input === null) drawingPrediction.value = null;
    return predictDrawing();
  }

  /**
   * Strokes arrive faster than answers, so only the newest drawing waits for the request in flight; the ones in
   * between are never sent.
   */
  async function predictDrawing(): Promise<void> {
    if (drawingInFlight) {
      drawingQueued = true;
      return;
    }
    drawingInFlight = true;
    try {
      do {
        drawingQueued = false;
        const current = model.value;
        const image = drawingInput.value;
        if (current === null || image === null) break;
        const prediction = await attempt(error, () => api.predict({ checkpointId: current.checkpointId, image }));
        if (prediction !== undefined && model.value === current && drawingInput.value !== null) drawingPrediction.value = prediction;
      } while (drawingQueued);
    } finally {
      drawingInFlight = false;
    }
  }

  async function chooseTestDigit(digit: { index: number; label: number; pixels: number[] }): Promise<void> {
    const current = model.value;
    chosen.value = { kind: 'test', ...digit };
    chosenPrediction.value = null;
    if (current === null) return;
    const prediction = await attempt(error, () => api.predict({ checkpointId: current.checkpointId, image: digit.pixels }));
    if (prediction !== undefined && chosen.value?.kind === 'test' && chosen.value.index === digit.index) chosenPrediction.value = prediction;
  }

  /** A test digit by its index in the 1989-style test split. */
  async function chooseTestIndex(index: number): Promise<void> {
    const dataset = datasetId.value;
    if (dataset === null) return;
    const result = await attempt(error, () => api.getSubsetImages({ datasetId: dataset, seed: seed.value, split: 'test', indices: [index] }));
    const image = result?.images[0];
    if (image !== undefined) await chooseTestDigit({ index: image.index, label: image.label, pixels: image.pixels });
  }

  function chooseDrawing(): void {
    chosen.value = { kind: 'drawing' };
  }

  /** The checkpoint whose kernels are being fetched, so that a second ask for the same ones waits for the first. */
  let kernelsLoadingFor: number | null = null;

  /** H1's learned kernels, from the checkpoint's weights. */
  async function loadKernels(): Promise<void> {
    const current = model.value;
    if (current === null || kernelsLoadingFor === current.checkpointId) return;
    kernelsLoadingFor = current.checkpointId;
    const weights = await attempt(error, () => api.getWeights({ checkpointId: current.checkpointId })).finally(() => {
      if (kernelsLoadingFor === current.checkpointId) kernelsLoadingFor = null;
    });
    if (weights === undefined || model.value !== current) return;
    const h1w = weights.tensors.find((tensor) => tensor.name === 'H1w');
    const expected = PARAMETER_SHAPES.H1w;
    const taps = KERNEL_SIDE * KERNEL_SIDE;
    if (h1w === undefined || h1w.shape.join() !== expected.join() || h1w.values.length !== H1_KERNELS * taps) {
      error.value = `The checkpoint's weights hold no H1w tensor of shape [${expected.join(', ')}]`;
      return;
    }
    kernels.value = Array.from({ length: H1_KERNELS }, (_, kernel) => h1w.values.slice(kernel * taps, (kernel + 1) * taps));
  }

  return {
    model,
    modelRun,
    datasetId,
    chosenDatasetId,
    seed,
    error,
    evaluation,
    evaluating,
    galleryPixels,
    drawingInput,
    drawingPrediction,
    chosen,
    chosenPrediction,
    featurePrediction,
    kernels,
    setModel,
    ensureModel,
    evaluate,
    evaluateOn,
    setDrawing,
    chooseTestDigit,
    chooseTestIndex,
    chooseDrawing,
    loadKernels,
  };
});
