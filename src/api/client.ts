/**
 * The typed client matching grpc-adapter.ts: one grpc-js channel, and for any
 * generated service an object with one async function per RPC (unary → a
 * Promise, server stream → an AsyncIterable). Used by the CLI, the tests and
 * the benchmark.
 */
import { Client, Metadata, credentials, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { methodPath } from './grpc-adapter.js';

export interface CallOptions {
  /** Deadline for this call; unary calls default to the channel's timeout. */
  timeoutMs?: number;
  /** Abort to cancel the call. */
  signal?: AbortSignal;
}

type UnaryClient<I extends DescMessage, O extends DescMessage> = (
  req?: MessageInitShape<I>,
  opts?: CallOptions,
) => Promise<MessageShape<O>>;

type ServerStreamClient<I extends DescMessage, O extends DescMessage> = (
  req?: MessageInitShape<I>,
  opts?: CallOptions,
) => AsyncIterable<MessageShape<O>>;

type MethodClient<M> = M extends { methodKind: 'unary'; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? UnaryClient<I, O>
  : M extends { methodKind: 'server_streaming'; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ServerStreamClient<I, O>
    : never;

export type ServiceClient<S extends GenServiceMethods> = { [K in keyof S]: MethodClient<S[K]> };

/** A failed call: the gRPC status code and the server's (or grpc-js's) text. */
export class ApiError extends Error {
  readonly code: status;
  readonly details: string;
  constructor(code: status, details: string) {
    super(details);
    this.name = 'ApiError';
    this.code = code;
    this.details = details;
  }
  get codeName(): string {
    return status[this.code] ?? String(this.code);
  }
  /** True when the failure is reaching the server at all, not an answer from it. */
  get isConnectionFailure(): boolean {
    return this.code === status.UNAVAILABLE && /No connection established|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|Connection dropped/.test(this.details);
  }
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const se = err as Partial<ServiceError>;
  if (typeof se.code === 'number') return new ApiError(se.code, se.details ?? se.message ?? '');
  return new ApiError(status.UNKNOWN, (err as Error)?.message ?? String(err));
}

export interface ChannelOptions {
  /** host:port of the gRPC endpoint. */
  address: string;
  /** Sent as `authorization: Bearer <token>` with every call. */
  token?: string;
  /** PEM certificate to trust: set it to talk TLS to the endpoint. */
  tlsCert?: Buffer;
  /** Default deadline for unary calls (ms); 10 s when unset. */
  timeoutMs?: number;
}

export class ApiChannel {
  private readonly client: Client;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(readonly options: ChannelOptions) {
    const creds = options.tlsCert ? credentials.createSsl(options.tlsCert) : credentials.createInsecure();
    this.client = new Client(options.address, creds, {
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
      // One quick attempt: a CLI should say "cannot reach" at once, not retry for 20 s.
      'grpc.initial_reconnect_backoff_ms': 200,
    });
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The underlying grpc-js client, for calls outside the generated services (reflection). */
  get grpcClient(): Client {
    return this.client;
  }

  /** Fresh metadata carrying the token. */
  metadata(): Metadata {
    const md = new Metadata();
    if (this.token !== undefined) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  service<S extends GenServiceMethods>(service: GenService<S>): ServiceClient<S> {
    const out: Record<string, unknown> = {};
    for (const method of service.methods) {
      const path = methodPath(method);
      const serialize = (value: MessageShape<DescMessage>): Buffer => Buffer.from(toBinary(method.input, value));
      const deserialize = (bytes: Buffer): MessageShape<DescMessage> => fromBinary(method.output, bytes);
      if (method.methodKind === 'unary') {
        out[method.localName] = (req: MessageInitShape<DescMessage> = {}, opts: CallOptions = {}) =>
          new Promise((resolve, reject) => {
            const deadline = Date.now() + (opts.timeoutMs ?? this.timeoutMs);
            const call = this.client.makeUnaryRequest(
              path,
              serialize,
              deserialize,
              create(method.input, req),
              this.metadata(),
              { deadline },
              (err, res) => (err ? reject(toApiError(err)) : resolve(res)),
            );
            opts.signal?.addEventListener('abort', () => call.cancel(), { once: true });
          });
      } else if (method.methodKind === 'server_streaming') {
        out[method.localName] = (req: MessageInitShape<DescMessage> = {}, opts: CallOptions = {}) =>
          this.stream(
            this.client.makeServerStreamRequest(path, serialize, deserialize, create(method.input, req), this.metadata(), {
              deadline: opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs,
            }),
            opts.signal,
          );
      }
    }
    return out as ServiceClient<S>;
  }

  private async *stream<T>(call: ClientReadableStream<T>, signal: AbortSignal | undefined): AsyncIterable<T> {
    // After cancel() grpc-js emits a CANCELLED error; keep it from being unhandled.
    const cancel = (): void => {
      call.on('error', () => {});
      call.cancel();
    };
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const msg of call) yield msg as T;
    } catch (err) {
      if (signal?.aborted) return;
      throw toApiError(err);
    } finally {
      signal?.removeEventListener('abort', cancel);
      cancel();
    }
  }

  close(): void {
    this.client.close();
  }
}
