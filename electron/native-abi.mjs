// better-sqlite3 is a native module, built for one ABI at a time: Node's (the CLI, browser mode, the tests) or
// Electron's (the app). Both builds are kept side by side in node_modules/.cache/lecun1989-native/, keyed by the
// better-sqlite3 version and the runtime; the Electron one is put in place only while Electron runs or installers
// are built, and Node's is put back afterwards, so `npm test` works whatever ran before it.
//
//   node electron/native-abi.mjs restore   puts Node's build back (after a launcher that was killed, say)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'package.json'));
const packageVersion = (name) => JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;

export const ELECTRON_VERSION = packageVersion('electron');
const SQLITE_VERSION = packageVersion('better-sqlite3');
const IN_PLACE = join(dirname(require.resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
const CACHE = join(ROOT, 'node_modules', '.cache', 'lecun1989-native');
const PLATFORM = `${process.platform}-${process.arch}`;
const NODE_BUILD = join(CACHE, `better-sqlite3-${SQLITE_VERSION}-node-abi${process.versions.modules}-${PLATFORM}.node`);
const ELECTRON_BUILD = join(CACHE, `better-sqlite3-${SQLITE_VERSION}-electron-${ELECTRON_VERSION}-${PLATFORM}.node`);

/** A failure to report in one line, without a stack. */
export class NativeBuildError extends Error {}

/** One short line from a failed command's output: its last line that says "error", else its last line. */
export function gist(output) {
  const lines = output.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('at '));
  return (lines.filter((line) => /error/i.test(line)).at(-1) ?? lines.at(-1) ?? 'no output').slice(0, 300);
}

export function run(command, args, timeout) {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', timeout, env: process.env });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}\n${result.stderr ?? ''}${result.error ? `\n${result.error.message}` : ''}` };
}

const sameBytes = (a, b) => readFileSync(a).equals(readFileSync(b));

/** Keeps a copy of Node's build, checking first that what is in place really loads in Node. */
export function saveNodeBuild() {
  if (existsSync(NODE_BUILD)) return;
  const loads = run(process.execPath, ['-e', "new (require('better-sqlite3'))(':memory:').close()"], 60_000);
  if (!loads.ok) throw new NativeBuildError(`better-sqlite3 does not load in Node ${process.version} (${gist(loads.output)}): run \`npm rebuild better-sqlite3\``);
  mkdirSync(CACHE, { recursive: true });
  copyFileSync(IN_PLACE, NODE_BUILD);
}

/** Puts Node's build back in place, if something else is there. */
export function restoreNodeBuild() {
  if (!existsSync(NODE_BUILD) || (existsSync(IN_PLACE) && sameBytes(IN_PLACE, NODE_BUILD))) return;
  mkdirSync(dirname(IN_PLACE), { recursive: true });
  copyFileSync(NODE_BUILD, IN_PLACE);
}

/** Rebuilds better-sqlite3 in place for Electron, the way electron-builder does for installers. */
export function rebuildForElectron() {
  const cli = join(dirname(require.resolve('electron-builder/package.json')), 'cli.js');
  return run(process.execPath, [cli, 'install-app-deps'], 20 * 60 * 1000);
}

/** Puts Electron's build in place, building it the first time for this Electron and better-sqlite3. */
export function useElectronBuild(log = (line) => process.stdout.write(`${line}\n`)) {
  saveNodeBuild();
  if (!existsSync(ELECTRON_BUILD)) {
    log(`lecun1989: building better-sqlite3 ${SQLITE_VERSION} for Electron ${ELECTRON_VERSION} (once)…`);
    const rebuild = rebuildForElectron();
    const built = rebuild.ok && existsSync(IN_PLACE) && !sameBytes(IN_PLACE, NODE_BUILD);
    if (built) copyFileSync(IN_PLACE, ELECTRON_BUILD);
    restoreNodeBuild();
    if (!built) throw new NativeBuildError(`better-sqlite3 could not be rebuilt for Electron ${ELECTRON_VERSION} (${gist(rebuild.output)})`);
  }
  copyFileSync(ELECTRON_BUILD, IN_PLACE);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const command = process.argv[2];
  if (command !== 'restore') {
    process.stderr.write('usage: node electron/native-abi.mjs restore\n');
    process.exit(2);
  }
  restoreNodeBuild();
}
