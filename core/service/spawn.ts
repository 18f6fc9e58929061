/**
 * Starts the engine service as a Node child process and returns an EngineApi over its IPC channel: for browser
 * mode's server, the benchmark and the tests. (The desktop app starts the same file as an Electron utilityProcess.)
 */
import { fork, type ChildProcess, type StdioOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createEngineClient, type EngineClient, type EventData } from '../protocol';

export interface SpawnedService {
  api: EngineClient;
  child: ChildProcess;
  /** Resolves with the service's 'ready' event; rejects if it exits first. */
  ready: Promise<EventData<'ready'>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Asks the service to halt its run (recorded as interrupted), close the database and exit; kills it if it dawdles. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface SpawnOptions {
  databasePath: string;
  /** The bundled service; by default service.js beside the calling bundle in dist/core. */
  servicePath?: string;
  env?: NodeJS.ProcessEnv;
  stdio?: StdioOptions;
}

export function spawnEngineService(options: SpawnOptions): SpawnedService {
  const servicePath = options.servicePath ?? fileURLToPath(new URL('./service.js', import.meta.url));
  const child = fork(servicePath, ['--db', options.databasePath], {
    env: options.env ?? process.env,
    stdio: options.stdio ?? ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const api = createEngineClient({
    send: (message) => {
      if (!child.connected) throw new Error('the engine service is not running');
      child.send(message);
    },
    onMessage: (handler) => {
      child.on('message', handler);
      return () => void child.off('message', handler);
    },
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      api.close(`the engine service exited (${signal ?? `code ${code}`})`);
      resolve({ code, signal });
    });
  });
  const ready = new Promise<EventData<'ready'>>((resolve, reject) => {
    const unsubscribe = api.onEvent((event) => {
      if (event.event === 'ready') {
        unsubscribe();
        resolve(event.data);
      }
    });
    void exited.then(({ code, signal }) => reject(new Error(`the engine service exited before it was ready (${signal ?? `code ${code}`})`)));
  });
  // A caller that never awaits `ready` must not get an unhandled rejection when the service dies.
  ready.catch(() => {});
  return {
    api,
    child,
    ready,
    exited,
    async stop(timeoutMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      if (child.connected) child.disconnect();
      else child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}
