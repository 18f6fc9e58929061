/**
 * `npm run serve` (bundled to dist/core/serve.js): the engine service and the built renderer in a browser, for a
 * machine where Electron does not run, and for the end-to-end tests. Lives next to dist/core/service.js and
 * dist/renderer/, which it finds relative to itself.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { forkService, superviseService } from '../service-supervisor';
import { startServeServer } from './server';

function port(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535 (0 picks a free one).');
  return value;
}

async function main(): Promise<void> {
  const options = new Command('lecun1989-serve')
    .description('Serve the lecun1989 app to a browser on this machine (127.0.0.1 only, with an access token).')
    .option('--port <n>', 'port to listen on (default: a free one)', port, 0)
    .option('--db <file>', 'database file (default: the per-user one the desktop app uses)')
    .parse()
    .opts<{ port: number; db?: string }>();

  const here = dirname(fileURLToPath(import.meta.url));
  const serviceEntry = join(here, 'service.js');
  const rendererDir = resolve(here, '..', 'renderer');
  if (!existsSync(serviceEntry)) throw new Error(`${serviceEntry} is missing: run \`npm run build:core\` first`);
  if (!existsSync(join(rendererDir, 'index.html'))) {
    process.stderr.write(`warning: ${rendererDir}/index.html is missing; run \`npm run build:renderer\` before opening the page\n`);
  }
  const databasePath = options.db === undefined ? undefined : resolve(options.db);

  const supervisor = superviseService({ spawn: () => forkService({ entry: serviceEntry, databasePath }) });
  // The service resolves the default database itself; its ready event says which file it opened.
  let openedDatabase = databasePath ?? '';
  supervisor.onMessage((message) => {
    const event = message as { type?: unknown; event?: unknown; data?: { databasePath?: unknown } };
    if (event.type === 'event' && event.event === 'ready' && typeof event.data?.databasePath === 'string') openedDatabase = event.data.databasePath;
  });
  try {
    await supervisor.whenReady();
  } catch (error) {
    await supervisor.stop();
    throw error;
  }
  const server = await startServeServer({ supervisor, rendererDir, port: options.port });
  process.stdout.write(
    [
      'lecun1989 browser mode',
      `  database  ${openedDatabase}`,
      `  open      ${server.url}`,
      'Only this machine can connect, and only with the token in that address. Ctrl+C stops.',
      '',
    ].join('\n'),
  );

  const shutDown = () => {
    void server
      .close()
      .then(() => supervisor.stop())
      .then(() => process.exit(0));
  };
  process.once('SIGINT', shutDown);
  process.once('SIGTERM', shutDown);
}

main().catch((error: unknown) => {
  process.stderr.write(`lecun1989 serve: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
