/**
 * The one place that knows how the service is hosted. In the desktop app it is an Electron utilityProcess and talks
 * through `process.parentPort`; everywhere else it is a Node child process started with an IPC channel (fork) and
 * talks through `process.send`. Both carry structured values, so the service sends protocol messages as they are.
 */

export interface ServiceHost {
  readonly kind: 'electron-utility' | 'node-child';
  send(message: unknown): void;
  onMessage(handler: (message: unknown) => void): void;
  /** Called once when the parent goes away; a utilityProcess is killed with its parent and never sees this. */
  onDisconnect(handler: () => void): void;
}

/** Electron's `process.parentPort` as seen from Node's typings, which do not know it. */
interface ParentPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
}

export function connectToHost(): ServiceHost {
  const parentPort = (process as NodeJS.Process & { parentPort?: ParentPort }).parentPort;
  if (parentPort !== undefined) {
    return {
      kind: 'electron-utility',
      send: (message) => parentPort.postMessage(message),
      onMessage: (handler) => parentPort.on('message', (event) => handler(event.data)),
      onDisconnect: () => {},
    };
  }
  const send = process.send?.bind(process);
  if (send === undefined) {
    throw new Error(
      'the engine service needs a parent to talk to: start it as an Electron utilityProcess or with child_process.fork (an IPC channel)',
    );
  }
  return {
    kind: 'node-child',
    send: (message) => {
      // After the parent has gone there is nobody to tell, and dropping the message is all that is left to do. The
      // parent can go between the check and the write: the callback takes that EPIPE, which would otherwise crash us.
      if (process.connected) send(message, undefined, {}, () => {});
    },
    onMessage: (handler) => process.on('message', handler),
    onDisconnect: (handler) => process.once('disconnect', handler),
  };
}
