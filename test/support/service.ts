// Helpers for the tests that run the engine service as a real child process, from its esbuild bundle.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EngineEvent, EventData, EventName } from '../../core/protocol';
import { spawnEngineService, type SpawnedService, type SpawnOptions } from '../../core/service/spawn';

const repository = path.resolve(import.meta.dirname, '../..');
/** Built, with the workers it starts beside it, by vitest's globalSetup (test/support/build.ts). */
export const SERVICE_BUNDLE = path.join(repository, 'dist/core/service.js');

export function temporaryFolder(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lecun1989-${prefix}-`));
}

/** Resolves once `file` exists: the service's test seams drop a marker file when they reach the moment to kill at. */
export async function waitForFile(file: string): Promise<void> {
  for (let waited = 0; !fs.existsSync(file); waited += 20) {
    if (waited > 30_000) throw new Error(`${file} never appeared`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface TestService extends SpawnedService {
  events: EngineEvent[];
  stderr: () => string;
  /** Resolves with the first event (already seen or still to come) that matches. */
  waitForEvent<E extends EventName>(name: E, matches?: (data: EventData<E>) => boolean, timeoutMs?: number): Promise<EventData<E>>;
}

export function startService(databasePath: string, options: Omit<SpawnOptions, 'databasePath' | 'servicePath'> = {}): TestService {
  const spawned = spawnEngineService({ databasePath, servicePath: SERVICE_BUNDLE, stdio: ['ignore', 'inherit', 'pipe', 'ipc'], ...options });
  let stderr = '';
  spawned.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const events: EngineEvent[] = [];
  const waiters = new Set<(event: EngineEvent) => void>();
  spawned.api.onEvent((event) => {
    events.push(event);
    for (const waiter of waiters) waiter(event);
  });
  return {
    ...spawned,
    events,
    stderr: () => stderr,
    waitForEvent<E extends EventName>(name: E, matches: (data: EventData<E>) => boolean = () => true, timeoutMs = 30_000) {
      const matching = (event: EngineEvent) => event.event === name && matches(event.data as EventData<E>);
      const seen = events.find(matching);
      if (seen) return Promise.resolve(seen.data as EventData<E>);
      return new Promise<EventData<E>>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching '${name}' event within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = (event: EngineEvent) => {
          if (!matching(event)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(event.data as EventData<E>);
        };
        waiters.add(waiter);
      });
    },
  };
}
