/**
 * The evaluation worker: holds both splits and its own network, and answers each parameter array it is sent with
 * the metrics of those weights on both splits, so that pass k is evaluated on the second core while pass k+1
 * trains. Built as its own entry (dist/core/eval-worker.js); train.ts starts it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createModel, evaluateModel } from './models';
import type { EvalWorkerData, EvalWorkerReply } from './train';

const port = parentPort;
if (port === null) throw new Error('eval-worker runs as a worker thread, started by train.ts');
const { model: modelName, train, test } = workerData as EvalWorkerData;
const model = createModel(modelName);

port.on('message', (parameters: Float32Array) => {
  let reply: EvalWorkerReply;
  try {
    model.net.parameters.set(parameters);
    reply = { ok: true, evaluation: { train: evaluateModel(model, train), test: evaluateModel(model, test) } };
  } catch (error) {
    reply = { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
});
