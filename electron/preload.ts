/**
 * The preload: exposes `window.lecun1989`, the AppApi, and nothing else. Each method is one invoke on its own
 * channel; no ipcRenderer, no channel names and no Node reach the page. Runs sandboxed, so it is bundled to one
 * CommonJS file whose only require is 'electron'.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { MENU_COMMANDS, type AboutInfo, type AppApi, type MenuCommand } from '../core/app-api';
import { toBridgedError } from '../core/bridged-error';
import { createEngineApi, type EngineEvent, type ExportFormat, type Method, type Result } from '../core/protocol';
import { engineChannel, EVENT_CHANNEL, HOST_CHANNELS, MENU_COMMAND_CHANNEL, type IpcOutcome } from './channels';

async function invoke<T>(channel: string, ...args: unknown[]): Promise<T> {
  const answer = (await ipcRenderer.invoke(channel, ...args)) as IpcOutcome<T>;
  if (answer.ok) return answer.result;
  throw toBridgedError(answer.error);
}

function subscribe<T>(channel: string, accept: (value: unknown) => value is T, listener: (value: T) => void): () => void {
  const receive = (_event: IpcRendererEvent, value: unknown) => {
    if (accept(value)) listener(value);
  };
  ipcRenderer.on(channel, receive);
  return () => void ipcRenderer.removeListener(channel, receive);
}

const isEvent = (value: unknown): value is EngineEvent => typeof value === 'object' && value !== null && 'event' in value;
const isMenuCommand = (value: unknown): value is MenuCommand => (MENU_COMMANDS as readonly unknown[]).includes(value);

const engine = createEngineApi(
  (method: Method, params: unknown) => invoke(engineChannel(method), params),
  (listener) => subscribe(EVENT_CHANNEL, isEvent, listener),
);

const api: AppApi = {
  ...engine,
  host: 'electron',
  importMnistWithDialog: () => invoke<Result<'importMnist'> | null>(HOST_CHANNELS.importMnistWithDialog),
  importUspsWithDialog: () => invoke<Result<'importUsps'> | null>(HOST_CHANNELS.importUspsWithDialog),
  importWeightsWithDialog: () => invoke<Result<'importWeights'> | null>(HOST_CHANNELS.importWeightsWithDialog),
  exportWeightsWithDialog: (checkpointId: number, format: ExportFormat) =>
    invoke<boolean>(HOST_CHANNELS.exportWeightsWithDialog, checkpointId, format),
  onMenuCommand: (listener) => subscribe(MENU_COMMAND_CHANNEL, isMenuCommand, listener),
  about: () => invoke<AboutInfo>(HOST_CHANNELS.about),
};

contextBridge.exposeInMainWorld('lecun1989', api);
