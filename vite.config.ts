import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig, type Plugin } from 'vite';
import { contentSecurityPolicy } from './core/content-security-policy.ts';

/**
 * The built page carries the app's Content-Security-Policy in a meta tag: Electron loads it from file://, where no
 * server adds headers (browser mode sends the same policy as a header too). The dev server injects styles inline for
 * hot reloading, which the policy refuses, so only the build gets the tag.
 */
function contentSecurityPolicyMeta(): Plugin {
  return {
    name: 'lecun1989:csp-meta',
    apply: 'build',
    transformIndexHtml: () => [
      {
        tag: 'meta',
        attrs: { 'http-equiv': 'Content-Security-Policy', content: contentSecurityPolicy({ metaTag: true }) },
        injectTo: 'head-prepend',
      },
    ],
  };
}

// The renderer is built once and loaded two ways: from file:// inside Electron and from the browser-mode server.
// Relative asset URLs (base './') are what makes the same files work in both.
export default defineConfig({
  root: fileURLToPath(new URL('./renderer', import.meta.url)),
  base: './',
  plugins: [vue(), contentSecurityPolicyMeta()],
  build: {
    outDir: fileURLToPath(new URL('./dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be inlined into index.html, which the Content-Security-Policy refuses to run.
    modulePreload: { polyfill: false },
  },
});
