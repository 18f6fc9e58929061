// `npm run dist`, after the bundles are built: electron-builder with the arguments given (`-- --linux` etc.).
// electron-builder rebuilds better-sqlite3 for Electron in node_modules itself; Node's build is saved before and
// put back after (see native-abi.mjs), so `npm test` still works once the installers are made.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { NativeBuildError, restoreNodeBuild, ROOT, saveNodeBuild } from './native-abi.mjs';

try {
  saveNodeBuild();
} catch (error) {
  if (!(error instanceof NativeBuildError)) throw error;
  process.stderr.write(`lecun1989: ${error.message}\n`);
  process.exit(1);
}
const cli = join(dirname(createRequire(join(ROOT, 'package.json')).resolve('electron-builder/package.json')), 'cli.js');
const result = spawnSync(process.execPath, [cli, '--config', 'electron-builder.yml', ...process.argv.slice(2)], { cwd: ROOT, stdio: 'inherit' });
restoreNodeBuild();
process.exit(result.status ?? 1);
