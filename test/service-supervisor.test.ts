// The supervisor's life cycle with stand-in processes; test/serve.test.ts covers it with the real service.
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { eventMessage, PROTOCOL_VERSION, type RequestMessage } from '../core/protocol';
import { processExit, superviseService, type ServiceChild } from '../core/service-supervisor';

class StandInChild extends EventEmitter implements ServiceChild {
  static nextPid = 1;
  readonly pid = StandInChild.nextPid++;
  readonly received: RequestMessage[] = [];
  shutdownAsked = false;
  killed = false;
  send(message: RequestMessage): void {
    this.received.push(message);
  }
  onMessage(handler: (message: unknown) => void): void {
    this.on('message', handler);
  }
  onExit(handler: (reason: string) => void): void {
    this.on('exit', handler);
  }
  onStderr(handler: (text: string) => void): void {
    this.on('stderr', handler);
  }
  shutdown(): void {
    this.shutdownAsked = true;
  }
  kill(): void {
    this.killed = true;
    this.emit('exit', 'signal SIGKILL');
  }
  ready(): void {
    this.emit('message', eventMessage('ready', { protocolVersion: 1, engineVersion: 't', databasePath: '/db', interruptedRunIds: [] }));
  }
  answer(request: RequestMessage): void {
    this.emit('message', { v: PROTOCOL_VERSION, type: 'response', id: request.id, ok: true, result: {} });
  }
}

function harness(options: { spawn?: () => ServiceChild; maxStartAttempts?: number; shutdownGraceMs?: number } = {}) {
  const children: StandInChild[] = [];
  const received: Record<string, unknown>[] = [];
  const log = vi.fn();
  const supervisor = superviseService({
    spawn:
      options.spawn ??
      (() => {
        const child = new StandInChild();
        children.push(child);
        return child;
      }),
    startRetryDelayMs: 1,
    log,
    ...(options.maxStartAttempts === undefined ? {} : { maxStartAttempts: options.maxStartAttempts }),
    ...(options.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: options.shutdownGraceMs }),
  });
  supervisor.onMessage((message) => received.push(message as Record<string, unknown>));
  const request = (id: number, method = 'listRuns'): RequestMessage => ({ v: PROTOCOL_VERSION, type: 'request', id, method, params: {} });
  const responses = () => received.filter((message) => message.type === 'response');
  const events = (name: string) => received.filter((message) => message.type === 'event' && message.event === name).map((message) => message.data);
  return { supervisor, children, received, request, responses, events, log };
}

