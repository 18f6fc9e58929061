import { describe, expect, it, vi } from 'vitest';
import {
  base64ToBytes,
  bytesToBase64,
  createEngineClient,
  EngineError,
  eventMessage,
  MAX_FILE_BYTES,
  MAX_MESSAGE_BYTES,
  METHODS,
  parseRequest,
  PROTOCOL_VERSION,
  requestSchemas,
  type EngineEvent,
  type RequestMessage,
  type Transport,
} from '../core/protocol';

function request(method: string, params: unknown, id = 7): unknown {
  return { v: PROTOCOL_VERSION, type: 'request', id, method, params };
}

function rejection(message: unknown) {
  const parsed = parseRequest(message);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(message)} to be refused`);
  expect(parsed.response.ok).toBe(false);
  return parsed.response as { id: number | null; error: { code: string; message: string } };
}

describe('parseRequest', () => {
  it('accepts a valid request and fills in the documented defaults', () => {
    const parsed = parseRequest(request('createRun', { datasetId: 1, preset: 'sgd-1989', config: { passes: 2, trainLimit: 300 } }));
    expect(parsed).toEqual({
      ok: true,
      id: 7,
      method: 'createRun',
      params: { datasetId: 1, preset: 'sgd-1989', config: { seed: 1337, passes: 2, learningRate: 0.03, trainLimit: 300 }, start: false },
    });
    expect(parseRequest(request('listRuns', undefined))).toMatchObject({ ok: true, method: 'listRuns', params: {} });
  });

  it('answers anything that is not a request with bad_message, keeping a usable id', () => {
    for (const junk of [null, 42, 'listRuns', [], {}, { v: 1, type: 'request', method: 'listRuns' }]) {
      expect(rejection(junk)).toMatchObject({ id: null, error: { code: 'bad_message' } });
    }
    expect(rejection({ v: 1, type: 'request', id: 3, method: 5, params: {} })).toMatchObject({ id: 3, error: { code: 'bad_message' } });
    expect(rejection({ ...(request('listRuns', {}) as object), extra: true })).toMatchObject({ id: 7, error: { code: 'bad_message' } });
  });

  it('names the version it speaks when a client speaks another', () => {
    expect(rejection({ v: 2, type: 'request', id: 1, method: 'listRuns', params: {} })).toMatchObject({
      id: 1,
      error: { code: 'version_mismatch', message: expect.stringContaining('speaks 1') },
    });
  });

  it('refuses unknown methods, including ones inherited from Object.prototype', () => {
    for (const method of ['trainForever', 'constructor', 'toString', '__proto__']) {
      expect(rejection(request(method, {}))).toMatchObject({ id: 7, error: { code: 'unknown_method' } });
    }
  });

  it('refuses params of the wrong shape, type or range and says which field', () => {
    const cases: [string, unknown, RegExp][] = [
      ['getRun', {}, /runId/],
      ['getRun', { runId: '1' }, /runId/],
      ['getRun', { runId: 1.5 }, /runId/],
      ['getRun', { runId: -1 }, /runId/],
      ['getRun', { runId: 1, sneaky: true }, /sneaky/],
      ['createRun', { datasetId: 1, preset: 'x', config: { learningRate: -1 } }, /config\.learningRate/],
      ['createRun', { datasetId: 1, preset: 'x', config: { passes: 0 } }, /config\.passes/],
      ['createRun', { datasetId: 1, preset: 'x', config: { seed: 2 ** 32 } }, /config\.seed/],
      ['createRun', { datasetId: 1, preset: 'x', config: { trainLimit: 7292 } }, /config\.trainLimit/],
      ['predict', { checkpointId: 1, image: new Array(255).fill(0) }, /image/],
      ['predict', { checkpointId: 1, image: new Array(256).fill(Number.NaN) }, /image/],
      ['getSubsetImages', { datasetId: 1, split: 'validation', indices: [0] }, /split/],
      ['getSubsetImages', { datasetId: 1, split: 'test', indices: new Array(1025).fill(0) }, /indices/],
      ['importMnist', { from: 'floppy' }, /from/],
      ['importMnist', { from: 'bytes', files: [{ name: 'a', base64: 'not base64!' }] }, /files\.0\.base64: not base64/],
      ['importWeights', { name: 'w.safetensors', base64: 'A'.repeat(1024 * 1024 * 2) }, /base64: more than 1048576 bytes/],
    ];
    for (const [method, params, field] of cases) {
      const refused = rejection(request(method, params));
      expect(refused.error.code, `${method} ${JSON.stringify(params).slice(0, 80)}`).toBe('invalid_params');
      expect(refused.error.message).toMatch(field);
    }
  });

  it('takes a full-size MNIST file as base64 but nothing near 2 GB', () => {
    const fullTrainingImages = Math.ceil(47_040_016 / 3) * 4;
    const accepted = parseRequest(request('importMnist', { from: 'bytes', files: [{ name: 'train-images-idx3-ubyte', base64: 'A'.repeat(fullTrainingImages) }] }));
    expect(accepted.ok).toBe(true);
    const tooLarge = rejection(request('importMnist', { from: 'bytes', files: [{ name: 'big', base64: 'A'.repeat(Math.ceil(MAX_FILE_BYTES / 3) * 4 + 4) }] }));
    expect(tooLarge.error).toMatchObject({ code: 'invalid_params', message: expect.stringContaining(`more than ${MAX_FILE_BYTES} bytes`) });
    expect(MAX_MESSAGE_BYTES).toBeLessThan(2 ** 31 / 4);
  });

  it('has a params and a result schema for every method', () => {
    expect(METHODS.length).toBeGreaterThanOrEqual(20);
    for (const method of METHODS) {
      expect(requestSchemas[method].params.safeParse).toBeTypeOf('function');
      expect(requestSchemas[method].result.safeParse).toBeTypeOf('function');
    }
  });
});

/** A loopback transport: the "service" is a function from request to reply messages. */
function loopback(serve: (message: RequestMessage) => unknown[]): Transport & { emit(message: unknown): void; sent: RequestMessage[] } {
  let handler: ((message: unknown) => void) | undefined;
  const sent: RequestMessage[] = [];
  return {
    sent,
    send(message) {
      sent.push(message);
      // Round-trip through JSON as a WebSocket would, and answer asynchronously as any real service does.
      const wire = JSON.parse(JSON.stringify(message)) as RequestMessage;
      queueMicrotask(() => {
        for (const reply of serve(wire)) handler?.(JSON.parse(JSON.stringify(reply)));
      });
    },
    onMessage(next) {
      handler = next;
      return () => {
        handler = undefined;
      };
    },
    emit(message) {
      handler?.(message);
    },
  };
}

const settingsResult = { settings: { theme: 'dark' } };

describe('createEngineClient', () => {
  it('pairs responses with calls by id and validates results', async () => {
    const transport = loopback((message) => {
      if (message.method === 'getSettings') return [{ v: 1, type: 'response', id: message.id, ok: true, result: settingsResult }];
      if (message.method === 'setSetting') return [{ v: 1, type: 'response', id: message.id, ok: true, result: {} }];
      return [];
    });
    const api = createEngineClient(transport);
    const [settings, set] = await Promise.all([api.getSettings(), api.setSetting({ key: 'theme', value: 'light' })]);
    expect(settings).toEqual(settingsResult);
    expect(set).toEqual({});
    expect(transport.sent.map((m) => [m.id, m.method])).toEqual([
      [1, 'getSettings'],
      [2, 'setSetting'],
    ]);
    expect(transport.sent[0]!.params).toEqual({});
  });

  it('rejects with the service error code, and with internal when a result is malformed', async () => {
    const transport = loopback((message) =>
      message.method === 'getRun'
        ? [{ v: 1, type: 'response', id: message.id, ok: false, error: { code: 'not_found', message: 'run 9 does not exist' } }]
        : [{ v: 1, type: 'response', id: message.id, ok: true, result: { runs: 'not a list' } }],
    );
    const api = createEngineClient(transport);
    const notFound = await api.getRun({ runId: 9 }).catch((error: unknown) => error);
    expect(notFound).toBeInstanceOf(EngineError);
    expect(notFound).toMatchObject({ code: 'not_found', message: 'run 9 does not exist', method: 'getRun' });
    await expect(api.listRuns()).rejects.toMatchObject({ code: 'internal', message: expect.stringMatching(/listRuns: malformed result.*runs/) });
  });

  it('delivers valid events to every subscriber and drops malformed ones', () => {
    const problems: string[] = [];
    const transport = loopback(() => []);
    const api = createEngineClient(transport, { onProtocolError: (problem) => problems.push(problem) });
    const first: EngineEvent[] = [];
    const second: EngineEvent[] = [];
    const unsubscribe = api.onEvent((event) => first.push(event));
    api.onEvent((event) => second.push(event));
    const progress = { runId: 1, pass: 1, passes: 2, examplesDone: 10, examplesTotal: 300, examplesPerSecond: 5000, etaSeconds: 0.06 };
    transport.emit(eventMessage('trainingProgress', progress));
    transport.emit({ v: 1, type: 'event', event: 'trainingProgress', data: { ...progress, runId: 'one' } });
    transport.emit({ v: 1, type: 'event', event: 'noSuchEvent', data: {} });
    transport.emit('garbage');
    unsubscribe();
    transport.emit(eventMessage('serviceError', { code: 'internal', message: 'boom' }));
    expect(first).toEqual([{ event: 'trainingProgress', data: progress }]);
    expect(second).toEqual([
      { event: 'trainingProgress', data: progress },
      { event: 'serviceError', data: { code: 'internal', message: 'boom' } },
    ]);
    expect(problems).toHaveLength(3);
  });

  it('fails pending calls with disconnected on close, and a failing send at once', async () => {
    const silent = loopback(() => []);
    const api = createEngineClient(silent);
    const pending = api.listDatasets();
    api.close('the engine service exited');
    await expect(pending).rejects.toMatchObject({ code: 'disconnected', message: 'listDatasets: the engine service exited' });

    const broken = createEngineClient({
      send() {
        throw new Error('channel closed');
      },
      onMessage: () => () => {},
    });
    await expect(broken.listRuns()).rejects.toMatchObject({ code: 'disconnected', message: expect.stringContaining('channel closed') });
  });
});

describe('base64', () => {
  const bytes = Uint8Array.from({ length: 100_003 }, (_, i) => (i * 31 + (i >> 8)) & 0xff);

  it('round-trips bytes, including a view into a larger buffer', () => {
    expect(base64ToBytes(bytesToBase64(bytes))).toEqual(bytes);
    const view = bytes.subarray(5, 17);
    expect(bytesToBase64(view)).toBe(Buffer.from(view).toString('base64'));
  });

  it('gives the same text without Node Buffer, as in a sandboxed renderer', async () => {
    vi.stubGlobal('Buffer', undefined);
    vi.resetModules();
    const btoa = vi.spyOn(globalThis, 'btoa');
    try {
      const browser = await import('../core/protocol');
      const text = browser.bytesToBase64(bytes);
      expect(btoa).toHaveBeenCalled();
      vi.unstubAllGlobals();
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      vi.stubGlobal('Buffer', undefined);
      expect(browser.base64ToBytes(text)).toEqual(bytes);
    } finally {
      btoa.mockRestore();
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });
});
