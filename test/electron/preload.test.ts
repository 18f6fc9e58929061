// The preload with a stand-in 'electron': what it exposes to the page, and that the bundle a sandboxed preload
// runs requires nothing but 'electron'.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AppApi } from '../../core/app-api';
import { fromBridgedError } from '../../core/bridged-error';
import { EngineError, METHODS, type EngineEvent } from '../../core/protocol';
import { engineChannel, EVENT_CHANNEL, HOST_CHANNELS, MENU_COMMAND_CHANNEL } from '../../electron/channels';
import { bridgeRecord, ipcRendererMock } from './fake-electron';

vi.mock('electron', async () => (await import('./fake-electron')).electronModule);

let api: AppApi;

beforeAll(async () => {
  await import('../../electron/preload');
  api = bridgeRecord.exposed.get('lecun1989') as AppApi;
});

beforeEach(() => ipcRendererMock.invoke.mockReset());

describe('window.lecun1989', () => {
  it('is the only thing exposed, and is the AppApi: every engine request, the host actions, nothing more', () => {
    expect([...bridgeRecord.exposed.keys()]).toEqual(['lecun1989']);
    const hostMembers = [
      'host',
      'onEvent',
      'importMnistWithDialog',
      'importUspsWithDialog',
      'importWeightsWithDialog',
      'exportWeightsWithDialog',
      'onMenuCommand',
      'about',
    ];
    expect(Object.keys(api).sort()).toEqual([...METHODS, ...hostMembers].sort());
    expect(api.host).toBe('electron');
  });

  it('makes each request one invoke on its own channel and returns the result', async () => {
    ipcRendererMock.invoke.mockResolvedValueOnce({ ok: true, result: { runs: [] } });
    expect(await api.listRuns()).toEqual({ runs: [] });
    expect(ipcRendererMock.invoke).toHaveBeenCalledWith(engineChannel('listRuns'), {});
    ipcRendererMock.invoke.mockResolvedValueOnce({ ok: true, result: true });
    expect(await api.exportWeightsWithDialog(7, 'onnx')).toBe(true);
    expect(ipcRendererMock.invoke).toHaveBeenLastCalledWith(HOST_CHANNELS.exportWeightsWithDialog, 7, 'onnx');
    ipcRendererMock.invoke.mockResolvedValueOnce({ ok: true, result: null });
    expect(await api.importUspsWithDialog()).toBeNull();
    expect(ipcRendererMock.invoke).toHaveBeenLastCalledWith(HOST_CHANNELS.importUspsWithDialog);
  });

  it('rejects with an error that keeps its protocol code across the context bridge', async () => {
    ipcRendererMock.invoke.mockResolvedValueOnce({ ok: false, error: { code: 'dataset_in_use', message: 'dataset 1 is used by 2 runs' } });
    const error = await api.deleteDataset({ datasetId: 1 }).catch((caught: unknown) => caught);
    // What the page receives is a plain Error with the message only (the bridge drops other properties) ...
    const acrossBridge = new Error((error as Error).message);
    // ... from which the renderer recovers the EngineError that browser mode would have thrown.
    const recovered = fromBridgedError(acrossBridge);
    expect(recovered).toBeInstanceOf(EngineError);
    expect(recovered).toMatchObject({ code: 'dataset_in_use', message: 'dataset 1 is used by 2 runs' });
    const unrelated = new Error('[made_up] not a protocol code');
    expect(fromBridgedError(unrelated)).toBe(unrelated);
  });

  it('delivers events and menu commands until unsubscribed, and ignores commands it does not know', () => {
    const events: EngineEvent[] = [];
    const stop = api.onEvent((event) => events.push(event));
    const event = { event: 'serviceError', data: { code: 'service_crashed', message: 'restarting' } };
    ipcRendererMock.emit(EVENT_CHANNEL, {}, event);
    stop();
    ipcRendererMock.emit(EVENT_CHANNEL, {}, event);
    expect(events).toEqual([event]);

    const commands: string[] = [];
    const stopCommands = api.onMenuCommand((command) => commands.push(command));
    ipcRendererMock.emit(MENU_COMMAND_CHANNEL, {}, 'load-mnist');
    ipcRendererMock.emit(MENU_COMMAND_CHANNEL, {}, 'format-disk');
    stopCommands();
    ipcRendererMock.emit(MENU_COMMAND_CHANNEL, {}, 'about');
    expect(commands).toEqual(['load-mnist']);
  });
});

describe('the bundles', () => {
  it('build, with a preload that requires only electron and a main process that needs no native module', () => {
    const out = mkdtempSync(join(tmpdir(), 'lecun1989-electron-build-'));
    execFileSync(process.execPath, [join(import.meta.dirname, '..', '..', 'electron', 'build.mjs'), out]);
    const requires = (file: string) => [...readFileSync(join(out, file), 'utf8').matchAll(/\brequire\("([^"]+)"\)/g)].map((match) => match[1]);
    expect(new Set(requires('preload.cjs'))).toEqual(new Set(['electron']));
    const mainRequires = requires('main.cjs');
    rmSync(out, { recursive: true, force: true });
    expect(mainRequires).toContain('electron');
    expect(mainRequires.filter((name) => name !== 'electron' && !name!.startsWith('node:'))).toEqual([]);
  });
});
