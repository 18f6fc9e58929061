/**
 * An EngineError's code, carried across Electron's contextBridge. The bridge copies a rejected Error's message into
 * the page's world and drops every other property, so the Electron preload puts the code in the message and the
 * renderer turns such an error back into an EngineError, the same class browser mode's client throws.
 */
import { ERROR_CODES, EngineError, type ErrorCode, type ProtocolError } from './protocol';

/** The Error the preload rejects with: "[code] message". */
export function toBridgedError(error: ProtocolError): Error {
  return new Error(`[${error.code}] ${error.message}`);
}

const BRIDGED = /^(?:Error: )?\[([a-z_]+)\] ([\s\S]*)$/;

/** An EngineError again if `error` came from toBridgedError; anything else unchanged. */
export function fromBridgedError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof EngineError) return error;
  const match = BRIDGED.exec(error.message);
  if (match === null || !(ERROR_CODES as readonly string[]).includes(match[1]!)) return error;
  return new EngineError(match[1] as ErrorCode, match[2]!);
}
