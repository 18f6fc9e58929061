/**
 * The engine service as an Electron utilityProcess: a Node environment under Electron's own process model, so it
 * trains on its own core while the window stays responsive, and is reported and cleaned up with the app.
 */
import { utilityProcess } from 'electron';
import { serviceArguments, type ServiceChild } from '../core/service-supervisor';

export function forkUtilityService(entry: string, databasePath: string): ServiceChild {
  const child = utilityProcess.fork(entry, serviceArguments(databasePath), {
    serviceName: 'lecun1989 engine service',
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let exitReason: string | undefined;
  const exitHandlers: ((reason: string) => void)[] = [];
  const exited = (reason: string) => {
    if (exitReason !== undefined) return;
    exitReason = reason;
    for (const handler of exitHandlers) handler(reason);
  };
  child.on('exit', (code) => exited(`exit code ${code}`));
  child.stderr?.setEncoding('utf8');
  return {
    get pid() {
      return child.pid;
    },
    send: (message) => {
      if (exitReason !== undefined) throw new Error('the service process has exited');
      child.postMessage(message);
    },
    onMessage: (handler) => void child.on('message', handler),
    onExit: (handler) => {
      if (exitReason !== undefined) handler(exitReason);
      else exitHandlers.push(handler);
    },
    onStderr: (handler) => void child.stderr?.on('data', handler),
    // A utilityProcess has no channel to close; SQLite's WAL makes ending it safe at any moment.
    shutdown: () => void child.kill(),
    kill: () => void child.kill(),
  };
}
