// The Electron main process with a stand-in 'electron' module: the window and session follow Electron's security
// checklist, IPC refuses foreign callers and malformed requests before the service sees them, the dialogs read
// and write the files themselves, and a crashed service is restarted and the page told.
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  eventMessage,
  METHODS,
  PROTOCOL_VERSION,
  type DatasetInfo,
  type RequestMessage,
  type RunSummary,
} from '../../core/protocol';
import { engineChannel, EVENT_CHANNEL, HOST_CHANNELS, MENU_COMMAND_CHANNEL } from '../../electron/channels';
import {
  dialogMocks,
  fakeApp,
  FakeBrowserWindow,
  FakeUtilityChild,
  FakeWebContents,
  ipcMainHandlers,
  menuRecord,
  sessionRecord,
} from './fake-electron';

vi.mock('electron', async () => (await import('./fake-electron')).electronModule);

const APP_URL = pathToFileURL('/fake/app/dist/renderer/index.html').href;
const DATABASE = '/fake/config/lecun1989/lecun1989.sqlite';
const work = mkdtempSync(join(tmpdir(), 'lecun1989-electron-'));

const settle = () => new Promise((resolve) => setImmediate(resolve));
const window = () => FakeBrowserWindow.instances[0]!;
const service = () => FakeUtilityChild.instances.at(-1)!;

/** What the service answers, per method; a missing entry leaves the request unanswered. */
let answers: Record<string, (params: Record<string, unknown>) => unknown> = {};

function answerRequests(child: FakeUtilityChild) {
  child.on('posted', (message: RequestMessage) => {
    const answer = answers[message.method];
    if (answer === undefined) return;
    queueMicrotask(() => child.emit('message', { v: PROTOCOL_VERSION, type: 'response', id: message.id, ok: true, result: answer(message.params as Record<string, unknown>) }));
  });
}

function announceReady(child: FakeUtilityChild, interruptedRunIds: number[] = []) {
  child.emit('message', eventMessage('ready', { protocolVersion: 1, engineVersion: 'engine-test', databasePath: DATABASE, interruptedRunIds }));
}

const requestsSeen = (child = service()) => (child.received as RequestMessage[]).map((request) => request.method);

function appSender(url = APP_URL) {
  return { sender: window().webContents, senderFrame: { url, parent: null } };
}

async function invoke(channel: string, event: unknown, ...args: unknown[]): Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string } }> {
  const handler = ipcMainHandlers.get(channel);
  if (handler === undefined) throw new Error(`no handler for ${channel}`);
  return (await handler(event, ...args)) as { ok: boolean; result?: unknown; error?: { code: string; message: string } };
}

const RUN: RunSummary = {
  id: 3, preset: 'sgd-1989', config: null, status: 'interrupted', datasetId: 1, subsetId: 1, seed: 1337, engineVersion: 'engine-test', error: null,
  createdAt: 1, updatedAt: 2, startedAt: 1, finishedAt: null, passesDone: 1, lastTestErrorPercent: 7.5,
};

