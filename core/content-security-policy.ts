/**
 * The Content-Security-Policy of the renderer page, in both hosts: everything from the app itself, nothing from the
 * network, no inline or evaluated script, no plugins, no frames, no forms. Browser mode adds its own WebSocket
 * origin, which older Chromium does not count as 'self'.
 */
export function contentSecurityPolicy(extraConnectSources: string[] = []): string {
  const directives: [string, ...string[]][] = [
    ['default-src', "'none'"],
    ['script-src', "'self'"],
    ['style-src', "'self'"],
    // Digits and charts are drawn on canvases; data: and blob: cover their exported images.
    ['img-src', "'self'", 'data:', 'blob:'],
    ['font-src', "'self'", 'data:'],
    ['connect-src', "'self'", ...extraConnectSources],
    ['worker-src', "'self'"],
    ['manifest-src', "'self'"],
    ['object-src', "'none'"],
    ['base-uri', "'none'"],
    ['form-action', "'none'"],
    ['frame-ancestors', "'none'"],
  ];
  return directives.map((directive) => directive.join(' ')).join('; ');
}
