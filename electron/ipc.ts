/**
 * The main process's side of the preload's API. Every handler first checks that the caller is the app's own page
 * in the app's own window, then validates what it sent with the protocol's schemas before anything reaches the
 * service. Files are chosen in native dialogs and read or written here: the renderer never names a path.
 */
import { dialog, ipcMain, type BrowserWindow, type FileFilter, type IpcMainInvokeEvent } from 'electron';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { AboutInfo } from '../core/app-api';
import {
  base64ToBytes,
  bytesToBase64,
  EngineError,
  MAX_WEIGHTS_FILE_BYTES,
  METHODS,
  PROTOCOL_VERSION,
  requestSchemas,
  type DatasetKind,
  type EngineApi,
  type ExportFormat,
  type Method,
  type ResponseMessage,
  type Result,
} from '../core/protocol';
import { parseRendererRequest } from '../core/renderer-request';
import { engineChannel, HOST_CHANNELS, type IpcOutcome } from './channels';
import { pageAddress } from './window';

export interface IpcContext {
  engine: EngineApi;
  /** The app's window, while it exists. */
  window(): BrowserWindow | null;
  /** The file URL of the app's page (dist/renderer/index.html). */
  appUrl: string;
  /** Where the save dialog starts. */
  documentsDir(): string;
  about(): Promise<AboutInfo>;
}

const ALL_FILES: FileFilter = { name: 'All files', extensions: ['*'] };

/** The save dialog for each export format: its title, and a filter whose extension the dialog keeps. */
const EXPORT_DIALOGS: Record<ExportFormat, { title: string; filters: FileFilter[] }> = {
  safetensors: { title: 'Export weights', filters: [{ name: 'safetensors', extensions: ['safetensors'] }, ALL_FILES] },
  onnx: { title: 'Export ONNX model', filters: [{ name: 'ONNX model', extensions: ['onnx'] }, ALL_FILES] },
};

/**
 * The open dialog for each kind of dataset. No filter: raw MNIST files (train-images-idx3-ubyte) and LIBSVM's usps
 * have no usable extension.
 */
const IMPORT_DIALOGS: Record<DatasetKind, { title: string; message: string; maxFiles: number; files: string }> = {
  mnist: {
    title: 'Load MNIST files',
    message: 'Choose the four MNIST files (training and test images and labels), raw or .gz',
    maxFiles: 4,
    files: 'the four MNIST files',
  },
  usps: {
    title: 'Load USPS files',
    message: 'Choose the USPS training and test files: zip.train and zip.test (raw or .gz), or usps and usps.t',
    maxFiles: 2,
    files: 'the two USPS files',
  },
};

/** The only caller allowed: the top frame of our window, showing our page. */
export function isAppSender(event: IpcMainInvokeEvent, window: BrowserWindow | null, appUrl: string): boolean {
  if (window === null || window.isDestroyed() || event.sender !== window.webContents) return false;
  const frame = event.senderFrame;
  if (frame === null || frame.parent !== null) return false;
  try {
    return pageAddress(frame.url) === appUrl;
  } catch {
    return false;
  }
}

function failed(code: EngineError['code'], message: string): IpcOutcome<never> {
  return { ok: false, error: { code, message } };
}

async function outcome<T>(work: () => Promise<T>): Promise<IpcOutcome<T>> {
  try {
    return { ok: true, result: await work() };
  } catch (error) {
    if (error instanceof EngineError) return failed(error.code, error.message);
    return failed('internal', error instanceof Error ? error.message : String(error));
  }
}

function callEngine(engine: EngineApi, method: Method, params: unknown): Promise<unknown> {
  return (engine[method] as (params: unknown) => Promise<unknown>)(params);
}

