/**
 * The Content-Security-Policy of the renderer page, in both hosts: everything from the app itself, nothing from the
 * network, no inline or evaluated script, no plugins, no frames, no forms. Browser mode sends it as a header and
 * adds its own WebSocket origin; in Electron the page is a file, which gets no headers, so the built index.html
 * carries it in a <meta> tag, where frame-ancestors is not allowed (Chromium ignores it there with a warning).
 */
export function contentSecurityPolicy(options: { extraConnectSources?: string[]; metaTag?: boolean } = {}): string {
  const directives: [string, ...string[]][] = [
    ['default-src', "'none'"],
    ['script-src', "'self'"],
    ['style-src', "'self'"],
    // Digits and charts are drawn on canvases; data: and blob: cover their exported images.
    ['img-src', "'self'", 'data:', 'blob:'],
    ['font-src', "'self'", 'data:'],
    ['connect-src', "'self'", ...(options.extraConnectSources ?? [])],
    ['worker-src', "'self'"],
    ['manifest-src', "'self'"],
    ['object-src', "'none'"],
    ['base-uri', "'none'"],
    ['form-action', "'none'"],
    ...(options.metaTag ? [] : [['frame-ancestors', "'none'"] as [string, string]]),
  ];
  return directives.map((directive) => directive.join(' ')).join('; ');
}
