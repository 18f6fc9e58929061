// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import ConfirmDialog from '../../renderer/components/ConfirmDialog.vue';
import DataView from '../../renderer/components/DataView.vue';
import DrawPad from '../../renderer/components/DrawPad.vue';
import ImportPanel from '../../renderer/components/ImportPanel.vue';
import InspectView from '../../renderer/components/InspectView.vue';
import NoticeList from '../../renderer/components/NoticeList.vue';
import OutputBars from '../../renderer/components/OutputBars.vue';
import PassTable from '../../renderer/components/PassTable.vue';
import RunsView from '../../renderer/components/RunsView.vue';
import TrainView from '../../renderer/components/TrainView.vue';
import { useDatasetsStore } from '../../renderer/stores/datasets';
import { useRunsStore } from '../../renderer/stores/runs';
import { useSessionStore } from '../../renderer/stores/session';
import { FakeEngine, passMetrics } from './fake-engine';
import { createHarness, flushPromises } from './harness';

function file(name: string) {
  const bytes = new Uint8Array([0x1f, 0x8b, 8, 0]);
  return { name, size: bytes.length, arrayBuffer: async () => bytes.buffer };
}
const MNIST_NAMES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
const USPS_NAMES = ['zip.train.gz', 'zip.test.gz'];

function cells(row: { findAll(selector: string): { text(): string }[] }): string[] {
  return row.findAll('th, td').map((cell) => cell.text());
}

describe('PassTable', () => {
  it('shows each pass and, beside them, the paper’s and the public reproduction’s published figures', () => {
    const { mount } = createHarness();
    const wrapper = mount(PassTable, { passes: [passMetrics(1, 198), passMetrics(2, 148)] });
    const rows = wrapper.findAll('[data-testid="pass-row"]');
    expect(rows.map((row) => row.attributes('data-pass'))).toEqual(['1', '2']);
    expect(cells(rows[0]!)).toEqual(['1', '6.00e-2', '10.00', '729', '6.00e-2', '9.87', '198', '4.5 s']);
    const references = wrapper.findAll('[data-testid="reference-row"]').map(cells);
    expect(references).toEqual([
      ['1989 paper, pass 23', '2.50e-3', '0.14', '10', '1.80e-2', '5.00', '102', ''],
      ['public PyTorch reproduction, pass 23', '4.07e-3', '0.62', '45', '2.84e-2', '4.09', '82', ''],
    ]);
  });
});

