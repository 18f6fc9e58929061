// @vitest-environment happy-dom
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { EngineError, eventMessage, PROTOCOL_VERSION, USPS_SUBSET_SEED, type DatasetInfo, type EngineEvent } from '../../core/protocol';
import { createBrowserApi, engineSocketUrl, type SocketLike } from '../../renderer/api/browser';
import { withEngineErrors } from '../../renderer/api/choose';
import { FakeEngine } from './fake-engine';

/** A WebSocket double: records what is sent and lets the test open, answer and close it. */
class FakeSocket implements SocketLike {
  readyState = 0;
  readonly sent: unknown[] = [];
  private readonly handlers = new Map<string, ((event: { data: unknown }) => void)[]>();

  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  addEventListener(type: string, listener: (event: { data: unknown }) => void): void {
    this.handlers.set(type, [...(this.handlers.get(type) ?? []), listener]);
  }
  private fire(type: string, data?: unknown): void {
    for (const handler of this.handlers.get(type) ?? []) handler({ data });
  }
  open(): void {
    this.readyState = 1;
    this.fire('open');
  }
  receive(message: unknown): void {
    this.fire('message', typeof message === 'string' ? message : JSON.stringify(message));
  }
  close(): void {
    this.readyState = 3;
    this.fire('close');
  }
}

const PAGE = { protocol: 'http:', host: '127.0.0.1:4173', search: '?token=s3cret%2B1' };

