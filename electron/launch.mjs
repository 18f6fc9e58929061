// `npm start`, after the bundles are built: starts the desktop app with Electron, or says in a few lines why it
// cannot and points to browser mode (`npm run serve`), which runs the same app without Electron. better-sqlite3
// runs under Electron's ABI only while Electron runs (see native-abi.mjs).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ELECTRON_VERSION, gist, NativeBuildError, restoreNodeBuild, ROOT, run, useElectronBuild } from './native-abi.mjs';

const ELECTRON_DIR = dirname(createRequire(join(ROOT, 'package.json')).resolve('electron/package.json'));

/** Why the app cannot start here, as lines for the terminal; null if nothing is known to stop it. */
export function launchBlocker({ platform, uid, env }) {
  if (platform === 'linux' && uid === 0) {
    return ['Electron does not run as root without switching off its sandbox, and this app keeps it on.', 'Start it as a normal user.'];
  }
  if (platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY) {
    return ['There is no display here (neither DISPLAY nor WAYLAND_DISPLAY is set), so no window can open.'];
  }
  return null;
}

function fail(lines) {
  for (const line of lines) process.stderr.write(`lecun1989: ${line}\n`);
  process.stderr.write('lecun1989: the same app runs in a browser instead:  npm run serve  (then open the address it prints)\n');
  process.exit(1);
}

/** The Electron executable, downloading it first if npm install could not (Electron fetches it on first use). */
function electronExecutable() {
  const located = () => {
    const pathFile = join(ELECTRON_DIR, 'path.txt');
    if (!existsSync(pathFile)) return null;
    const executable = join(ELECTRON_DIR, 'dist', readFileSync(pathFile, 'utf8').trim());
    return existsSync(executable) ? executable : null;
  };
  const present = located();
  if (present !== null) return present;
  process.stdout.write(`lecun1989: downloading Electron ${ELECTRON_VERSION} (once)…\n`);
  const download = run(process.execPath, [join(ELECTRON_DIR, 'install.js')], 15 * 60 * 1000);
  const downloaded = located();
  if (!download.ok || downloaded === null) {
    fail([`Electron ${ELECTRON_VERSION} could not be downloaded from its release site, github.com (${gist(download.output)}).`]);
  }
  return downloaded;
}

function launch(executable) {
  const child = spawn(executable, [ROOT], { cwd: ROOT, stdio: 'inherit' });
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      stopping = true;
      child.kill(signal);
    });
  }
  child.on('error', (error) => {
    restoreNodeBuild();
    fail([`Electron could not be started: ${error.message}`]);
  });
  child.on('exit', (code, signal) => {
    restoreNodeBuild();
    if (code === 0 || stopping) process.exit(0);
    fail([`Electron stopped (${signal ?? `exit code ${code}`}). If it cannot run on this machine:`]);
  });
}

function main() {
  // A launcher killed while Electron ran left Electron's build in place.
  restoreNodeBuild();
  for (const bundle of ['dist/electron/main.cjs', 'dist/electron/preload.cjs', 'dist/core/service.js', 'dist/renderer/index.html']) {
    if (!existsSync(join(ROOT, bundle))) fail([`${bundle} is missing: build first (npm start builds everything).`]);
  }
  const blocker = launchBlocker({ platform: process.platform, uid: process.getuid?.(), env: process.env });
  if (blocker !== null) fail(blocker);
  const executable = electronExecutable();
  useElectronBuild();
  launch(executable);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (error) {
    if (!(error instanceof NativeBuildError)) throw error;
    fail([error.message]);
  }
}
