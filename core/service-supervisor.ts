/**
 * Keeps one engine service process alive for a host (the Electron main process or browser mode) and presents it as
 * a single long-lived Transport, whichever process generation is current.
 *
 * Why a Transport and not a client: each host already pairs requests with responses its own way (Electron through
 * createEngineClient, browser mode per WebSocket with its own ids); what they share is the process's life cycle.
 * So the supervisor only tracks which requests are in flight, so that a crash answers every one of them with a
 * 'disconnected' error instead of leaving callers waiting for a process that no longer exists.
 *
 * Life cycle: spawn, wait for the service's `ready` event, then pass requests through; requests sent before that
 * wait in a queue. If the process exits unexpectedly, the host hears a `serviceError` event and a new process is
 * spawned at once; the store marks the run that was training as interrupted when the new process opens it, and the
 * new `ready` event lists it. A process that dies before it ever became ready is retried a few times with a growing
 * delay, then the supervisor gives up and says why (the tail of the service's stderr), since retrying a service
 * that cannot open its database or load its native module only repeats the failure.
 */
import { fork } from 'node:child_process';
import {
  errorResponse,
  eventMessage,
  type RequestMessage,
  type Transport,
} from './protocol';

/** One running service process, as the supervisor needs to see it, whichever way it was started. */
export interface ServiceChild {
  readonly pid: number | undefined;
  send(message: RequestMessage): void;
  onMessage(handler: (message: unknown) => void): void;
  /** Called once when the process has gone, with a readable reason ("exit code 1", "signal SIGKILL"). */
  onExit(handler: (reason: string) => void): void;
  /** Called with each chunk of the process's stderr, if it is piped. */
  onStderr(handler: (text: string) => void): void;
  /** Asks the process to finish (it closes its database) and exit. */
  shutdown(): void;
  /** Ends the process at once. */
  kill(): void;
}

export type SpawnService = () => ServiceChild;

export type SupervisorState = 'starting' | 'ready' | 'restarting' | 'stopped' | 'failed';

export interface SupervisorOptions {
  spawn: SpawnService;
  /** How many times in a row a process may die before becoming ready before the supervisor gives up. */
  maxStartAttempts?: number;
  /** Delay before retrying a process that died before becoming ready, multiplied by the attempt number. */
  startRetryDelayMs?: number;
  /** How long stop() waits for a graceful exit before killing. */
  shutdownGraceMs?: number;
  /** Where the service's stderr and the supervisor's own notes go (the host's stderr by default). */
  log?: (text: string) => void;
}

export interface ServiceSupervisor extends Transport {
  readonly state: SupervisorState;
  /** The current process's pid, while one is running. */
  readonly pid: number | undefined;
  /** How many times the service has been restarted after dying. */
  readonly restarts: number;
  /** Resolves when the current process is ready; rejects if the supervisor gives up or is stopped first. */
  whenReady(): Promise<void>;
  /** Shuts the service down and keeps it down; pending and later requests are answered with 'disconnected'. */
  stop(): Promise<void>;
}