describe('Data view', () => {
  it('offers a file input in a browser and sends the chosen files as bytes', async () => {
    const { engine, mount } = createHarness();
    const wrapper = mount(ImportPanel);
    expect(wrapper.find('[data-testid="load-mnist-button"]').exists()).toBe(false);
    const input = wrapper.find('[data-testid="mnist-file-input"]');
    Object.defineProperty(input.element, 'files', { value: MNIST_NAMES.map(file), configurable: true });
    await input.trigger('change');
    await flushPromises();
    expect((engine.callsOf('importMnist')[0] as { files: { name: string }[] }).files.map((sent) => sent.name)).toEqual(MNIST_NAMES);
    expect(wrapper.text()).toContain('Imported "MNIST (60000 + 10000)".');
  });

  it('opens the host’s dialog in the desktop app', async () => {
    const { engine, mount } = createHarness(new FakeEngine('electron'));
    engine.mnistDialogChoice = MNIST_NAMES.map((name) => ({ name, base64: 'H4sIAA==' }));
    const wrapper = mount(ImportPanel);
    expect(wrapper.find('[data-testid="mnist-file-input"]').exists()).toBe(false);
    await wrapper.find('[data-testid="load-mnist-button"]').trigger('click');
    await flushPromises();
    expect(engine.callsOf('importMnist')).toHaveLength(1);
  });

  it('imports the four files dropped on it', async () => {
    const { engine, mount } = createHarness();
    const wrapper = mount(ImportPanel);
    await wrapper.find('[data-testid="import-dropzone"]').trigger('drop', { dataTransfer: { files: MNIST_NAMES.map(file) } });
    await flushPromises();
    expect(engine.callsOf('importMnist')).toHaveLength(1);
  });

  it('shows a corrupt file’s error and keeps the list of datasets as it was', async () => {
    const { engine, mount } = createHarness();
    engine.addDataset('kept');
    const wrapper = mount(DataView);
    await useDatasetsStore().refresh();
    await flushPromises();
    expect(wrapper.findAll('[data-testid="dataset-row"]')).toHaveLength(1);
    const input = wrapper.find('[data-testid="mnist-file-input"]');
    Object.defineProperty(input.element, 'files', { value: [...MNIST_NAMES.slice(1).map(file), file('corrupt-images.gz')], configurable: true });
    await input.trigger('change');
    await flushPromises();
    expect(wrapper.find('[data-testid="import-error"]').text()).toBe(
      'The file was not accepted: corrupt-images.gz: magic number 0x1f8b0800 is not an IDX file',
    );
    expect(wrapper.findAll('[data-testid="dataset-row"]').map((row) => row.text())).toEqual([expect.stringContaining('kept')]);
  });

  it('offers a USPS file input beside the MNIST one in a browser, and imports the two files', async () => {
    const { engine, mount } = createHarness();
    const wrapper = mount(DataView);
    const input = wrapper.find('[data-testid="usps-file-input"]');
    expect(wrapper.find('[data-testid="load-usps-button"]').exists()).toBe(false);
    Object.defineProperty(input.element, 'files', { value: USPS_NAMES.map(file), configurable: true });
    await input.trigger('change');
    await flushPromises();
    expect((engine.callsOf('importUsps')[0] as { files: { name: string }[] }).files.map((sent) => sent.name)).toEqual(USPS_NAMES);
    expect(engine.callsOf('importMnist')).toEqual([]);
    expect(wrapper.find('[data-testid="import-result"]').text()).toBe('Imported "USPS zip.train + zip.test (7291 + 2007)".');
    expect(wrapper.findAll('[data-testid="dataset-kind"]').map((badge) => badge.text())).toEqual(['USPS']);
    expect(wrapper.find('#preview-title').text()).toContain('the published USPS split');
  });

  it('opens the host’s USPS dialog in the desktop app', async () => {
    const { engine, mount } = createHarness(new FakeEngine('electron'));
    engine.uspsDialogChoice = USPS_NAMES.map((name) => ({ name, base64: 'H4sIAA==' }));
    const wrapper = mount(ImportPanel);
    expect(wrapper.find('[data-testid="usps-file-input"]').exists()).toBe(false);
    await wrapper.find('[data-testid="load-usps-button"]').trigger('click');
    await flushPromises();
    expect(engine.callsOf('importUsps')).toHaveLength(1);
    expect(engine.callsOf('importMnist')).toEqual([]);
  });

  it('sends dropped files bearing USPS’s names to the USPS import, and others to MNIST’s', async () => {
    const { engine, mount } = createHarness();
    const wrapper = mount(ImportPanel);
    const dropzone = wrapper.find('[data-testid="import-dropzone"]');
    await dropzone.trigger('drop', { dataTransfer: { files: ['usps', 'usps.t'].map(file) } });
    await flushPromises();
    await dropzone.trigger('drop', { dataTransfer: { files: MNIST_NAMES.map(file) } });
    await flushPromises();
    expect(engine.callsOf('importUsps')).toHaveLength(1);
    expect(engine.callsOf('importMnist')).toHaveLength(1);
  });

  it('shows the import’s progress along the stages of its kind', async () => {
    const { engine, mount } = createHarness();
    const wrapper = mount(ImportPanel);
    const release = engine.holdNext('importUsps');
    const input = wrapper.find('[data-testid="usps-file-input"]');
    Object.defineProperty(input.element, 'files', { value: USPS_NAMES.map(file), configurable: true });
    await input.trigger('change');
    await flushPromises();
    engine.emit({ event: 'importProgress', data: { requestId: 1, stage: 'storing' } });
    await flushPromises();
    const progress = wrapper.find('[data-testid="import-progress"] progress');
    // USPS draws no subset: reading files, reading, decoding, storing, done.
    expect([progress.attributes('value'), progress.attributes('max')]).toEqual(['3', '4']);
    release();
    await flushPromises();
    expect(wrapper.find('[data-testid="import-progress"]').exists()).toBe(false);
  });

  it('shows a refused USPS file’s error and keeps the list of datasets as it was', async () => {
    const { engine, mount } = createHarness();
    engine.addDataset('kept');
    const wrapper = mount(DataView);
    await useDatasetsStore().refresh();
    await flushPromises();
    const input = wrapper.find('[data-testid="usps-file-input"]');
    Object.defineProperty(input.element, 'files', { value: [file('zip.train'), file('zip.test-corrupt')], configurable: true });
    await input.trigger('change');
    await flushPromises();
    expect(wrapper.find('[data-testid="import-error"]').text()).toBe(
      'The file was not accepted: zip.test-corrupt: line 3: 255 pixel values; a USPS line holds 256',
    );
    expect(wrapper.findAll('[data-testid="dataset-row"]').map((row) => row.text())).toEqual([expect.stringContaining('kept')]);
    expect(wrapper.findAll('[data-testid="dataset-kind"]').map((badge) => badge.text())).toEqual(['MNIST']);
  });

  it('previews the selected dataset’s digits with their labels and the class counts', async () => {
    const { engine, mount } = createHarness();
    engine.addDataset();
    const wrapper = mount(DataView);
    await useDatasetsStore().refresh();
    await flushPromises();
    const preview = wrapper.find('[data-testid="digit-preview"]');
    expect(preview.findAll('canvas.pixels')).toHaveLength(64);
    expect(preview.find('canvas').attributes('aria-label')).toBe('train digit 0: 0');
    expect(preview.find('canvas').attributes('width')).toBe('16');
    expect(wrapper.findAll('[data-testid="class-counts"] tr').map((row) => row.text())).toContain('0730');
  });

  it('asks before deleting a dataset, names the runs that go with it, and deletes on confirmation', async () => {
    const { engine, mount } = createHarness();
    const dataset = engine.addDataset('doomed');
    engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 1 });
    engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 1 });
    const view = mount(DataView);
    const dialog = mount(ConfirmDialog);
    await useDatasetsStore().refresh();
    await flushPromises();
    await view.find('[data-testid="dataset-delete"]').trigger('click');
    expect(dialog.find('[data-testid="confirm-dialog"]').text()).toContain('2 runs trained on it will be deleted with it');
    await dialog.find('[data-testid="confirm-cancel"]').trigger('click');
    await flushPromises();
    expect(engine.callsOf('deleteDataset')).toEqual([]);
    await view.find('[data-testid="dataset-delete"]').trigger('click');
    await dialog.find('[data-testid="confirm-ok"]').trigger('click');
    await flushPromises();
    expect(engine.callsOf('deleteDataset')).toEqual([{ datasetId: dataset.id, force: true }]);
    expect(view.findAll('[data-testid="dataset-row"]')).toHaveLength(0);
  });
});

