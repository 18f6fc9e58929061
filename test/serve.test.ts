// Browser mode for real: the HTTP + WebSocket server in this process, the engine service as a real child process
// (dist/core/service.js, built by the global setup), a real database in a temporary folder.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { bundledMnistDir } from '../core/mnist';
import { createEngineClient, PROTOCOL_VERSION, type EngineClient, type EngineEvent } from '../core/protocol';
import { startServeServer, TOKEN_COOKIE, type RunningServer } from '../core/serve/server';
import { forkService, superviseService, type ServiceSupervisor } from '../core/service-supervisor';

const DIST = join(import.meta.dirname, '..', 'dist', 'core');
const work = mkdtempSync(join(tmpdir(), 'lecun1989-serve-'));
const rendererDir = join(work, 'renderer');
const databasePath = join(work, 'data', 'lecun1989.sqlite');
const INDEX_HTML = '<!doctype html><title>lecun1989</title><script type="module" src="./assets/app.js"></script>';
const APP_JS = 'console.log("renderer");';
const SECRET = 'secret-contents-7f3a';

let supervisor: ServiceSupervisor;
let server: RunningServer;

beforeAll(async () => {
  mkdirSync(join(rendererDir, 'assets'), { recursive: true });
  writeFileSync(join(rendererDir, 'index.html'), INDEX_HTML);
  writeFileSync(join(rendererDir, 'assets', 'app.js'), APP_JS);
  writeFileSync(join(work, 'secret.txt'), SECRET);
  supervisor = superviseService({ spawn: () => forkService({ entry: join(DIST, 'service.js'), databasePath }), log: () => {} });
  server = await startServeServer({ supervisor, rendererDir });
});

afterAll(async () => {
  await server?.close();
  await supervisor?.stop();
  rmSync(work, { recursive: true, force: true });
});

interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request exactly as written: Node's client does not normalise the path, as a hostile client would not. */
function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port: server.port, path, method, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

function socketUrl(token: string | null = server.token): string {
  return `ws://127.0.0.1:${server.port}/api${token === null ? '' : `?token=${token}`}`;
}

function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_request, response) => reject(new Error(`refused with HTTP ${response.statusCode}`)));
    socket.once('error', reject);
  });
}

/** The renderer's side of browser mode: the protocol's own client over the socket. */
function clientOver(socket: WebSocket): EngineClient {
  return createEngineClient(
    {
      send: (message) => socket.send(JSON.stringify(message)),
      onMessage: (handler) => {
        const listener = (data: Buffer) => handler(JSON.parse(data.toString()));
        socket.on('message', listener);
        return () => void socket.off('message', listener);
      },
    },
    { onProtocolError: (problem) => expect.fail(problem) },
  );
}

