import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { EngineError, MAX_FILE_BYTES, type DatasetInfo, type DatasetKind, type Result } from '../../core/protocol';
import { TEST_SIZE, TRAIN_SIZE } from '../../core/subset';
import { readAsBase64, type NamedFile } from '../api/files';
import { useApi } from '../api/key';
import { KIND_LABELS, splitSeed } from '../dataset-kinds';
import { describeError } from '../errors';
import { useRunsStore } from './runs';

export type Split = 'train' | 'test';

/** Digits per preview page: eight rows of eight. */
export const PREVIEW_PAGE_SIZE = 64;

export interface Preview {
  datasetId: number;
  split: Split;
  page: number;
  pageCount: number;
  /** How many digits of each class the whole split holds. */
  classCounts: number[];
  images: Result<'getSubsetImages'>['images'];
}

export type DeleteOutcome = 'deleted' | 'in_use' | 'failed';

/** An importMnist and an importUsps answer alike. */
type Imported = Result<'importMnist'> | Result<'importUsps'>;

/** What one import of each kind takes, for the checks made before anything is sent. */
const FILES_PER_IMPORT: Record<DatasetKind, { count: number; description: string }> = {
  mnist: { count: 4, description: 'four files (train and test images and labels)' },
  usps: { count: 2, description: 'two files (zip.train and zip.test, or usps and usps.t)' },
};

/** A dataset's split as previewed: its subset for splitSeed(kind), with the number of digits in each part. */
export interface StandardSplit {
  seed: number;
  trainCount: number;
  testCount: number;
}

