import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig, type Plugin } from 'vite';

/**
 * The built page carries a strict Content-Security-Policy in a meta tag (Electron loads it from file://, where no
 * server adds headers). The dev server injects styles inline for hot reloading, which that policy refuses, so the
 * meta tag is left out there.
 */
function withoutCspWhenServing(): Plugin {
  return {
    name: 'lecun1989:no-csp-in-dev',
    apply: 'serve',
    transformIndexHtml: (html) => html.replace(/\s*<meta http-equiv="Content-Security-Policy"[^>]*>/, ''),
  };
}

// The renderer is built once and loaded two ways: from file:// inside Electron and from the browser-mode server.
// Relative asset URLs (base './') are what makes the same files work in both.
export default defineConfig({
  root: fileURLToPath(new URL('./renderer', import.meta.url)),
  base: './',
  plugins: [vue(), withoutCspWhenServing()],
  build: {
    outDir: fileURLToPath(new URL('./dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be inlined into index.html, which the Content-Security-Policy refuses to run.
    modulePreload: { polyfill: false },
  },
});