/** Every raw message a socket receives, to look for one. */
function recorder(socket: WebSocket) {
  const messages: Record<string, unknown>[] = [];
  const waiters: { match: (message: Record<string, unknown>) => boolean; resolve: (message: Record<string, unknown>) => void }[] = [];
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString()) as Record<string, unknown>;
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.match(message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  });
  return {
    messages,
    next(match: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
      const seen = messages.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}

const isEvent = (name: string) => (message: Record<string, unknown>) => message.type === 'event' && message.event === name;
const isResponseTo = (id: number) => (message: Record<string, unknown>) => message.type === 'response' && message.id === id;

describe('the page', () => {
  it('is refused without the token, or with a wrong one', async () => {
    for (const path of ['/', '/index.html', '/assets/app.js', `/?token=${'x'.repeat(server.token.length)}`, '/?token=']) {
      const response = await get(path);
      expect(response.status, path).toBe(403);
      expect(response.body).not.toContain('lecun1989</title>');
    }
  });

  it('is served with the token, with the strict CSP, and leaves a cookie that lets its assets load', async () => {
    const page = await get(`/?token=${server.token}`);
    expect(page.status).toBe(200);
    expect(page.body).toBe(INDEX_HTML);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = page.headers['content-security-policy'] as string;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${server.port}`);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    const cookie = (page.headers['set-cookie'] ?? [])[0] ?? '';
    expect(cookie).toMatch(new RegExp(`^${TOKEN_COOKIE}=${server.token};`));
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');

    const script = await get('/assets/app.js', { Cookie: `${TOKEN_COOKIE}=${server.token}` });
    expect(script.status).toBe(200);
    expect(script.body).toBe(APP_JS);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await get('/assets/app.js', { Cookie: `${TOKEN_COOKIE}=nope` })).status).toBe(403);
  });

  it('answers only to its own host name, against DNS rebinding', async () => {
    const response = await get(`/?token=${server.token}`, { Host: `attacker.example:${server.port}` });
    expect(response.status).toBe(421);
    expect((await get(`/?token=${server.token}`, { Host: `localhost:${server.port}` })).status).toBe(200);
  });

  it('never serves a file outside the renderer directory', async () => {
    const cookie = { Cookie: `${TOKEN_COOKIE}=${server.token}` };
    for (const path of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/..%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/%2e%2e%2fsecret.txt',
      '/assets%2f..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      `/${encodeURIComponent(join(work, 'secret.txt'))}`,
      '/index.html%00.js',
    ]) {
      const response = await get(path, cookie);
      expect([400, 403, 404], path).toContain(response.status);
      expect(response.body, path).not.toContain(SECRET);
    }
    expect((await get('/assets', cookie)).status).toBe(404);
    expect((await get('/missing.js', cookie)).status).toBe(404);
    expect((await get('/%E0%A4%A', cookie)).status).toBe(400);
  });

  it('accepts only GET and HEAD, and answers /api over HTTP with a pointer to the WebSocket', async () => {
    const cookie = { Cookie: `${TOKEN_COOKIE}=${server.token}` };
    const post = await get('/index.html', cookie, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const head = await get('/index.html', cookie, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(INDEX_HTML.length));
    expect(head.body).toBe('');
    expect((await get('/api', cookie)).status).toBe(426);
  });
});

describe('the WebSocket bridge', () => {
  it('refuses an upgrade without the token, with a wrong one, or from another origin', async () => {
    await expect(open(socketUrl(null))).rejects.toThrow('HTTP 403');
    await expect(open(socketUrl('wrong'))).rejects.toThrow('HTTP 403');
    await expect(open(socketUrl(), { Origin: 'http://attacker.example' })).rejects.toThrow('HTTP 403');
    await expect(open(`ws://127.0.0.1:${server.port}/elsewhere?token=${server.token}`)).rejects.toThrow('HTTP 404');
    const fromPage = await open(socketUrl(), { Origin: `http://127.0.0.1:${server.port}` });
    fromPage.close();
  });

  it('carries requests to the service and its answers back', async () => {
    const socket = await open(socketUrl());
    const engine = clientOver(socket);
    const info = await engine.getServiceInfo();
    expect(info).toMatchObject({ protocolVersion: PROTOCOL_VERSION, databasePath, activeRunId: null });
    expect((await engine.listDatasets()).datasets).toEqual([]);
    await expect(engine.getRun({ runId: 999 })).rejects.toMatchObject({ code: 'not_found' });
    engine.close();
    socket.close();
  });

  it('answers malformed messages with errors and keeps serving', async () => {
    const socket = await open(socketUrl());
    const received = recorder(socket);
    const errorFor = async (raw: string | Buffer) => {
      const before = received.messages.length;
      socket.send(raw);
      await received.next((message) => received.messages.indexOf(message) >= before && message.type === 'response');
      return received.messages.slice(before).find((message) => message.type === 'response') as {
        id: number | null;
        ok: boolean;
        error: { code: string; message: string };
      };
    };
    expect(await errorFor('{not json')).toMatchObject({ id: null, ok: false, error: { code: 'bad_message' } });
    expect(await errorFor(Buffer.from([1, 2, 3]))).toMatchObject({ id: null, ok: false, error: { code: 'bad_message' } });
    expect(await errorFor(JSON.stringify({ hello: 'world' }))).toMatchObject({ id: null, error: { code: 'bad_message' } });
    const request = (id: number, method: string, params: unknown) => JSON.stringify({ v: PROTOCOL_VERSION, type: 'request', id, method, params });
    expect(await errorFor(JSON.stringify({ v: 9, type: 'request', id: 4, method: 'listRuns', params: {} }))).toMatchObject({
      id: 4,
      error: { code: 'version_mismatch' },
    });
    expect(await errorFor(request(5, 'formatDisk', {}))).toMatchObject({ id: 5, error: { code: 'unknown_method' } });
    expect(await errorFor(request(6, 'getRun', { runId: 'one' }))).toMatchObject({ id: 6, error: { code: 'invalid_params' } });
    // A browser page may not make the service read files by path, not even the real MNIST files.
    const mnist = bundledMnistDir();
    const byPath = await errorFor(request(7, 'importMnist', { from: 'paths', paths: [join(mnist, 'train-images-idx3-ubyte')] }));
    expect(byPath).toMatchObject({ id: 7, error: { code: 'invalid_params', message: expect.stringContaining('by path') } });

    const engine = clientOver(socket);
    expect((await engine.listDatasets()).datasets).toEqual([]);
    engine.close();
    socket.close();
  });

  it('pairs each socket with its own answers and import progress, in its own ids', async () => {
    const [first, second] = [await open(socketUrl()), await open(socketUrl())];
    const [firstSeen, secondSeen] = [recorder(first), recorder(second)];
    // Both sockets use id 1; the bridge must not cross their answers.
    first.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'request', id: 1, method: 'importMnist', params: { from: 'bundled' } }));
    second.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'request', id: 1, method: 'listRuns', params: {} }));
    const imported = (await firstSeen.next(isResponseTo(1))) as { ok: boolean; result: { dataset: { trainCount: number } } };
    expect(imported.ok).toBe(true);
    expect(imported.result.dataset.trainCount).toBe(60000);
    const listed = (await secondSeen.next(isResponseTo(1))) as { ok: boolean; result: { runs: unknown[] } };
    expect(listed).toMatchObject({ ok: true, result: { runs: [] } });

    const progress = firstSeen.messages.filter(isEvent('importProgress')) as { data: { requestId: number; stage: string } }[];
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((event) => event.data.requestId === 1)).toBe(true);
    expect(progress.at(-1)?.data.stage).toBe('done');
    expect(secondSeen.messages.filter(isEvent('importProgress'))).toEqual([]);
    first.close();
    second.close();
  });
});

