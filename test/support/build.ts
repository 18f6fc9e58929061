// vitest globalSetup: the tests that start real processes run the esbuild bundles in dist/core, and browser mode
// serves the built renderer from dist/renderer, so build both first, whichever way vitest was started.
import { execFileSync } from 'node:child_process';

export default function build(): void {
  for (const script of ['build:core', 'build:renderer']) execFileSync('npm', ['run', '--silent', script], { stdio: 'inherit' });
}
