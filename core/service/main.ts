/**
 * The engine service's entry (bundled to dist/core/service.js). Start it as an Electron utilityProcess or as a Node
 * child process with an IPC channel:
 *
 *   utilityProcess.fork('dist/core/service.js', ['--db', path.join(app.getPath('userData'), 'lecun1989.sqlite')])
 *   child_process.fork('dist/core/service.js', ['--db', file])
 *
 * Without --db it opens the per-user default database (defaultDatabasePath). It sends a 'ready' event once the
 * database is open, answers every request with a response, and emits events as training goes; if the database
 * cannot be opened it emits 'serviceError' and exits with status 1. When its parent disconnects or it gets SIGTERM,
 * it halts the run in progress (recorded as 'interrupted', resumable), closes the database and exits 0.
 *
 * Test hook (crash tests only): with LECUN1989_TEST_HANG_BEFORE_COMMIT set to 'import' or 'pass:N', the service
 * writes the file named by LECUN1989_TEST_HANG_MARKER and then blocks forever inside that transaction (the import's,
 * or the Nth pass's) just before it commits, so a test can SIGKILL it with the transaction open.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { eventMessage, PROTOCOL_VERSION } from '../protocol';
import { defaultDatabasePath, Store, type BeforeCommitHook } from '../store';
import { EngineService } from './engine-service';
import { connectToHost } from './host';
import { ENGINE_VERSION } from './runner';

function hangBeforeCommitHook(): BeforeCommitHook | undefined {
  const target = process.env.LECUN1989_TEST_HANG_BEFORE_COMMIT;
  const marker = process.env.LECUN1989_TEST_HANG_MARKER;
  if (!target || !marker) return undefined;
  const [transaction, nth] = target.split(':');
  let seen = 0;
  return (current) => {
    if (current !== transaction || ++seen !== Number(nth ?? 1)) return;
    writeFileSync(marker, `${current} ${seen}\n`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  };
}

function openStore(): Store | null {
  try {
    const beforeCommit = hangBeforeCommitHook();
    return new Store(databasePath, beforeCommit ? { beforeCommit } : {});
  } catch (error) {
    const message = `cannot open the database ${databasePath}: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`lecun1989 service: ${message}\n`);
    host.send(eventMessage('serviceError', { code: 'internal', message }));
    // Give the message time to leave before the process goes.
    setTimeout(() => process.exit(1), 200);
    return null;
  }
}

function serve(store: Store): void {
  const service = new EngineService(store, (message) => host.send(message));
  host.onMessage((message) => {
    void service.handle(message).then((response) => host.send(response));
  });
  // Parent gone, or asked to terminate (utilityProcess.kill() sends SIGTERM): halt the run as interrupted, close the
  // database cleanly, exit.
  let exiting = false;
  const exit = () => {
    if (exiting) return;
    exiting = true;
    void service.shutdown().finally(() => {
      store.close();
      process.exit(0);
    });
  };
  host.onDisconnect(exit);
  process.on('SIGTERM', exit);
  // A terminal's Ctrl-C reaches the whole process group, this child too; the parent decides what it means and
  // disconnects when it wants the service gone, so the run in flight is recorded as interrupted, not cut off.
  process.on('SIGINT', () => {});
  // A bug must not take the service down with the user's run: report it and carry on.
  process.on('unhandledRejection', (reason) => {
    host.send(eventMessage('serviceError', { code: 'internal', message: reason instanceof Error ? reason.message : String(reason) }));
  });
  host.send(
    eventMessage('ready', {
      protocolVersion: PROTOCOL_VERSION,
      engineVersion: ENGINE_VERSION,
      databasePath: store.path,
      interruptedRunIds: store.interruptedOnOpen,
    }),
  );
}

const host = connectToHost();
const { values } = parseArgs({ options: { db: { type: 'string' } }, strict: false });
const databasePath = typeof values.db === 'string' ? values.db : defaultDatabasePath();
const store = openStore();
if (store !== null) serve(store);
