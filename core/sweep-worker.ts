/**
 * A sweep's worker thread: trains one run at a time with runTraining and posts each pass back, weights included,
 * to the thread that owns the database (see core/sweep.ts). Built as its own entry (dist/core/sweep-worker.js).
 */
import { parentPort } from 'node:worker_threads';
import { runTraining } from './train';
import type { SweepWorkerReply, SweepWorkerRequest } from './sweep';

const port = parentPort;
if (port === null) throw new Error('sweep-worker runs as a worker thread, started by core/sweep.ts');
const reply = (message: SweepWorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

let controller: AbortController | null = null;

port.on('message', (request: SweepWorkerRequest) => {
  if (request.type === 'abort') {
    controller?.abort(request.reason);
    return;
  }
  controller = new AbortController();
  void train(request, controller.signal);
});

async function train({ options, reportProgress }: Extract<SweepWorkerRequest, { type: 'train' }>, signal: AbortSignal): Promise<void> {
  try {
    const results = runTraining({
      ...options,
      signal,
      ...(reportProgress ? { onProgress: (progress) => reply({ type: 'progress', progress }) } : {}),
    });
    for await (const result of results) reply({ type: 'pass', result }, [result.parameters.buffer as ArrayBuffer]);
    reply({ type: 'done' });
  } catch (error) {
    reply({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  }
}