export function registerIpcHandlers(context: IpcContext): void {
  const { engine } = context;
  const handle = (channel: string, handler: (...args: unknown[]) => Promise<IpcOutcome>) => {
    ipcMain.handle(channel, (event, ...args: unknown[]) => {
      if (!isAppSender(event, context.window(), context.appUrl)) {
        const from = event.senderFrame?.url ?? 'a frame that is gone';
        process.stderr.write(`lecun1989: refused ${channel} from ${from}\n`);
        throw new Error(`${channel}: refused, the caller is not the app's own page`);
      }
      return handler(...args);
    });
  };

  for (const method of METHODS) {
    handle(engineChannel(method), async (params) => {
      const parsed = parseRendererRequest({ v: PROTOCOL_VERSION, type: 'request', id: 0, method, params: params ?? {} });
      // parseRequest's refusals are always error responses.
      if (!parsed.ok) return { ok: false, error: (parsed.response as Extract<ResponseMessage, { ok: false }>).error };
      return outcome(() => callEngine(engine, method, parsed.params));
    });
  }

  const parent = () => {
    const window = context.window();
    if (window === null) throw new Error('the app window is closed');
    return window;
  };

  /** Shows the kind's open dialog and has the service read the chosen files by path. */
  const importWithDialog =
    (kind: DatasetKind, importPaths: (paths: string[]) => Promise<Result<'importMnist'>>) => () =>
      outcome(async () => {
        const { title, message, maxFiles, files } = IMPORT_DIALOGS[kind];
        const choice = await dialog.showOpenDialog(parent(), { title, message, properties: ['openFile', 'multiSelections'] });
        if (choice.canceled || choice.filePaths.length === 0) return null;
        if (choice.filePaths.length > maxFiles) {
          throw new EngineError('bad_file', `choose ${files}; ${choice.filePaths.length} files were chosen`);
        }
        return importPaths(choice.filePaths);
      });

  handle(HOST_CHANNELS.importMnistWithDialog, importWithDialog('mnist', (paths) => engine.importMnist({ from: 'paths', paths })));
  handle(HOST_CHANNELS.importUspsWithDialog, importWithDialog('usps', (paths) => engine.importUsps({ from: 'paths', paths })));

  handle(HOST_CHANNELS.importWeightsWithDialog, () =>
    outcome(async () => {
      const choice = await dialog.showOpenDialog(parent(), { title: 'Import weights', properties: ['openFile'], filters: EXPORT_DIALOGS.safetensors.filters });
      const path = choice.filePaths[0];
      if (choice.canceled || path === undefined) return null;
      const { size } = await stat(path);
      if (size > MAX_WEIGHTS_FILE_BYTES) {
        throw new EngineError('bad_file', `${path}: ${size} bytes is too large for the 1989 network's weights (at most ${MAX_WEIGHTS_FILE_BYTES})`);
      }
      return engine.importWeights({ name: basename(path), base64: bytesToBase64(await readFile(path)) });
    }),
  );

  handle(HOST_CHANNELS.exportWeightsWithDialog, (checkpointId, format) =>
    outcome(async () => {
      const params = requestSchemas.exportWeights.params.safeParse({ checkpointId, format });
      if (!params.success) {
        throw new EngineError(
          'invalid_params',
          `exportWeightsWithDialog: wants a checkpoint id (a positive integer) and a format ('safetensors' or 'onnx'), not ${JSON.stringify([checkpointId, format])}`,
        );
      }
      const exported = await engine.exportWeights(params.data);
      const choice = await dialog.showSaveDialog(parent(), {
        title: EXPORT_DIALOGS[params.data.format].title,
        // Only a suggestion shown in the dialog, but still never a path of the service's choosing.
        defaultPath: join(context.documentsDir(), basename(exported.fileName)),
        filters: EXPORT_DIALOGS[params.data.format].filters,
      });
      if (choice.canceled || choice.filePath === undefined || choice.filePath === '') return false;
      await writeFile(choice.filePath, base64ToBytes(exported.base64));
      return true;
    }),
  );

  handle(HOST_CHANNELS.about, () => outcome(context.about));
}