describe('Train view', () => {
  it('starts a run and fills the table as passes finish, with the progress of the pass in flight', async () => {
    const { engine, mount } = createHarness();
    engine.addDataset();
    await useDatasetsStore().refresh();
    const wrapper = mount(TrainView);
    await flushPromises();
    expect(wrapper.find('[data-testid="pause-button"]').attributes('disabled')).toBeDefined();
    await wrapper.find('[data-testid="passes"]').setValue('2');
    await wrapper.find('[data-testid="train-limit"]').setValue('300');
    await wrapper.find('[data-testid="run-form"]').trigger('submit');
    await flushPromises();
    expect(engine.callsOf('createRun')[0]).toMatchObject({ config: { passes: 2, trainLimit: 300 }, start: true });
    const runId = engine.runs[0]!.id;
    expect(wrapper.find('[data-testid="pause-button"]').attributes('disabled')).toBeUndefined();
    expect(wrapper.find('[data-testid="resume-button"]').attributes('disabled')).toBeDefined();

    engine.emit({
      event: 'trainingProgress',
      data: { runId, pass: 1, passes: 2, examplesDone: 150, examplesTotal: 300, examplesPerSecond: 1234.4, etaSeconds: 65 },
    });
    await flushPromises();
    const progress = wrapper.find('[data-testid="training-progress"]');
    expect(progress.find('progress').attributes('value')).toBe('150');
    expect(progress.text()).toContain('1,234 examples/s');
    expect(progress.text()).toContain('ETA 1 min 05 s');

    engine.finishPass(runId, passMetrics(1, 198));
    await flushPromises();
    expect(wrapper.findAll('[data-testid="pass-row"]').map((row) => row.attributes('data-pass'))).toEqual(['1']);
    expect(wrapper.find('[data-testid="error-chart"]').attributes('data-points')).toBe(String(2 + 4));
  });

  it('says what the seed decides: MNIST’s subset and the weights, or on USPS the weights only', async () => {
    const { engine, mount } = createHarness();
    engine.addDataset('MNIST');
    const usps = engine.addDataset('USPS', { trainCount: 7291, testCount: 2007 });
    await useDatasetsStore().refresh();
    const wrapper = mount(TrainView);
    await flushPromises();
    expect(wrapper.find('[data-testid="seed-hint"]').text()).toBe('The seed draws the 1989-style subset from MNIST and sets the initial weights.');
    expect(wrapper.findAll('[data-testid="dataset-select"] option').map((option) => option.text())).toEqual(['MNIST · MNIST', 'USPS · USPS']);
    await wrapper.find('[data-testid="dataset-select"]').setValue(String(usps.id));
    expect(wrapper.find('[data-testid="seed-hint"]').text()).toBe(
      'USPS trains on its published split (7,291 training, 2,007 test digits): the seed only sets the initial weights.',
    );
    await wrapper.find('[data-testid="seed"]').setValue('7');
    await wrapper.find('[data-testid="run-form"]').trigger('submit');
    await flushPromises();
    expect(engine.callsOf('createRun')[0]).toMatchObject({ datasetId: usps.id, config: { seed: 7 } });
  });

  it('shows what a preset fixes beyond the form’s fields, and trains with it', async () => {
    const { engine, mount } = createHarness();
    engine.addDataset();
    await useDatasetsStore().refresh();
    const wrapper = mount(TrainView);
    const settings = () => wrapper.find('[data-testid="preset-settings"]').text();
    expect(settings()).toBe('optimizer: SGD · model: 1989 (tanh, MSE) · learning rate schedule: constant');
    await wrapper.find('[data-testid="preset-select"]').setValue('newton-1989');
    expect(settings()).toContain('optimizer: diagonal Newton, μ 0.02');
    await wrapper.find('[data-testid="preset-select"]').setValue('modern');
    expect(settings()).toBe(
      'optimizer: AdamW · model: modern (ReLU, softmax cross-entropy) · learning rate schedule: 0.0003 to 0.0001, linearly over the passes',
    );
    await wrapper.find('[data-testid="seed"]').setValue('5');
    await wrapper.find('[data-testid="run-form"]').trigger('submit');
    await flushPromises();
    expect(engine.callsOf('createRun')[0]).toMatchObject({
      preset: 'modern',
      config: { seed: 5, optimizer: 'adamw', model: 'modern', learningRate: 3e-4, finalLearningRate: 1e-4 },
    });
  });

  it('refuses a config the service would refuse, saying which field', async () => {
    const { engine, mount } = createHarness();
    engine.addDataset();
    await useDatasetsStore().refresh();
    const wrapper = mount(TrainView);
    await wrapper.find('[data-testid="learning-rate"]').setValue('-1');
    expect(wrapper.find('[role="alert"]').text()).toContain('learningRate');
    expect(wrapper.find('[data-testid="start-button"]').attributes('disabled')).toBeDefined();
  });

  it('offers Resume for a run the service’s crash interrupted', async () => {
    const { engine, mount } = createHarness();
    const dataset = engine.addDataset();
    const run = engine.addRun({ datasetId: dataset.id, status: 'interrupted', passes: 4 });
    const wrapper = mount(TrainView);
    await useSessionStore().start();
    await flushPromises();
    expect(wrapper.find('[data-testid="run-status"]').text()).toBe('interrupted');
    expect(wrapper.text()).toContain('The engine service stopped while this run was training.');
    await wrapper.find('[data-testid="resume-button"]').trigger('click');
    await flushPromises();
    expect(engine.callsOf('resumeRun')).toEqual([{ runId: run.id }]);
    expect(wrapper.find('[data-testid="run-status"]').text()).toBe('running');
  });
});