beforeAll(async () => {
  await import('../../electron/main');
  await settle();
  answerRequests(service());
  announceReady(service());
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeEach(() => {
  answers = {
    listRuns: () => ({ runs: [RUN] }),
    getServiceInfo: () => ({ protocolVersion: 1, engineVersion: 'engine-test', databasePath: DATABASE, activeRunId: null }),
  };
  dialogMocks.showOpenDialog.mockReset();
  dialogMocks.showSaveDialog.mockReset();
});

describe('the window', () => {
  it('is one window, on the built renderer file, with the webPreferences of the security checklist', () => {
    expect(fakeApp.requestSingleInstanceLock).toHaveBeenCalled();
    expect(FakeBrowserWindow.instances).toHaveLength(1);
    expect(window().loadedFile).toBe('/fake/app/dist/renderer/index.html');
    expect(window().options.webPreferences).toMatchObject({
      preload: '/fake/app/dist/electron/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
    });
  });

  it('cannot navigate away from the app page, open windows or attach webviews', () => {
    const contents = window().webContents;
    const attempt = (event: string, ...args: unknown[]) => {
      const preventDefault = vi.fn();
      contents.emit(event, { preventDefault, url: args[0] }, ...args);
      return preventDefault.mock.calls.length > 0;
    };
    for (const url of ['https://example.com/', 'file:///etc/passwd', 'file:///fake/app/dist/renderer/other.html', 'javascript:alert(1)']) {
      expect(attempt('will-navigate', url), url).toBe(true);
      expect(attempt('will-frame-navigate', url), url).toBe(true);
    }
    expect(attempt('will-navigate', APP_URL)).toBe(false);
    expect(attempt('will-navigate', `${APP_URL}?token=x#/runs`)).toBe(false);
    expect(attempt('will-redirect', 'https://example.com/')).toBe(true);
    expect(attempt('will-attach-webview')).toBe(true);
    expect(contents.windowOpenHandler?.({ url: 'https://example.com/' })).toEqual({ action: 'deny' });
    expect(contents.windowOpenHandler?.({ url: APP_URL })).toEqual({ action: 'deny' });
  });

  it('confines every web contents the app creates, not only the first', () => {
    const other = new FakeWebContents();
    fakeApp.emit('web-contents-created', {}, other);
    expect(other.windowOpenHandler?.({ url: 'https://example.com/' })).toEqual({ action: 'deny' });
    const preventDefault = vi.fn();
    other.emit('will-navigate', { preventDefault }, 'https://example.com/');
    expect(preventDefault).toHaveBeenCalled();
  });

  it('sends nothing to the network and grants no permission', () => {
    expect(sessionRecord.beforeRequest).toHaveLength(1);
    const { filter, listener } = sessionRecord.beforeRequest[0]!;
    expect(filter.urls).toEqual(expect.arrayContaining(['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*']));
    const callback = vi.fn();
    listener({ url: 'https://cdn.example.com/font.woff2' }, callback);
    expect(callback).toHaveBeenCalledWith({ cancel: true });
    const granted = vi.fn();
    sessionRecord.permissionRequest?.(window().webContents, 'media', granted);
    expect(granted).toHaveBeenCalledWith(false);
    expect(sessionRecord.permissionCheck?.(window().webContents, 'clipboard-read')).toBe(false);
  });

  it('focuses the existing window when a second instance starts', () => {
    const focus = vi.spyOn(window(), 'focus');
    fakeApp.emit('second-instance');
    expect(focus).toHaveBeenCalled();
  });
});

describe('the menu', () => {
  type Item = { label?: string; role?: string; click?: () => void; submenu?: Item[] };
  const menu = (label: string) => (menuRecord.applied!.template as Item[]).find((item) => item.label === label)!;

  it('has File (load MNIST or USPS, import, export as safetensors or ONNX, quit) and Help (about), each item sending its command to the page', () => {
    const file = menu('File').submenu!;
    expect(file.map((item) => item.label ?? item.role)).toEqual([
      'Load MNIST files…',
      'Load USPS files…',
      undefined,
      'Import weights…',
      'Export weights…',
      'Export ONNX model…',
      undefined,
      'quit',
    ]);
    const sent = () => window().webContents.sent.filter(([channel]) => channel === MENU_COMMAND_CHANNEL).map(([, command]) => command);
    for (const item of file) item.click?.();
    menu('Help').submenu![0]!.click!();
    expect(sent()).toEqual(['load-mnist', 'load-usps', 'import-weights', 'export-weights', 'export-onnx', 'about']);
  });
});

describe('IPC', () => {
  it('has a handler for every engine request and every host action', () => {
    for (const method of METHODS) expect(ipcMainHandlers.has(engineChannel(method)), method).toBe(true);
    for (const channel of Object.values(HOST_CHANNELS)) expect(ipcMainHandlers.has(channel), channel).toBe(true);
  });

  it('starts the service in a utilityProcess on the database in the user-data folder', () => {
    const child = FakeUtilityChild.instances[0]!;
    expect(child.entry).toBe('/fake/app/dist/core/service.js');
    expect(child.args).toEqual(['--db', DATABASE]);
  });

  it('forwards a valid request from the app page and returns the answer', async () => {
    expect(await invoke(engineChannel('listRuns'), appSender())).toEqual({ ok: true, result: { runs: [RUN] } });
    expect(await invoke(engineChannel('listRuns'), appSender(`${APP_URL}#/runs`))).toMatchObject({ ok: true });
    expect(requestsSeen().filter((method) => method === 'listRuns')).toHaveLength(2);
  });

  it('refuses callers other than the app page in the app window, before the service hears of them', async () => {
    const before = service().received.length;
    const foreign = [
      { sender: new FakeWebContents(), senderFrame: { url: APP_URL, parent: null } },
      { sender: window().webContents, senderFrame: { url: APP_URL, parent: { url: APP_URL } } },
      { sender: window().webContents, senderFrame: { url: 'file:///tmp/evil.html', parent: null } },
      { sender: window().webContents, senderFrame: { url: 'https://example.com/', parent: null } },
      { sender: window().webContents, senderFrame: null },
    ];
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    for (const event of foreign) {
      await expect(invoke(engineChannel('listRuns'), event)).rejects.toThrow('not the app');
      for (const channel of Object.values(HOST_CHANNELS)) await expect(invoke(channel, event, 12, 'onnx')).rejects.toThrow('not the app');
    }
    vi.mocked(process.stderr.write).mockRestore();
    expect(service().received.length).toBe(before);
    expect(dialogMocks.showOpenDialog).not.toHaveBeenCalled();
    expect(dialogMocks.showSaveDialog).not.toHaveBeenCalled();
  });

  it('answers malformed requests with the protocol error, without forwarding them', async () => {
    const before = service().received.length;
    const cases: [string, unknown, string][] = [
      ['getRun', { runId: 'three' }, 'invalid_params'],
      ['getRun', undefined, 'invalid_params'],
      ['createRun', { datasetId: 1, preset: 'x', config: { passes: 0 } }, 'invalid_params'],
      ['importMnist', { from: 'bytes', files: [{ name: 'a', base64: '***' }] }, 'invalid_params'],
      ['listRuns', { extra: 1 }, 'invalid_params'],
      ['predict', 'not an object', 'invalid_params'],
    ];
    for (const [method, params, code] of cases) {
      const answer = await invoke(engineChannel(method as (typeof METHODS)[number]), appSender(), params);
      expect(answer, method).toMatchObject({ ok: false, error: { code } });
    }
    expect(service().received.length).toBe(before);
  });

  it.each(['importMnist', 'importUsps'] as const)('refuses %s by path from the page: only its own dialogs name files', async (method) => {
    const before = service().received.length;
    const answer = await invoke(engineChannel(method), appSender(), { from: 'paths', paths: ['/etc/passwd'] });
    expect(answer).toMatchObject({ ok: false, error: { code: 'invalid_params', message: expect.stringContaining('by path') } });
    expect(service().received.length).toBe(before);
  });
});

describe('the dialogs', () => {
  const DATASET: DatasetInfo = {
    id: 1, kind: 'mnist', name: 'MNIST', trainCount: 60000, testCount: 10000, createdAt: 1, subsets: [], runCount: 0,
    sha256: { trainImages: 'a'.repeat(64), trainLabels: 'b'.repeat(64), testImages: 'c'.repeat(64), testLabels: 'd'.repeat(64) },
  };

  it('loads the MNIST files the user chose, by path, from the main process', async () => {
    const files = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'].map((name) => `/data/${name}`);
    dialogMocks.showOpenDialog.mockResolvedValue({ canceled: false, filePaths: files });
    let sent: Record<string, unknown> | undefined;
    answers.importMnist = (params) => {
      sent = params;
      return { dataset: DATASET, created: true };
    };
    expect(await invoke(HOST_CHANNELS.importMnistWithDialog, appSender())).toEqual({ ok: true, result: { dataset: DATASET, created: true } });
    expect(sent).toEqual({ from: 'paths', paths: files });
    expect(dialogMocks.showOpenDialog.mock.calls[0]![1].properties).toEqual(expect.arrayContaining(['openFile', 'multiSelections']));
  });

  it('does nothing when the user cancels, and refuses more than four files', async () => {
    const before = service().received.length;
    dialogMocks.showOpenDialog.mockResolvedValueOnce({ canceled: true, filePaths: [] });
    expect(await invoke(HOST_CHANNELS.importMnistWithDialog, appSender())).toEqual({ ok: true, result: null });
    dialogMocks.showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: ['1', '2', '3', '4', '5'].map((name) => `/data/${name}`) });
    expect(await invoke(HOST_CHANNELS.importMnistWithDialog, appSender())).toMatchObject({ ok: false, error: { code: 'bad_file' } });
    expect(service().received.length).toBe(before);
  });

  it('loads the USPS files the user chose, by path, from the main process; nothing on cancel; at most two files', async () => {
    const USPS: DatasetInfo = { ...DATASET, id: 2, kind: 'usps', name: 'USPS', trainCount: 7291, testCount: 2007 };
    const files = ['/data/zip.train.gz', '/data/zip.test'];
    dialogMocks.showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: files });
    let sent: Record<string, unknown> | undefined;
    answers.importUsps = (params) => {
      sent = params;
      return { dataset: USPS, created: true };
    };
    expect(await invoke(HOST_CHANNELS.importUspsWithDialog, appSender())).toEqual({ ok: true, result: { dataset: USPS, created: true } });
    expect(sent).toEqual({ from: 'paths', paths: files });
    const options = dialogMocks.showOpenDialog.mock.calls[0]![1];
    expect(options.title).toBe('Load USPS files');
    expect(options.properties).toEqual(expect.arrayContaining(['openFile', 'multiSelections']));
    // usps and usps.t have no extension a filter could name.
    expect(options.filters).toBeUndefined();

    const before = service().received.length;
    dialogMocks.showOpenDialog.mockResolvedValueOnce({ canceled: true, filePaths: [] });
    expect(await invoke(HOST_CHANNELS.importUspsWithDialog, appSender())).toEqual({ ok: true, result: null });
    dialogMocks.showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: ['/data/usps', '/data/usps.t', '/data/zip.test'] });
    expect(await invoke(HOST_CHANNELS.importUspsWithDialog, appSender())).toMatchObject({
      ok: false,
      error: { code: 'bad_file', message: 'choose the two USPS files; 3 files were chosen' },
    });
    expect(service().received.length).toBe(before);
  });

  it('reads a chosen safetensors file and imports its bytes, refusing one too large to be the 1989 weights', async () => {
    const weights = join(work, 'model.safetensors');
    writeFileSync(weights, Buffer.from('weights bytes'));
    dialogMocks.showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: [weights] });
    let sent: Record<string, unknown> | undefined;
    answers.importWeights = (params) => {
      sent = params;
      return { run: { ...RUN, id: 4, preset: 'imported', status: 'finished' }, checkpointId: 9 };
    };
    expect(await invoke(HOST_CHANNELS.importWeightsWithDialog, appSender())).toMatchObject({ ok: true, result: { checkpointId: 9 } });
    expect(sent).toEqual({ name: 'model.safetensors', base64: Buffer.from('weights bytes').toString('base64') });

    const huge = join(work, 'huge.safetensors');
    writeFileSync(huge, '');
    truncateSync(huge, 2 * 1024 * 1024);
    const before = service().received.length;
    dialogMocks.showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: [huge] });
    const refused = await invoke(HOST_CHANNELS.importWeightsWithDialog, appSender());
    expect(refused).toMatchObject({ ok: false, error: { code: 'bad_file', message: expect.stringContaining(huge) } });
    expect(service().received.length).toBe(before);
  });

  it('exports a checkpoint and writes it where the user chose', async () => {
    const bytes = Buffer.from([1, 2, 3, 250]);
    answers.exportWeights = () => ({ fileName: '../../run-3-pass-2.safetensors', base64: bytes.toString('base64') });
    const target = join(work, 'saved.safetensors');
    dialogMocks.showSaveDialog.mockResolvedValueOnce({ canceled: false, filePath: target });
    expect(await invoke(HOST_CHANNELS.exportWeightsWithDialog, appSender(), 12, 'safetensors')).toEqual({ ok: true, result: true });
    expect(readFileSync(target)).toEqual(bytes);
    const options = dialogMocks.showSaveDialog.mock.calls[0]![1];
    // The service's suggested name is only a name: it cannot steer the dialog out of the documents folder.
    expect(options.defaultPath).toBe('/fake/documents/run-3-pass-2.safetensors');
    expect(options.filters[0]).toEqual({ name: 'safetensors', extensions: ['safetensors'] });

    dialogMocks.showSaveDialog.mockResolvedValueOnce({ canceled: true, filePath: '' });
    expect(await invoke(HOST_CHANNELS.exportWeightsWithDialog, appSender(), 12, 'safetensors')).toEqual({ ok: true, result: false });
    const before = service().received.length;
    expect(await invoke(HOST_CHANNELS.exportWeightsWithDialog, appSender(), 'twelve', 'safetensors')).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect(await invoke(HOST_CHANNELS.exportWeightsWithDialog, appSender(), 12, 'pdf')).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect(service().received.length).toBe(before);
    expect(dialogMocks.showSaveDialog).toHaveBeenCalledTimes(2);
  });

  it('exports a checkpoint as an ONNX model, saved through a dialog offering .onnx', async () => {
    const bytes = Buffer.from([8, 7, 18, 0]);
    let sent: Record<string, unknown> | undefined;
    answers.exportWeights = (params) => {
      sent = params;
      return { fileName: 'lecun1989-run3-pass2.onnx', base64: bytes.toString('base64') };
    };
    const target = join(work, 'model.onnx');
    dialogMocks.showSaveDialog.mockResolvedValueOnce({ canceled: false, filePath: target });
    expect(await invoke(HOST_CHANNELS.exportWeightsWithDialog, appSender(), 12, 'onnx')).toEqual({ ok: true, result: true });
    expect(sent).toEqual({ checkpointId: 12, format: 'onnx' });
    expect(readFileSync(target)).toEqual(bytes);
    const options = dialogMocks.showSaveDialog.mock.calls[0]![1];
    expect(options.title).toBe('Export ONNX model');
    expect(options.defaultPath).toBe('/fake/documents/lecun1989-run3-pass2.onnx');
    expect(options.filters[0]).toEqual({ name: 'ONNX model', extensions: ['onnx'] });
  });

  it('reports the app, engine, Electron and Node versions', async () => {
    const answer = await invoke(HOST_CHANNELS.about, appSender());
    expect(answer).toEqual({
      ok: true,
      result: {
        appVersion: '0.1.0',
        engineVersion: 'engine-test',
        electronVersion: process.versions.electron ?? null,
        nodeVersion: process.versions.node,
        chromeVersion: process.versions.chrome ?? null,
      },
    });
  });
});