describe('superviseService', () => {
  it('holds requests until the service is ready, then passes requests and answers through unchanged', async () => {
    const { supervisor, children, request, responses } = harness();
    supervisor.send(request(1));
    expect(children[0]!.received).toEqual([]);
    children[0]!.ready();
    await supervisor.whenReady();
    expect(supervisor.state).toBe('ready');
    supervisor.send(request(2));
    expect(children[0]!.received.map((message) => message.id)).toEqual([1, 2]);
    children[0]!.answer(children[0]!.received[1]!);
    expect(responses()).toEqual([{ v: PROTOCOL_VERSION, type: 'response', id: 2, ok: true, result: {} }]);
  });

  it('answers calls in flight with disconnected when the service dies, says so, and starts a new one', async () => {
    const { supervisor, children, request, responses, events } = harness();
    children[0]!.ready();
    supervisor.send(request(1, 'getRun'));
    supervisor.send(request(2, 'listRuns'));
    children[0]!.answer(children[0]!.received[1]!);
    children[0]!.emit('exit', 'signal SIGKILL');

    expect(responses()).toEqual([
      expect.objectContaining({ id: 2, ok: true }),
      expect.objectContaining({ id: 1, ok: false, error: { code: 'disconnected', message: expect.stringContaining('getRun') } }),
    ]);
    expect(events('serviceError')).toEqual([{ code: 'service_crashed', message: expect.stringContaining('signal SIGKILL') }]);
    await vi.waitFor(() => expect(children).toHaveLength(2));
    expect(supervisor.restarts).toBe(1);
    expect(supervisor.pid).toBe(children[1]!.pid);
    // A request sent between the crash and the new process's ready event waits for it.
    supervisor.send(request(3));
    children[1]!.ready();
    expect(children[1]!.received.map((message) => message.id)).toEqual([3]);
    expect(children[0]!.received.map((message) => message.id)).toEqual([1, 2]);
  });

  it('gives up on a service that keeps dying before it is ready, and says why in one line', async () => {
    const { supervisor, children, request, responses, events } = harness({ maxStartAttempts: 3 });
    const gaveUp = supervisor.whenReady().catch((error: Error) => error);
    supervisor.send(request(1));
    const dieAtStart = (child: StandInChild) => {
      child.emit('stderr', "file:///app/dist/core/service.js:1\nError: The module 'better_sqlite3.node' was compiled against a different Node.js version\n");
      child.emit('stderr', '    at Module._extensions..node (node:internal/modules/cjs/loader:1454:18)\n    at Module.load (node:internal)\n\nNode.js v20.20.2\n');
      child.emit('exit', 'exit code 1');
    };
    for (let attempt = 1; attempt <= 3; attempt++) {
      await vi.waitFor(() => expect(children).toHaveLength(attempt));
      dieAtStart(children[attempt - 1]!);
    }
    expect(supervisor.state).toBe('failed');
    const [unavailable] = events('serviceError').slice(-1) as { code: string; message: string }[];
    expect(unavailable!.code).toBe('service_unavailable');
    expect(unavailable!.message).toContain('3 attempts');
    expect(unavailable!.message).toContain('compiled against a different Node.js version');
    expect(unavailable!.message).not.toContain('    at ');
    expect((await gaveUp) as Error).toBeInstanceOf(Error);
    expect(responses()).toEqual([expect.objectContaining({ id: 1, ok: false, error: expect.objectContaining({ code: 'disconnected' }) })]);
    supervisor.send(request(2));
    expect(responses().at(-1)).toMatchObject({ id: 2, ok: false, error: { code: 'disconnected' } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(children).toHaveLength(3);
  });

  it('counts a process that cannot even be spawned as a failed start', async () => {
    const spawn = vi.fn(() => {
      throw new Error('no such file: dist/core/service.js');
    });
    const { supervisor, events } = harness({ spawn, maxStartAttempts: 2 });
    await expect(supervisor.whenReady()).rejects.toThrow('could not be started');
    expect(spawn).toHaveBeenCalledTimes(2);
    expect(events('serviceError').at(-1)).toMatchObject({ code: 'service_unavailable', message: expect.stringContaining('no such file') });
  });

  it('stops by asking the service to shut down, kills it if it does not, and never restarts it', async () => {
    const { supervisor, children, request, responses, events } = harness({ shutdownGraceMs: 10 });
    children[0]!.ready();
    supervisor.send(request(1));
    await supervisor.stop();
    expect(children[0]!.shutdownAsked).toBe(true);
    expect(children[0]!.killed).toBe(true);
    expect(responses()).toEqual([expect.objectContaining({ id: 1, error: expect.objectContaining({ code: 'disconnected' }) })]);
    expect(events('serviceError')).toEqual([]);
    supervisor.send(request(2));
    expect(responses().at(-1)).toMatchObject({ id: 2, error: { code: 'disconnected' } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(children).toHaveLength(1);
    expect(supervisor.state).toBe('stopped');
  });
});

describe('processExit', () => {
  it('tells each handler the first reason once, and a handler registered after the exit at once', () => {
    const exit = processExit();
    const early = vi.fn();
    exit.onExit(early);
    expect(exit.reason).toBeUndefined();
    exit.report('could not start: spawn ENOENT');
    exit.report('exit code 1');
    expect(early.mock.calls).toEqual([['could not start: spawn ENOENT']]);
    expect(exit.reason).toBe('could not start: spawn ENOENT');
    const late = vi.fn();
    exit.onExit(late);
    expect(late.mock.calls).toEqual([['could not start: spawn ENOENT']]);
    expect(early).toHaveBeenCalledTimes(1);
  });
});
