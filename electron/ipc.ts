/**
 * The main process's side of the preload's API. Every handler first checks that the caller is the app's own page
 * in the app's own window, then validates what it sent with the protocol's schemas before anything reaches the
 * service. Files are chosen in native dialogs and read or written here: the renderer never names a path.
 */
import { dialog, ipcMain, type BrowserWindow, type IpcMainInvokeEvent } from 'electron';
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
  type EngineApi,
  type Method,
  type ResponseMessage,
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

const SAFETENSORS_FILTERS = [
  { name: 'safetensors', extensions: ['safetensors'] },
  { name: 'All files', extensions: ['*'] },
];

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

  handle(HOST_CHANNELS.importMnistWithDialog, () =>
    outcome(async () => {
      const choice = await dialog.showOpenDialog(parent(), {
        title: 'Load MNIST files',
        message: 'Choose the four MNIST files (training and test images and labels), raw or .gz',
        // Raw MNIST files have no usable extension (train-images-idx3-ubyte), so no filter.
        properties: ['openFile', 'multiSelections'],
      });
      if (choice.canceled || choice.filePaths.length === 0) return null;
      if (choice.filePaths.length > 4) {
        throw new EngineError('bad_file', `choose the four MNIST files; ${choice.filePaths.length} files were chosen`);
      }
      return engine.importMnist({ from: 'paths', paths: choice.filePaths });
    }),
  );

  handle(HOST_CHANNELS.importWeightsWithDialog, () =>
    outcome(async () => {
      const choice = await dialog.showOpenDialog(parent(), { title: 'Import weights', properties: ['openFile'], filters: SAFETENSORS_FILTERS });
      const path = choice.filePaths[0];
      if (choice.canceled || path === undefined) return null;
      const { size } = await stat(path);
      if (size > MAX_WEIGHTS_FILE_BYTES) {
        throw new EngineError('bad_file', `${path}: ${size} bytes is too large for the 1989 network's weights (at most ${MAX_WEIGHTS_FILE_BYTES})`);
      }
      return engine.importWeights({ name: basename(path), base64: bytesToBase64(await readFile(path)) });
    }),
  );

  handle(HOST_CHANNELS.exportWeightsWithDialog, (checkpointId) =>
    outcome(async () => {
      const params = requestSchemas.exportWeights.params.safeParse({ checkpointId });
      if (!params.success) throw new EngineError('invalid_params', `exportWeightsWithDialog: checkpointId must be a positive integer, not ${JSON.stringify(checkpointId)}`);
      const exported = await engine.exportWeights(params.data);
      const choice = await dialog.showSaveDialog(parent(), {
        title: 'Export weights',
        // Only a suggestion shown in the dialog, but still never a path of the service's choosing.
        defaultPath: join(context.documentsDir(), basename(exported.fileName)),
        filters: SAFETENSORS_FILTERS,
      });
      if (choice.canceled || choice.filePath === undefined || choice.filePath === '') return false;
      await writeFile(choice.filePath, base64ToBytes(exported.base64));
      return true;
    }),
  );

  handle(HOST_CHANNELS.about, () => outcome(context.about));
}
