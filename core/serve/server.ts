/**
 * Browser mode: the built renderer and the engine service behind one HTTP + WebSocket server on 127.0.0.1.
 *
 * Anyone on the machine can reach a loopback port, and any web page the user visits can make the browser try, so
 * every HTTP request and the WebSocket upgrade must carry a random token (from the printed URL, then kept in a
 * SameSite=Strict cookie so the page's own asset requests carry it too), the Host header must name this server (a
 * DNS-rebinding page would name its own host), and a WebSocket's Origin, when the browser sends one, must be this
 * server's. Requests on the socket are checked the way the Electron main process checks IPC, then bridged to the
 * supervised service with ids of the bridge's own, so that two browser tabs cannot answer each other's calls.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, resolve, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { contentSecurityPolicy } from '../content-security-policy';
import { errorResponse, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, type ResponseMessage } from '../protocol';
import { parseRendererRequest } from '../renderer-request';
import type { ServiceSupervisor } from '../service-supervisor';

export const TOKEN_COOKIE = 'lecun1989_token';
export const API_PATH = '/api';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

export interface ServeOptions {
  /** The supervised engine service the WebSocket bridges to. */
  supervisor: ServiceSupervisor;
  /** The built renderer (dist/renderer). */
  rendererDir: string;
  /** 0 picks a free port. */
  port?: number;
  /** Fixed only by tests; otherwise 24 random bytes. */
  token?: string;
}

export interface RunningServer {
  readonly port: number;
  readonly token: string;
  /** The address to open, token included. */
  readonly url: string;
  /** Stops accepting connections and closes open sockets; the supervisor is the caller's to stop. */
  close(): Promise<void>;
}

function tokensEqual(given: string | null | undefined, token: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const separator = part.indexOf('=');
    if (separator > 0 && part.slice(0, separator).trim() === name) return part.slice(separator + 1).trim();
  }
  return undefined;
}