describe('Runs view', () => {
  it('lists runs from any source, resumes an interrupted one, and asks before deleting', async () => {
    const { engine, mount } = createHarness();
    const dataset = engine.addDataset();
    const interrupted = engine.addRun({ datasetId: dataset.id, status: 'interrupted', passes: 2 });
    const finished = engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 23 });
    const view = mount(RunsView);
    const dialog = mount(ConfirmDialog);
    await useRunsStore().refresh();
    await flushPromises();
    const rows = view.findAll('[data-testid="run-row"]');
    expect(rows.map((row) => [row.attributes('data-run-id'), row.attributes('data-status')])).toEqual([
      [String(finished.id), 'finished'],
      [String(interrupted.id), 'interrupted'],
    ]);
    expect(rows[0]!.find('[data-testid="run-resume"]').exists()).toBe(false);
    await rows[1]!.find('[data-testid="run-resume"]').trigger('click');
    await flushPromises();
    expect(engine.callsOf('resumeRun')).toEqual([{ runId: interrupted.id }]);

    await view.findAll('[data-testid="run-delete"]')[0]!.trigger('click');
    await dialog.find('[data-testid="confirm-ok"]').trigger('click');
    await flushPromises();
    expect(engine.callsOf('deleteRun')).toEqual([{ runId: finished.id }]);
    expect(view.findAll('[data-testid="run-row"]')).toHaveLength(1);
  });

  it('shows a chosen run’s passes and checkpoints, and exports one as safetensors or as an ONNX model', async () => {
    const { engine, mount } = createHarness();
    const dataset = engine.addDataset();
    const run = engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 2 });
    const view = mount(RunsView);
    await useRunsStore().refresh();
    await flushPromises();
    await view.find('[data-testid="run-row"] button.link').trigger('click');
    await flushPromises();
    const detail = view.find('[data-testid="run-detail"]');
    expect(detail.findAll('[data-testid="pass-row"]')).toHaveLength(2);
    expect(detail.findAll('[data-testid="checkpoint-row"]').map((row) => row.attributes('data-pass'))).toEqual(['0', '1', '2']);
    await detail.findAll('[data-testid="checkpoint-export"]')[2]!.trigger('click');
    await flushPromises();
    const last = engine.checkpoints.filter((checkpoint) => checkpoint.runId === run.id).at(-1)!;
    expect(engine.exported.map((saved) => [saved.checkpointId, saved.format])).toEqual([[last.id, 'safetensors']]);
    expect(view.find('[data-testid="runs-notice"]').text()).toBe(`Exported the weights of run #${run.id} after pass 2.`);
    await detail.findAll('[data-testid="checkpoint-export-onnx"]')[1]!.trigger('click');
    await flushPromises();
    const first = engine.checkpoints.filter((checkpoint) => checkpoint.runId === run.id)[1]!;
    expect(engine.exported.at(-1)).toEqual({ checkpointId: first.id, format: 'onnx', fileName: `lecun1989-run${run.id}-pass1.onnx` });
    expect(view.find('[data-testid="runs-notice"]').text()).toBe(`Exported the weights of run #${run.id} after pass 1 as an ONNX model.`);
  });

  it('describes a run on a USPS set: its dataset and kind, its split’s size, and a seed that set only the weights', async () => {
    const { engine, mount } = createHarness();
    const usps = engine.addDataset('zip digits', { trainCount: 100, testCount: 30 });
    engine.addRun({ datasetId: usps.id, status: 'finished', passes: 1 });
    await useDatasetsStore().refresh();
    const view = mount(RunsView);
    await useRunsStore().refresh();
    await flushPromises();
    await view.find('[data-testid="run-row"] button.link').trigger('click');
    await flushPromises();
    const facts = Object.fromEntries(
      view.findAll('[data-testid="run-detail"] dt').map((term) => [term.text(), (term.element.nextElementSibling as HTMLElement).textContent!.trim()]),
    );
    expect(facts).toMatchObject({ 'seed (initial weights)': '1337', 'training examples': 'all 100', dataset: 'zip digits USPS' });
  });

  it('shows the optimizer and model a run was created with', async () => {
    const { engine, mount } = createHarness();
    const dataset = engine.addDataset();
    const run = engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 1, preset: 'newton-1989' });
    run.config = { seed: 1337, passes: 23, learningRate: 0.0005, trainLimit: null, optimizer: 'diag-newton', damping: 0.05 };
    const view = mount(RunsView);
    await useRunsStore().select(run.id);
    await flushPromises();
    expect(view.find('[data-testid="run-setting-optimizer"]').text()).toBe('diagonal Newton, μ 0.05');
    expect(view.find('[data-testid="run-setting-model"]').text()).toBe('1989 (tanh, MSE)');
    expect(view.find('[data-testid="run-setting-learning-rate-schedule"]').text()).toBe('constant');
  });

  it('draws two ticked runs on one chart', async () => {
    const { engine, mount } = createHarness();
    const dataset = engine.addDataset();
    engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 3 });
    engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 5 });
    const view = mount(RunsView);
    await useRunsStore().refresh();
    await flushPromises();
    expect(view.find('[data-testid="compare-chart"]').exists()).toBe(false);
    for (const box of view.findAll('[data-testid="run-compare"]')) await box.setValue(true);
    await flushPromises();
    // Two runs of 3 and 5 passes, train and test each, plus the paper's two reference lines of 2 points.
    expect(view.find('[data-testid="compare-chart"]').attributes('data-points')).toBe(String(2 * 3 + 2 * 5 + 4));
  });

  it('imports weights from the file input as a new run', async () => {
    const { engine, mount } = createHarness();
    const view = mount(RunsView);
    const input = view.find('[data-testid="weights-file-input"]');
    Object.defineProperty(input.element, 'files', { value: [file('model.safetensors')], configurable: true });
    await input.trigger('change');
    await flushPromises();
    expect(engine.callsOf('importWeights')).toHaveLength(1);
    expect(view.findAll('[data-testid="run-row"]').map((row) => row.text())).toEqual([expect.stringContaining('imported weights')]);
  });
});