describe('a service that dies', () => {
  it('is restarted on the same database, its calls in flight fail, and the page is told', async () => {
    const crashed = service();
    const forks = FakeUtilityChild.instances.length;
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    delete answers.getRun; // left unanswered: in flight when the process dies
    const inFlight = invoke(engineChannel('getRun'), appSender(), { runId: 3 });
    await settle();
    expect(requestsSeen(crashed).at(-1)).toBe('getRun');
    crashed.emit('exit', 133);
    expect(await inFlight).toMatchObject({ ok: false, error: { code: 'disconnected' } });

    const events = () => window().webContents.sent.filter(([channel]) => channel === EVENT_CHANNEL).map(([, event]) => event as { event: string; data: Record<string, unknown> });
    expect(events().at(-1)).toEqual({ event: 'serviceError', data: { code: 'service_crashed', message: expect.stringContaining('exit code 133') } });
    await vi.waitFor(() => expect(FakeUtilityChild.instances).toHaveLength(forks + 1));
    const restarted = service();
    expect(restarted.entry).toBe(crashed.entry);
    expect(restarted.args).toEqual(['--db', DATABASE]);

    // Calls made while it starts wait for it; its ready event, naming the interrupted run, reaches the page.
    const queued = invoke(engineChannel('listRuns'), appSender());
    answerRequests(restarted);
    announceReady(restarted, [3]);
    expect(await queued).toEqual({ ok: true, result: { runs: [RUN] } });
    expect(events().filter((event) => event.event === 'ready').at(-1)?.data.interruptedRunIds).toEqual([3]);
    vi.mocked(process.stderr.write).mockRestore();
  });

  it('is shut down, not restarted, when the app quits, and the quit waits until it has exited', async () => {
    const running = service();
    const forks = FakeUtilityChild.instances.length;
    // The service takes its time to record the run as interrupted and close the database: it exits when the test says.
    vi.spyOn(running, 'kill').mockImplementation(() => (running.killed = true));
    const quitPrevented = () => {
      const preventDefault = vi.fn();
      fakeApp.emit('before-quit', { preventDefault });
      return preventDefault.mock.calls.length > 0;
    };
    fakeApp.quit.mockClear();
    expect(quitPrevented()).toBe(true);
    await settle();
    expect(running.killed).toBe(true);
    // Quitting again while the service is still finishing is held too, and starts no second quit later.
    expect(quitPrevented()).toBe(true);
    await settle();
    expect(fakeApp.quit).not.toHaveBeenCalled();
    running.emit('exit', 0);
    await vi.waitFor(() => expect(fakeApp.quit).toHaveBeenCalledTimes(1));
    // The quit that follows, once the service is gone, goes through.
    expect(quitPrevented()).toBe(false);
    await settle();
    expect(fakeApp.quit).toHaveBeenCalledTimes(1);
    expect(FakeUtilityChild.instances).toHaveLength(forks);
    expect(await invoke(engineChannel('listRuns'), appSender())).toMatchObject({ ok: false, error: { code: 'disconnected' } });
  });
});
