/**
 * The engine service as an Electron utilityProcess: a Node environment under Electron's own process model, so it
 * trains on its own core while the window stays responsive, and is reported and cleaned up with the app.
 */
import { utilityProcess } from 'electron';
import { processExit, serviceArguments, type ServiceChild } from '../core/service-supervisor';

export function forkUtilityService(entry: string, databasePath: string): ServiceChild {
  const child = utilityProcess.fork(entry, serviceArguments(databasePath), {
    serviceName: 'lecun1989 engine service',
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const exit = processExit();
  child.on('exit', (code) => exit.report(`exit code ${code}`));
  child.stderr?.setEncoding('utf8');
  return {
    get pid() {
      return child.pid;
    },
    send: (message) => {
      if (exit.reason !== undefined) throw new Error('the service process has exited');
      child.postMessage(message);
    },
    onMessage: (handler) => void child.on('message', handler),
    onExit: exit.onExit,
    onStderr: (handler) => void child.stderr?.on('data', handler),
    // A utilityProcess has no IPC channel to close: kill() sends SIGTERM, which the service answers with a clean
    // shutdown (the run in flight recorded as interrupted); and were it cut off, SQLite's WAL keeps the file whole.
    shutdown: () => void child.kill(),
    kill: () => void child.kill(),
  };
}