const STDERR_TAIL_CHARS = 4000;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function superviseService(options: SupervisorOptions): ServiceSupervisor {
  const maxStartAttempts = options.maxStartAttempts ?? 3;
  const startRetryDelayMs = options.startRetryDelayMs ?? 500;
  const shutdownGraceMs = options.shutdownGraceMs ?? 5000;
  const log = options.log ?? ((text: string) => void process.stderr.write(text));

  const handlers = new Set<(message: unknown) => void>();
  /** Requests sent to the current process and not yet answered: id -> method. */
  const inFlight = new Map<number, string>();
  /** Requests waiting for a process to become ready. */
  let queue: RequestMessage[] = [];
  let child: ServiceChild | undefined;
  let state: SupervisorState = 'starting';
  let restarts = 0;
  let failedStarts = 0;
  let stderrTail = '';
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let readyWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  let stopped: Promise<void> | undefined;

  const deliver = (message: unknown) => {
    for (const handler of [...handlers]) handler(message);
  };
  const settleReadyWaiters = (error?: Error) => {
    const waiters = readyWaiters;
    readyWaiters = [];
    for (const waiter of waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
  };
  const failRequests = (requests: Iterable<[number, string]>, reason: string) => {
    for (const [id, method] of requests) deliver(errorResponse(id, 'disconnected', `${method}: ${reason}`));
  };
  /** The service's last words, without the stack frames that bury the error's own line. */
  const stderrSummary = () => {
    const lines = stderrTail
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('at ') && !/^Node\.js v\d/.test(line) && !/^[{}^]+$/.test(line));
    return lines.length === 0 ? '' : ` Its last output: ${lines.slice(-4).join(' | ')}`;
  };

  const sendToChild = (message: RequestMessage) => {
    inFlight.set(message.id, message.method);
    try {
      child!.send(message);
    } catch (error) {
      inFlight.delete(message.id);
      failRequests([[message.id, message.method]], `could not send to the engine service (${(error as Error).message})`);
    }
  };

  const onChildMessage = (message: unknown) => {
    if (!isObject(message)) return deliver(message);
    if (message.type === 'response' && typeof message.id === 'number') inFlight.delete(message.id);
    if (message.type === 'event' && message.event === 'ready' && state === 'starting') {
      state = 'ready';
      failedStarts = 0;
      const waiting = queue;
      queue = [];
      for (const request of waiting) sendToChild(request);
      settleReadyWaiters();
    }
    deliver(message);
  };

  const onChildExit = (exited: ServiceChild, reason: string) => {
    if (exited !== child) return;
    child = undefined;
    processGone(reason);
  };

  /** The current process has gone (or never started): answer for it, then restart it or give up. */
  const processGone = (reason: string) => {
    const unanswered = [...inFlight];
    inFlight.clear();
    if (state === 'stopped') {
      failRequests(unanswered, 'the engine service was shut down');
      return;
    }
    const wasReady = state === 'ready';
    failRequests(unanswered, `the engine service stopped (${reason}) before answering`);
    if (!wasReady) failedStarts += 1;
    if (failedStarts >= maxStartAttempts) {
      state = 'failed';
      const message = `The engine service could not be started (${failedStarts} attempts, last: ${reason}).${stderrSummary()}`;
      log(`[supervisor] ${message}\n`);
      failRequests(queue.map((request) => [request.id, request.method] as [number, string]), 'the engine service is not available');
      queue = [];
      deliver(eventMessage('serviceError', { code: 'service_unavailable', message }));
      settleReadyWaiters(new Error(message));
      return;
    }
    const message = wasReady
      ? `The engine service stopped unexpectedly (${reason}) and is being restarted. A run that was training is marked interrupted and can be resumed from its last finished pass.`
      : `The engine service stopped while starting (${reason}); trying again.${stderrSummary()}`;
    log(`[supervisor] ${message}\n`);
    deliver(eventMessage('serviceError', { code: 'service_crashed', message }));
    state = 'restarting';
    restarts += 1;
    retryTimer = setTimeout(launch, wasReady ? 0 : startRetryDelayMs * failedStarts);
  };

  function launch() {
    retryTimer = undefined;
    if (state === 'stopped') return;
    state = 'starting';
    stderrTail = '';
    let started: ServiceChild;
    try {
      started = options.spawn();
    } catch (error) {
      // Spawning itself failed (a missing entry file, say): the same accounting as a process that died at once.
      processGone(`could not start: ${(error as Error).message}`);
      return;
    }
    child = started;
    started.onMessage(onChildMessage);
    started.onStderr((text) => {
      stderrTail = (stderrTail + text).slice(-STDERR_TAIL_CHARS);
      log(text);
    });
    started.onExit((reason) => onChildExit(started, reason));
  }

  const supervisor: ServiceSupervisor = {
    get state() {
      return state;
    },
    get pid() {
      return child?.pid;
    },
    get restarts() {
      return restarts;
    },
    send(message) {
      if (state === 'ready') sendToChild(message);
      else if (state === 'starting' || state === 'restarting') queue.push(message);
      else failRequests([[message.id, message.method]], state === 'failed' ? 'the engine service is not available' : 'the engine service was shut down');
    },
    onMessage(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    whenReady() {
      if (state === 'ready') return Promise.resolve();
      if (state === 'failed' || state === 'stopped') return Promise.reject(new Error(`the engine service is ${state}`));
      return new Promise((resolve, reject) => readyWaiters.push({ resolve, reject }));
    },
    stop() {
      if (stopped !== undefined) return stopped;
      state = 'stopped';
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      failRequests(queue.map((request) => [request.id, request.method] as [number, string]), 'the engine service was shut down');
      queue = [];
      settleReadyWaiters(new Error('the engine service was shut down'));
      const running = child;
      stopped = new Promise<void>((resolve) => {
        if (running === undefined) return resolve();
        const killTimer = setTimeout(() => running.kill(), shutdownGraceMs);
        running.onExit(() => {
          clearTimeout(killTimer);
          resolve();
        });
        running.shutdown();
      });
      return stopped;
    },
  };
  launch();
  return supervisor;
}

/**
 * A process's exit as a ServiceChild reports it: the first reason is the one that counts (a spawn that fails and a
 * process that exits can both report), and a handler registered after the process has gone is told at once.
 */
export interface ProcessExit {
  /** Why the process went, once it has. */
  readonly reason: string | undefined;
  report(reason: string): void;
  onExit(handler: (reason: string) => void): void;
}

export function processExit(): ProcessExit {
  let reason: string | undefined;
  const handlers: ((reason: string) => void)[] = [];
  return {
    get reason() {
      return reason;
    },
    report(exitReason) {
      if (reason !== undefined) return;
      reason = exitReason;
      for (const handler of handlers.splice(0)) handler(exitReason);
    },
    onExit(handler) {
      if (reason !== undefined) handler(reason);
      else handlers.push(handler);
    },
  };
}

/** The command line of the service entry (core/service/main.ts); without a file it opens the per-user default. */
export function serviceArguments(databasePath: string | undefined): string[] {
  return databasePath === undefined ? [] : ['--db', databasePath];
}

export interface NodeServiceOptions {
  /** The bundled service entry (dist/core/service.js). */
  entry: string;
  databasePath?: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts the service as a Node child process with an IPC channel: how browser mode and the tests host it. */
export function forkService({ entry, databasePath, env }: NodeServiceOptions): ServiceChild {
  const processHandle = fork(entry, serviceArguments(databasePath), {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    env: env ?? process.env,
  });
  const exit = processExit();
  processHandle.on('exit', (code, signal) => exit.report(signal !== null ? `signal ${signal}` : `exit code ${code}`));
  // A failed spawn emits 'error' without 'exit'; an error on a live process (a send after it died) is followed by
  // 'exit', which is where it is reported.
  processHandle.on('error', (error) => {
    if (processHandle.pid === undefined) exit.report(`could not start: ${error.message}`);
  });
  processHandle.stderr?.setEncoding('utf8');
  return {
    pid: processHandle.pid,
    send: (message) => {
      if (!processHandle.connected) throw new Error('the IPC channel is closed');
      processHandle.send(message);
    },
    onMessage: (handler) => processHandle.on('message', handler),
    onExit: exit.onExit,
    onStderr: (handler) => processHandle.stderr?.on('data', handler),
    // Closing the IPC channel is the service's cue to close its database and exit (see core/service/host.ts).
    shutdown: () => {
      if (processHandle.connected) processHandle.disconnect();
      else processHandle.kill();
    },
    kill: () => void processHandle.kill('SIGKILL'),
  };
}
