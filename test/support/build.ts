// vitest globalSetup: the tests that start real processes run the esbuild bundles in dist/core, so build them
// first, whichever way vitest was started.
import { execFileSync } from 'node:child_process';

export default function buildCore(): void {
  execFileSync('npm', ['run', '--silent', 'build:core'], { stdio: 'inherit' });
}