describe('browser mode', () => {
  it('connects to /api on the page’s own host with the page’s token', () => {
    expect(engineSocketUrl(PAGE)).toBe('ws://127.0.0.1:4173/api?token=s3cret%2B1');
    expect(engineSocketUrl({ ...PAGE, protocol: 'https:' })).toBe('wss://127.0.0.1:4173/api?token=s3cret%2B1');
    expect(engineSocketUrl({ ...PAGE, search: '' })).toBeNull();
  });

  it('sends calls made before the socket opens once it does, and pairs each response with its call', async () => {
    const socket = new FakeSocket();
    let url = '';
    const api = createBrowserApi(PAGE, (opened) => {
      url = opened;
      return socket;
    });
    expect(url).toBe('ws://127.0.0.1:4173/api?token=s3cret%2B1');
    expect(api.host).toBe('browser');
    const listed = api.listRuns();
    expect(socket.sent).toEqual([]);
    socket.open();
    expect(socket.sent).toEqual([{ v: PROTOCOL_VERSION, type: 'request', id: 1, method: 'listRuns', params: {} }]);
    socket.receive('not json');
    socket.receive({ v: PROTOCOL_VERSION, type: 'response', id: 1, ok: true, result: { runs: [] } });
    await expect(listed).resolves.toEqual({ runs: [] });
  });

  it('passes events on, and when the server goes away fails pending calls and says so', async () => {
    const socket = new FakeSocket();
    const api = createBrowserApi(PAGE, () => socket);
    socket.open();
    const events: EngineEvent[] = [];
    api.onEvent((event) => events.push(event));
    socket.receive(eventMessage('importProgress', { requestId: 1, stage: 'decoding' }));
    const pending = api.getServiceInfo();
    socket.close();
    await expect(pending).rejects.toMatchObject({ code: 'disconnected', message: expect.stringContaining('npm run serve') });
    expect(events.map((event) => event.event)).toEqual(['importProgress', 'serviceError']);
    expect(events[1]).toMatchObject({ data: { code: 'disconnected' } });
    await expect(api.listRuns()).rejects.toBeInstanceOf(EngineError);
  });

  it('reports the package version as the app version in About, and the engine version the service gives', async () => {
    const socket = new FakeSocket();
    const api = createBrowserApi(PAGE, () => socket);
    socket.open();
    const about = api.about();
    const request = socket.sent[0] as { id: number; method: string };
    expect(request.method).toBe('getServiceInfo');
    socket.receive({
      v: PROTOCOL_VERSION, type: 'response', id: request.id, ok: true,
      result: { protocolVersion: PROTOCOL_VERSION, engineVersion: 'lecun1989-engine/1', databasePath: '/db', activeRunId: null },
    });
    const packageVersion = (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
    expect(await about).toEqual({ appVersion: packageVersion, engineVersion: 'lecun1989-engine/1', electronVersion: null, nodeVersion: null, chromeVersion: null });
  });

  it('explains a page opened without its token instead of hanging', async () => {
    const api = createBrowserApi({ ...PAGE, search: '' }, () => {
      throw new Error('no socket should be opened without a token');
    });
    await expect(api.listDatasets()).rejects.toMatchObject({ code: 'disconnected', message: expect.stringContaining('without its access token') });
  });

  it('sends the files chosen in the browser’s file chooser to importUsps as bytes, and nothing when it is cancelled', async () => {
    const socket = new FakeSocket();
    const api = createBrowserApi(PAGE, () => socket);
    socket.open();
    const usps: DatasetInfo = {
      id: 4, kind: 'usps', name: 'USPS', trainCount: 7291, testCount: 2007, createdAt: 1, runCount: 0,
      subsets: [{ id: 5, seed: USPS_SUBSET_SEED, trainCount: 7291, testCount: 2007, runCount: 0 }],
      sha256: { trainImages: 'a'.repeat(64), trainLabels: 'b'.repeat(64), testImages: 'c'.repeat(64), testLabels: 'd'.repeat(64) },
    };
    let chosen: string[] | null = ['zip.train.gz', 'zip.test'];
    const click = HTMLInputElement.prototype.click;
    HTMLInputElement.prototype.click = function (this: HTMLInputElement) {
      if (chosen === null) {
        this.dispatchEvent(new Event('cancel'));
        return;
      }
      const bytes = new Uint8Array([1, 2, 3]);
      Object.defineProperty(this, 'files', { value: chosen.map((name) => ({ name, size: 3, arrayBuffer: async () => bytes.buffer })) });
      this.dispatchEvent(new Event('change'));
    };
    try {
      const imported = api.importUspsWithDialog();
      await vi.waitFor(() => expect(socket.sent).toHaveLength(1));
      const request = socket.sent[0] as { id: number; method: string; params: unknown };
      expect([request.method, request.params]).toEqual([
        'importUsps',
        { from: 'bytes', files: [{ name: 'zip.train.gz', base64: 'AQID' }, { name: 'zip.test', base64: 'AQID' }] },
      ]);
      socket.receive({ v: PROTOCOL_VERSION, type: 'response', id: request.id, ok: true, result: { dataset: usps, created: true } });
      await expect(imported).resolves.toEqual({ dataset: usps, created: true });
      chosen = null;
      await expect(api.importUspsWithDialog()).resolves.toBeNull();
      expect(socket.sent).toHaveLength(1);
    } finally {
      HTMLInputElement.prototype.click = click;
    }
  });

  it.each(['safetensors', 'onnx'] as const)('saves a checkpoint exported as %s as a download named by the service', async (format) => {
    const socket = new FakeSocket();
    const api = createBrowserApi(PAGE, () => socket);
    socket.open();
    const clicked: { href: string; download: string }[] = [];
    const click = HTMLAnchorElement.prototype.click;
    HTMLAnchorElement.prototype.click = function (this: HTMLAnchorElement) {
      clicked.push({ href: this.href, download: this.download });
    };
    try {
      const saved = api.exportWeightsWithDialog(7, format);
      expect(socket.sent.at(-1)).toMatchObject({ method: 'exportWeights', params: { checkpointId: 7, format } });
      const id = (socket.sent.at(-1) as { id: number }).id;
      const fileName = `lecun1989-run3-pass23.${format}`;
      socket.receive({ v: PROTOCOL_VERSION, type: 'response', id, ok: true, result: { fileName, base64: 'AQID' } });
      await expect(saved).resolves.toBe(true);
      expect(clicked).toEqual([{ href: expect.stringMatching(/^blob:/), download: fileName }]);
    } finally {
      HTMLAnchorElement.prototype.click = click;
    }
  });
});

describe('the Electron preload’s API', () => {
  it('gets its errors back as EngineErrors with their codes, and keeps subscriptions synchronous', async () => {
    const bridged = new FakeEngine('electron').api;
    // What contextBridge leaves of a rejected EngineError: its message, with the preload's code prefix.
    bridged.deleteDataset = async () => {
      throw new Error('[dataset_in_use] dataset 1 is used by 2 runs');
    };
    const api = withEngineErrors(bridged);
    expect(api.host).toBe('electron');
    const refused = await api.deleteDataset({ datasetId: 1 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(EngineError);
    expect(refused).toMatchObject({ code: 'dataset_in_use', message: 'dataset 1 is used by 2 runs' });
    const unsubscribe = api.onEvent(() => {});
    expect(typeof unsubscribe).toBe('function');
    await expect(api.listRuns()).resolves.toEqual({ runs: [] });
  });
});
