/**
 * The one check both hosts apply to a request coming from the renderer (over Electron IPC or a WebSocket) before
 * it reaches the service. The renderer is untrusted: besides the protocol's own validation, it may not make the
 * service read files by path. Paths come only from the CLI and from the Electron main process's own dialogs; a
 * renderer sends the files' bytes.
 */
import { errorResponse, parseRequest, type Method, type ParsedRequest } from './protocol';

/** The requests that can name files by path. */
const FILE_IMPORTS: ReadonlySet<Method> = new Set(['importMnist', 'importUsps']);

export function parseRendererRequest(message: unknown): ParsedRequest {
  const parsed = parseRequest(message);
  if (parsed.ok && FILE_IMPORTS.has(parsed.method) && (parsed.params as { from: string }).from === 'paths') {
    return {
      ok: false,
      response: errorResponse(
        parsed.id,
        'invalid_params',
        `${parsed.method}: the renderer may not name files by path; send their bytes (from: 'bytes') or use the host's file dialog`,
      ),
    };
  }
  return parsed;
}
