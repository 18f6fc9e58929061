// Bundles the Electron main process and the preload: `node electron/build.mjs [outdir]` (default dist/electron).
//   dist/electron/main.cjs     the main process; the service runs separately from dist/core/service.js
//   dist/electron/preload.cjs  the sandboxed preload, which may require nothing but 'electron'
// Both are CommonJS because a sandboxed preload must be, and one format for both keeps this file simple.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const electronVersion = JSON.parse(readFileSync(new URL('../node_modules/electron/package.json', import.meta.url), 'utf8')).version;
// Electron 45 ships Chromium 140 and Node 22.
const major = Number(electronVersion.split('.')[0]);
if (major !== 45) throw new Error(`electron/build.mjs targets Electron 45; node_modules has ${electronVersion}: update the targets below`);

const common = {
  bundle: true,
  format: 'cjs',
  outdir: process.argv[2] ?? 'dist/electron',
  outExtension: { '.js': '.cjs' },
  external: ['electron'],
  sourcemap: true,
  logLevel: 'warning',
  absWorkingDir: new URL('..', import.meta.url).pathname,
};

await Promise.all([
  build({ ...common, entryPoints: { main: 'electron/main.ts' }, platform: 'node', target: 'node22' }),
  build({ ...common, entryPoints: { preload: 'electron/preload.ts' }, platform: 'browser', target: 'chrome140' }),
]);