describe('a service that dies', () => {
  it('is restarted, every socket is told, and the run it was training is interrupted and resumable', async () => {
    const [watcher, driver] = [await open(socketUrl()), await open(socketUrl())];
    const [watched, driven] = [recorder(watcher), recorder(driver)];
    const engine = clientOver(driver);
    const events: EngineEvent[] = [];
    engine.onEvent((event) => events.push(event));

    const { dataset } = await engine.importMnist({ from: 'bundled' });
    const { run } = await engine.createRun({
      datasetId: dataset.id,
      preset: 'sgd-1989',
      config: { passes: 2, trainLimit: 300 },
      start: true,
    });
    await driven.next((message) => isEvent('trainingProgress')(message) && (message.data as { runId: number }).runId === run.id);

    const killed = supervisor.pid!;
    process.kill(killed, 'SIGKILL');
    const crashNotice = (await watched.next(isEvent('serviceError'))) as { data: { code: string; message: string } };
    expect(crashNotice.data.code).toBe('service_crashed');
    expect(crashNotice.data.message).toContain('signal SIGKILL');
    expect((await driven.next(isEvent('serviceError'))).data).toEqual(crashNotice.data);
    const ready = (await watched.next(isEvent('ready'))) as { data: { interruptedRunIds: number[] } };
    expect(ready.data.interruptedRunIds).toContain(run.id);
    expect(supervisor.restarts).toBe(1);
    expect(supervisor.pid).not.toBe(killed);

    expect((await engine.getRun({ runId: run.id })).run.status).toBe('interrupted');
    await engine.resumeRun({ runId: run.id });
    await driven.next(
      (message) => isEvent('runStatus')(message) && (message.data as { run: { id: number; status: string } }).run.status === 'finished',
    );
    const finished = await engine.getRun({ runId: run.id });
    expect(finished.run.passes.map((pass) => pass.pass)).toEqual([1, 2]);
    expect(events.some((event) => event.event === 'serviceError')).toBe(true);
    engine.close();
    watcher.close();
    driver.close();
  });
});

describe('npm run serve', () => {
  it('prints the address with its token, serves it, refuses it without, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [join(DIST, 'serve.js'), '--db', join(work, 'cli.sqlite')], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let output = '';
      child.stdout.setEncoding('utf8');
      const address = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (text: string) => {
          output += text;
          const match = /open\s+(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(output);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`serve exited with ${code} before printing its address: ${output}`)));
      });
      expect(output).toContain(join(work, 'cli.sqlite'));
      const url = new URL(address);
      const fetched = await fetch(address);
      // The built renderer may or may not be there; either way the token was accepted.
      expect([200, 503]).toContain(fetched.status);
      expect(fetched.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect((await fetch(`${url.origin}/`)).status).toBe(403);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses a bad --port with a one-line message', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [join(DIST, 'serve.js'), '--port', 'http'], (error, _stdout, stderr) =>
        resolve({ code: error ? (error as { code?: number }).code ?? null : 0, stderr }),
      );
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('port');
    expect(result.stderr).not.toContain('    at ');
  });
});