export const useDatasetsStore = defineStore('datasets', () => {
  const api = useApi();
  const datasets = ref<DatasetInfo[]>([]);
  const selectedId = ref<number | null>(null);
  const listError = ref<string | null>(null);

  const importing = ref(false);
  /** The kind of dataset being imported, while `importing`. */
  const importingKind = ref<DatasetKind | null>(null);
  /** The stage the import has reached, as the service reports it ('reading files' is the page reading them). */
  const importStage = ref<string | null>(null);
  const importError = ref<string | null>(null);
  const importResult = ref<string | null>(null);

  const preview = ref<Preview | null>(null);
  const previewError = ref<string | null>(null);

  const selected = computed(() => datasets.value.find((dataset) => dataset.id === selectedId.value) ?? null);

  api.onEvent((event) => {
    if (event.event === 'importProgress' && importing.value) importStage.value = event.data.stage;
  });

  async function refresh(): Promise<void> {
    try {
      datasets.value = (await api.listDatasets()).datasets;
      listError.value = null;
    } catch (error) {
      listError.value = describeError(error);
      return;
    }
    if (selected.value === null) {
      selectedId.value = datasets.value[0]?.id ?? null;
      preview.value = null;
    }
    if (selectedId.value !== null && preview.value === null) await loadPreview(selectedId.value, 'train', 0);
  }

  /** Runs one import; whatever fails, the list of datasets stays as it was. */
  async function runImport(kind: DatasetKind, importer: () => Promise<Imported | null>): Promise<void> {
    if (importing.value) return;
    importing.value = true;
    importingKind.value = kind;
    importStage.value = null;
    importError.value = null;
    importResult.value = null;
    let imported: DatasetInfo | null = null;
    try {
      const result = await importer();
      if (result === null) return;
      imported = result.dataset;
      const at = datasets.value.findIndex((known) => known.id === result.dataset.id);
      if (at >= 0) datasets.value.splice(at, 1, result.dataset);
      else datasets.value.push(result.dataset);
      importResult.value = result.created
        ? `Imported "${result.dataset.name}".`
        : `These files are already stored as "${result.dataset.name}".`;
    } catch (error) {
      importError.value = describeError(error);
    } finally {
      importing.value = false;
      importingKind.value = null;
      importStage.value = null;
    }
    if (imported !== null) await select(imported.id);
  }

  /** The host's file dialog (Electron's native one, a file chooser in a browser). */
  function importWithDialog(kind: DatasetKind): Promise<void> {
    return runImport(kind, () => (kind === 'usps' ? api.importUspsWithDialog() : api.importMnistWithDialog()));
  }

  const importBundled = () => runImport('mnist', () => api.importMnist({ from: 'bundled' }));

  /**
   * Files dropped on the page or chosen in its file input, sent as bytes (raw or gzip, told apart by the service).
   * Too many files, or one larger than any of the kind's, are refused before anything is read.
   */
  function importFiles(kind: DatasetKind, files: readonly NamedFile[]): Promise<void> {
    return runImport(kind, async () => {
      if (files.length === 0) return null;
      const label = KIND_LABELS[kind];
      const expected = FILES_PER_IMPORT[kind];
      if (files.length > expected.count) throw new Error(`${label} is ${expected.description}; ${files.length} were given`);
      const tooLarge = files.find((file) => file.size > MAX_FILE_BYTES);
      if (tooLarge !== undefined) {
        throw new Error(`${tooLarge.name}: ${tooLarge.size} bytes is larger than any ${label} file (limit ${MAX_FILE_BYTES})`);
      }
      importStage.value = 'reading files';
      const sent = { from: 'bytes' as const, files: await Promise.all(files.map(readAsBase64)) };
      return kind === 'usps' ? api.importUsps(sent) : api.importMnist(sent);
    });
  }

  /**
   * Deletes a dataset; with `force`, the runs trained on it go too. 'in_use' means the service refused because runs
   * use it and `force` was not given: the caller asks the user.
   */
  async function deleteDataset(datasetId: number, force: boolean): Promise<DeleteOutcome> {
    listError.value = null;
    let deletedRuns = 0;
    try {
      deletedRuns = (await api.deleteDataset({ datasetId, force })).deletedRuns;
    } catch (error) {
      if (error instanceof EngineError && error.code === 'dataset_in_use') return 'in_use';
      listError.value = describeError(error);
      return 'failed';
    }
    datasets.value = datasets.value.filter((dataset) => dataset.id !== datasetId);
    if (deletedRuns > 0) await useRunsStore().refresh();
    if (selectedId.value === datasetId) {
      selectedId.value = datasets.value[0]?.id ?? null;
      preview.value = null;
      if (selectedId.value !== null) await loadPreview(selectedId.value, 'train', 0);
    }
    return 'deleted';
  }

  async function select(datasetId: number): Promise<void> {
    selectedId.value = datasetId;
    await loadPreview(datasetId, 'train', 0);
  }

  /**
   * The split a dataset is previewed on, and an imported model evaluated on: for MNIST the default seed's 1989-style
   * subset, for USPS the published split (its one subset, seed USPS_SUBSET_SEED).
   */
  function standardSplit(datasetId: number | null): StandardSplit {
    const dataset = datasets.value.find((known) => known.id === datasetId);
    const kind = dataset?.kind ?? 'mnist';
    const seed = splitSeed(kind);
    const subset = dataset?.subsets.find((known) => known.seed === seed);
    if (subset !== undefined) return { seed, trainCount: subset.trainCount, testCount: subset.testCount };
    // Not listed: a USPS split is the whole set; an MNIST subset is drawn on first use, at the 1989 sizes.
    if (dataset !== undefined && kind === 'usps') return { seed, trainCount: dataset.trainCount, testCount: dataset.testCount };
    return { seed, trainCount: TRAIN_SIZE, testCount: TEST_SIZE };
  }

  /** The dataset a form trains on: the one it chose if still there, else the one selected on the Data view, else the first. */
  function resolveId(chosen: number | null): number | null {
    const known = (id: number | null) => id !== null && datasets.value.some((dataset) => dataset.id === id);
    if (known(chosen)) return chosen;
    if (known(selectedId.value)) return selectedId.value;
    return datasets.value[0]?.id ?? null;
  }

  function splitSize(datasetId: number | null, split: Split): number {
    const standard = standardSplit(datasetId);
    return split === 'train' ? standard.trainCount : standard.testCount;
  }

  /** One page of the dataset's standard split (see standardSplit) with the split's class counts. */
  async function loadPreview(datasetId: number, split: Split, page: number): Promise<void> {
    const { seed } = standardSplit(datasetId);
    const size = splitSize(datasetId, split);
    const pageCount = Math.max(1, Math.ceil(size / PREVIEW_PAGE_SIZE));
    const first = Math.min(Math.max(0, page), pageCount - 1) * PREVIEW_PAGE_SIZE;
    const indices = Array.from({ length: Math.min(PREVIEW_PAGE_SIZE, size - first) }, (_, i) => first + i);
    if (indices.length === 0) return;
    try {
      const result = await api.getSubsetImages({ datasetId, seed, split, indices });
      preview.value = { datasetId, split, page: first / PREVIEW_PAGE_SIZE, pageCount, classCounts: result.classCounts, images: result.images };
      previewError.value = null;
    } catch (error) {
      previewError.value = describeError(error);
    }
  }

  return {
    datasets,
    selectedId,
    selected,
    listError,
    importing,
    importingKind,
    importStage,
    importError,
    importResult,
    preview,
    previewError,
    refresh,
    importWithDialog,
    importBundled,
    importFiles,
    deleteDataset,
    select,
    standardSplit,
    resolveId,
    splitSize,
    loadPreview,
  };
});