describe('Inspect view', () => {
  async function inspecting() {
    const harness = createHarness();
    const dataset = harness.engine.addDataset();
    harness.engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 2 });
    await Promise.all([useDatasetsStore().refresh(), useRunsStore().refresh()]);
    const wrapper = harness.mount(InspectView);
    await flushPromises();
    return { ...harness, wrapper };
  }

  it('shows the misclassified test digits with true and predicted labels, and the confusion matrix', async () => {
    const { wrapper } = await inspecting();
    const items = wrapper.findAll('[data-testid="misclassified-item"]');
    expect(items.map((item) => [item.attributes('data-index'), item.attributes('data-label'), item.attributes('data-predicted')])).toEqual([
      ['3', '3', '4'],
      ['17', '7', '8'],
      ['42', '2', '3'],
    ]);
    expect(items[1]!.text()).toBe('7→8');
    const matrix = wrapper.find('[data-testid="confusion-matrix"]');
    expect(matrix.findAll('tbody tr')).toHaveLength(10);
    expect(matrix.findAll('tbody tr')[7]!.findAll('td')[8]!.text()).toBe('1');
    expect(matrix.findAll('tbody tr')[7]!.findAll('td')[7]!.text()).toBe('200');
  });

  it('shows a clicked digit’s H1 and H2 feature maps and the 12 learned kernels', async () => {
    const { wrapper } = await inspecting();
    expect(wrapper.findAll('[data-testid="kernels"] canvas')).toHaveLength(12);
    await wrapper.findAll('[data-testid="misclassified-item"]')[2]!.trigger('click');
    await flushPromises();
    expect(wrapper.find('[data-testid="feature-source"]').text()).toBe('test digit #42 (label 2)');
    const maps = wrapper.find('[data-testid="feature-maps"]');
    expect(maps.findAll('canvas[width="8"]')).toHaveLength(12);
    expect(maps.findAll('canvas[width="4"]')).toHaveLength(12);
  });

  it('predicts what is drawn on the pad, and shows the 16×16 input it sent', async () => {
    const { engine, wrapper } = await inspecting();
    const pad = wrapper.find('[data-testid="draw-pad"]');
    (pad.element as HTMLCanvasElement).getBoundingClientRect = () => ({ left: 0, top: 0, width: 336, height: 336 }) as DOMRect;
    // A vertical stroke a third of the way across.
    await pad.trigger('pointerdown', { clientX: 110, clientY: 60, pointerId: 1 });
    await pad.trigger('pointermove', { clientX: 112, clientY: 280, pointerId: 1 });
    await pad.trigger('pointerup', { pointerId: 1 });
    await flushPromises();
    const sent = engine.callsOf('predict').at(-1) as { image: number[] };
    expect(sent.image).toHaveLength(256);
    expect(sent.image.filter((value) => value > -1).length).toBeGreaterThan(10);
    // The fake reads the inked column: a stroke centred by mass lands in the middle columns.
    const prediction = wrapper.find('[data-testid="prediction"]');
    expect(['7', '8']).toContain(prediction.attributes('data-digit'));
    expect(wrapper.findAll('[data-testid="output-bars"] li')).toHaveLength(10);
    await wrapper.find('[data-testid="draw-clear"]').trigger('click');
    await flushPromises();
    expect(wrapper.find('[data-testid="prediction"]').exists()).toBe(false);
  });
});

