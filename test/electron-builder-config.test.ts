// electron-builder.yml, checked without building: against the JSON schema electron-builder ships, and for the
// things an installer needs from this project (the bundles, the unpacked native module, icons that exist).
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { minimatch } from 'minimatch';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
// The YAML parser electron-builder itself reads its configuration with.
const yaml = require('js-yaml') as { load(text: string): unknown };

interface BuilderConfig {
  files: string[];
  asarUnpack: string[];
  directories: { buildResources: string };
  linux: { target: string[]; icon: string };
  win: { target: string; icon: string };
  mac: { target: string; icon: string };
  [key: string]: unknown;
}

const config = yaml.load(readFileSync(join(ROOT, 'electron-builder.yml'), 'utf8')) as BuilderConfig;
const schema = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'app-builder-lib', 'scheme.json'), 'utf8')) as object;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

function problems(candidate: unknown): string[] {
  return validate(candidate) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath || '(root)'} ${error.message}`);
}

/** Whether electron-builder's file patterns (globs, '!' to exclude, last match wins) take this path. */
function packaged(path: string): boolean {
  let taken = false;
  for (const pattern of config.files) {
    if (pattern.startsWith('!')) {
      if (minimatch(path, pattern.slice(1), { dot: true })) taken = false;
    } else if (minimatch(path, pattern, { dot: true })) taken = true;
  }
  return taken;
}

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(file: string): { width: number; height: number } {
  const bytes = readFileSync(file);
  expect(bytes.subarray(0, 8).toString('hex'), `${file} is not a PNG`).toBe('89504e470d0a1a0a');
  expect(bytes.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('electron-builder.yml', () => {
  it('is valid against the schema electron-builder ships', () => {
    expect(problems(config)).toEqual([]);
  });

  it('would be refused with a misspelled key or a wrong type, so the check above is a real one', () => {
    expect(problems({ ...config, asarUnpak: config.asarUnpack }).join('\n')).toContain('must NOT have additional properties');
    expect(problems({ ...config, linux: { ...config.linux, target: 7 } }).join('\n')).toContain('/linux/target');
  });

  it('builds the installers the issue asks for', () => {
    expect(config.appId).toMatch(/^[a-z0-9]+(\.[a-z0-9]+)+$/);
    expect(config.productName).toBe('lecun1989');
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.win.target).toBe('nsis');
    expect(config.mac.target).toBe('dmg');
  });

  it('packages every bundle the app loads, and no source maps', () => {
    const main = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string }).main;
    for (const path of [main, 'dist/electron/preload.cjs', 'dist/core/service.js', 'dist/core/eval-worker.js', 'dist/renderer/index.html', 'package.json']) {
      expect(packaged(path), path).toBe(true);
    }
    for (const path of ['dist/core/service.js.map', 'core/protocol.ts', 'electron/main.ts', 'test/serve.test.ts']) {
      expect(packaged(path), path).toBe(false);
    }
  });

  it("unpacks better-sqlite3's native module from the asar archive", () => {
    const native = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
    expect(config.asarUnpack.some((pattern) => minimatch(native, pattern))).toBe(true);
  });

  it('names icons that exist, large enough for each platform', () => {
    for (const [platform, minimum] of [['mac', 512], ['win', 256]] as const) {
      const { width, height } = pngSize(join(ROOT, config[platform].icon));
      expect(width, platform).toBe(height);
      expect(width, platform).toBeGreaterThanOrEqual(minimum);
    }
    // Linux takes a folder of PNGs named by their size.
    const sizes = readdirSync(join(ROOT, config.linux.icon)).filter((name) => name.endsWith('.png'));
    expect(sizes).toEqual(expect.arrayContaining(['16x16.png', '32x32.png', '48x48.png', '128x128.png', '256x256.png', '512x512.png']));
    for (const name of sizes) {
      const side = Number(name.split('x')[0]);
      expect(pngSize(join(ROOT, config.linux.icon, name)), name).toEqual({ width: side, height: side });
    }
  });
});