function refuseUpgrade(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export async function startServeServer(options: ServeOptions): Promise<RunningServer> {
  const { supervisor } = options;
  const rendererDir = resolve(options.rendererDir);
  const token = options.token ?? randomBytes(24).toString('base64url');
  let port = 0;
  let securityHeaders: Record<string, string> = {};
  const allowedHosts = () => [`127.0.0.1:${port}`, `localhost:${port}`];

  const plain = (response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}) => {
    response.writeHead(status, { ...securityHeaders, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
    response.end(`${text}\n`);
  };

  /** Whether the request names this server and carries the token (in the query or the cookie). */
  const authorise = (request: IncomingMessage, url: URL): 'ok' | 'bad host' | 'no token' => {
    if (!allowedHosts().includes(request.headers.host ?? '')) return 'bad host';
    const given = url.searchParams.get('token') ?? cookieValue(request.headers.cookie, TOKEN_COOKIE);
    return tokensEqual(given, token) ? 'ok' : 'no token';
  };

  const serveFile = async (request: IncomingMessage, response: ServerResponse, pathname: string, setCookie: boolean) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return plain(response, 400, 'Bad request: malformed URL encoding.');
    }
    const file = resolve(rendererDir, `.${decoded === '/' ? '/index.html' : decoded}`);
    if (decoded.includes('\0') || (file !== rendererDir && !file.startsWith(rendererDir + sep))) {
      return plain(response, 403, 'Forbidden: outside the renderer directory.');
    }
    let info: Stats;
    try {
      info = await stat(file);
    } catch {
      if (decoded === '/' || decoded === '/index.html') {
        return plain(response, 503, `The renderer has not been built (no ${file}): run \`npm run build:renderer\`, then reload.`);
      }
      return plain(response, 404, 'Not found.');
    }
    if (!info.isFile()) return plain(response, 404, 'Not found.');
    const headers: Record<string, string> = {
      ...securityHeaders,
      'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': String(info.size),
      'Cache-Control': 'no-store',
    };
    if (setCookie) headers['Set-Cookie'] = `${TOKEN_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`;
    response.writeHead(200, headers);
    if (request.method === 'HEAD') return void response.end();
    createReadStream(file)
      .on('error', () => response.destroy())
      .pipe(response);
  };

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const access = authorise(request, url);
    if (access === 'bad host') return plain(response, 421, 'Misdirected request: this server answers only to 127.0.0.1 and localhost.');
    if (access === 'no token') {
      return plain(response, 403, 'Forbidden: open the address `npm run serve` printed; it carries the access token.');
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return plain(response, 405, 'Method not allowed.', { Allow: 'GET, HEAD' });
    if (url.pathname === API_PATH) return plain(response, 426, 'The API is a WebSocket.', { Upgrade: 'websocket' });
    serveFile(request, response, url.pathname, url.searchParams.has('token')).catch(() => {
      if (!response.headersSent) plain(response, 500, 'Internal error.');
      else response.destroy();
    });
  });

  // ---- the WebSocket bridge ---------------------------------------------------------------------------------------

  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
  /** The bridge's request id -> the socket that asked and the id it used. */
  const routes = new Map<number, { socket: WebSocket; id: number }>();
  let nextId = 1;

  const sendTo = (socket: WebSocket, message: unknown) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const access = authorise(request, url);
    const origin = request.headers.origin;
    if (access === 'bad host' || url.pathname !== API_PATH) return refuseUpgrade(socket, '404 Not Found');
    if (access === 'no token' || (origin !== undefined && !allowedHosts().some((host) => origin === `http://${host}`))) {
      return refuseUpgrade(socket, '403 Forbidden');
    }
    sockets.handleUpgrade(request, socket, head, (ws) => sockets.emit('connection', ws, request));
  });

  sockets.on('connection', (socket: WebSocket) => {
    socket.on('message', (data, isBinary) => {
      if (isBinary) return sendTo(socket, errorResponse(null, 'bad_message', 'messages are JSON text frames'));
      let message: unknown;
      try {
        message = JSON.parse(data.toString());
      } catch (error) {
        return sendTo(socket, errorResponse(null, 'bad_message', `not JSON: ${(error as Error).message}`));
      }
      const parsed = parseRendererRequest(message);
      if (!parsed.ok) return sendTo(socket, parsed.response);
      const id = nextId++;
      routes.set(id, { socket, id: parsed.id });
      supervisor.send({ v: PROTOCOL_VERSION, type: 'request', id, method: parsed.method, params: parsed.params });
    });
    // A tab closed with calls in flight leaves nobody to answer; their late answers are dropped like unknown ids.
    socket.on('close', () => {
      for (const [id, route] of routes) if (route.socket === socket) routes.delete(id);
    });
  });

  const detachFromService = supervisor.onMessage((message) => {
    const { type } = message as { type?: unknown };
    if (type === 'response') {
      const response = message as ResponseMessage;
      const route = response.id === null ? undefined : routes.get(response.id);
      if (route === undefined) return;
      routes.delete(response.id!);
      return sendTo(route.socket, { ...response, id: route.id });
    }
    if (type !== 'event') return;
    const event = message as { event?: unknown; data?: { requestId?: unknown } };
    // Import progress belongs to one request: tell only the socket that asked, in its own ids.
    if (event.event === 'importProgress') {
      const route = typeof event.data?.requestId === 'number' ? routes.get(event.data.requestId) : undefined;
      if (route !== undefined) sendTo(route.socket, { ...event, data: { ...event.data, requestId: route.id } });
      return;
    }
    for (const socket of sockets.clients) sendTo(socket, message);
  });

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  port = (server.address() as AddressInfo).port;
  const csp = contentSecurityPolicy({ extraConnectSources: [`ws://127.0.0.1:${port}`, `ws://localhost:${port}`] });
  securityHeaders = {
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    // The token is in the page's address; no request may carry it elsewhere.
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };

  return {
    port,
    token,
    url: `http://127.0.0.1:${port}/?token=${token}`,
    close: () =>
      new Promise<void>((resolveClose) => {
        detachFromService();
        for (const socket of sockets.clients) socket.terminate();
        sockets.close();
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}
