// `npm start`'s launcher where Electron cannot run: a few plain lines that point to browser mode, never a stack.
// Only on Linux, where the launcher can tell without starting anything (no display, or running as root).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const LAUNCHER = join(import.meta.dirname, '..', '..', 'electron', 'launch.mjs');

describe('electron/launch.mjs', () => {
  it.runIf(process.platform === 'linux')('without a display, says why in a few lines and points to npm run serve', () => {
    const env = { ...process.env };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    const result = spawnSync(process.execPath, [LAUNCHER], { env, encoding: 'utf8', timeout: 30_000 });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines.length).toBeLessThanOrEqual(4);
    expect(lines.every((line) => line.startsWith('lecun1989: '))).toBe(true);
    expect(result.stderr).toContain('npm run serve');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });
});