describe('small parts', () => {
  it('OutputBars marks the winning output', () => {
    const { mount } = createHarness();
    const outputs = [-0.9, -0.8, 0.95, -0.7, -1, -1, -1, -1, -1, -0.2];
    const wrapper = mount(OutputBars, { outputs, predicted: 2 });
    expect(wrapper.find('[data-testid="prediction"]').text()).toContain('2');
    expect(wrapper.find('li.winner').text()).toBe('20.95');
    expect(wrapper.findAll('meter').map((meter) => meter.attributes('value'))).toContain(String((0.95 + 1) / 2));
  });

  it('OutputBars shows a modern model’s logits as probabilities', () => {
    const { mount } = createHarness();
    const logits = [0, 0, Math.log(8), 0, 0, 0, 0, 0, 0, 0];
    const wrapper = mount(OutputBars, { outputs: logits, predicted: 2, model: 'modern' });
    const values = wrapper.findAll('li .value').map((value) => Number(value.text()));
    expect(values[2]).toBeCloseTo(8 / 17, 2);
    expect(values.reduce((sum, value) => sum + value, 0)).toBeCloseTo(1, 1);
    expect(wrapper.find('meter').attributes('aria-label')).toMatch(/^probability 0/);
  });

  it('DrawPad emits nothing to predict after Clear', async () => {
    const { mount } = createHarness();
    const wrapper = mount(DrawPad);
    await wrapper.find('[data-testid="draw-clear"]').trigger('click');
    expect(wrapper.emitted('change')).toEqual([[null]]);
  });

  it('NoticeList shows what the service reported until dismissed', async () => {
    const { engine, mount } = createHarness();
    const wrapper = mount(NoticeList);
    await useSessionStore().start();
    engine.emit({ event: 'serviceError', data: { code: 'service_exited', message: 'exited with code 1; restarting' } });
    await flushPromises();
    expect(wrapper.find('[role="alert"]').text()).toContain('The engine service reported a problem (service_exited): exited with code 1; restarting');
    await wrapper.find('[data-testid="service-notices"] button').trigger('click');
    expect(wrapper.find('[data-testid="service-notices"]').exists()).toBe(false);
  });
});
