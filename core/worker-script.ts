/**
 * Where a worker thread's entry file is. The app and the command line run the esbuild bundles in dist/core, where
 * every entry is a sibling .js file. The tests run the TypeScript sources, and Node 20 cannot start a worker from .ts,
 * so there the entry is bundled on the fly with esbuild, a dev dependency and so present wherever the sources are.
 */
import { fileURLToPath } from 'node:url';

export type WorkerEntry = 'eval-worker' | 'sweep-worker';

const located = new Map<WorkerEntry, Promise<URL>>();

export function workerScript(entry: WorkerEntry): Promise<URL> {
  let script = located.get(entry);
  if (script === undefined) {
    script = locate(entry);
    located.set(entry, script);
  }
  return script;
}

async function locate(entry: WorkerEntry): Promise<URL> {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new URL(`./${entry}.js`, here);
  const { build } = await import('esbuild');
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL(`./${entry}.ts`, here))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    write: false,
    logLevel: 'silent',
  });
  return new URL(`data:text/javascript,${encodeURIComponent(bundle.outputFiles[0]!.text)}`);
}
