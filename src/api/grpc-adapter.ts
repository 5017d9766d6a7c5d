/**
 * The one bridge between protobuf-es service descriptors and @grpc/grpc-js:
 * a generated `GenService` plus an object of typed functions (one per RPC)
 * becomes a grpc-js service. Nothing else in the API layer touches grpc-js
 * calls, serialisation or status plumbing.
 */
import { once } from 'node:events';
import {
  Metadata,
  status,
  type Server,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { DescMethod, DescService } from '@bufbuild/protobuf';
import { PheromonesError } from '../errors.js';
import { toStatus } from './status.js';

/** What a handler knows about the call it serves. */
export interface CallContext {
  /** Aborted when the client cancels, the deadline passes or the server stops. */
  readonly signal: AbortSignal;
  readonly metadata: Metadata;
  /** Full method path, e.g. "/pheromones.admin.v1.NodeService/GetInfo". */
  readonly method: string;
}

type UnaryImpl<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: CallContext,
) => Promise<MessageInitShape<O>>;

type ServerStreamImpl<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: CallContext,
) => AsyncIterable<MessageInitShape<O>>;

type MethodImpl<M> = M extends { methodKind: 'unary'; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? UnaryImpl<I, O>
  : M extends { methodKind: 'server_streaming'; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ServerStreamImpl<I, O>
    : never;

/** One typed function per RPC of the service, keyed by the RPC's local name. */
export type ServiceImpl<S extends GenServiceMethods> = { [K in keyof S]: MethodImpl<S[K]> };

/** The implementation type for a generated service constant: `ImplOf<typeof NodeService>`. */
export type ImplOf<T> = T extends GenService<infer S> ? ServiceImpl<S> : never;

export interface AdapterHooks {
  /** Called with every failure that is not an expected PheromonesError. */
  onUnexpectedError?: (err: unknown, method: string) => void;
  /** Live calls, so the server can end them all at shutdown. */
  calls?: Set<AbortController>;
  /** Runs before every handler; throw to refuse the call (e.g. node not ready). */
  precondition?: () => void;
}

export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * The grpc-js definition of a service. Requests stay raw bytes here: they are
 * decoded inside the handler so a malformed body is answered INVALID_ARGUMENT
 * (grpc-js would answer INTERNAL).
 */
export function serviceDefinition(service: DescService): ServiceDefinition {
  const def: Record<string, ServiceDefinition[string]> = {};
  for (const method of service.methods) {
    if (method.methodKind !== 'unary' && method.methodKind !== 'server_streaming') {
      throw new Error(`${methodPath(method)}: ${method.methodKind} RPCs are not supported by the adapter`);
    }
    def[method.name] = {
      path: methodPath(method),
      requestStream: false,
      responseStream: method.methodKind === 'server_streaming',
      requestSerialize: (value: Uint8Array) => Buffer.from(value),
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (value: MessageShape<DescMessage>) => Buffer.from(toBinary(method.output, value)),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
      originalName: method.localName,
    };
  }
  return def;
}

function decodeRequest<I extends DescMessage>(schema: I, bytes: Buffer): MessageShape<I> {
  try {
    return fromBinary(schema, bytes);
  } catch (err) {
    throw new PheromonesError('invalid-argument', `request: not a valid ${schema.typeName}: ${(err as Error).message}`);
  }
}

function startContext(
  call: ServerUnaryCall<Buffer, unknown> | ServerWritableStream<Buffer, unknown>,
  method: string,
  hooks: AdapterHooks,
): { ctx: CallContext; controller: AbortController; finish: () => void } {
  const controller = new AbortController();
  const onCancel = (): void => controller.abort();
  call.on('cancelled', onCancel);
  hooks.calls?.add(controller);
  return {
    ctx: { signal: controller.signal, metadata: call.metadata, method },
    controller,
    finish: () => {
      call.off('cancelled', onCancel);
      hooks.calls?.delete(controller);
    },
  };
}

function reportUnexpected(err: unknown, method: string, hooks: AdapterHooks): void {
  if (toStatus(err).unexpected) hooks.onUnexpectedError?.(err, method);
}

function unaryHandler(method: DescMethod, impl: UnaryImpl<DescMessage, DescMessage>, hooks: AdapterHooks) {
  const path = methodPath(method);
  return (call: ServerUnaryCall<Buffer, unknown>, callback: sendUnaryData<MessageShape<DescMessage>>): void => {
    const { ctx, finish } = startContext(call, path, hooks);
    void (async () => {
      try {
        const req = decodeRequest(method.input, call.request);
        hooks.precondition?.();
        const res = await impl(req, ctx);
        callback(null, create(method.output, res));
      } catch (err) {
        reportUnexpected(err, path, hooks);
        const { code, details } = toStatus(err);
        callback({ code, details, metadata: new Metadata() });
      } finally {
        finish();
      }
    })();
  };
}

function serverStreamHandler(method: DescMethod, impl: ServerStreamImpl<DescMessage, DescMessage>, hooks: AdapterHooks) {
  const path = methodPath(method);
  return (call: ServerWritableStream<Buffer, MessageShape<DescMessage>>): void => {
    const { ctx, controller, finish } = startContext(call, path, hooks);
    const stopped = (): boolean => controller.signal.aborted || call.cancelled || call.destroyed;
    void (async () => {
      try {
        const req = decodeRequest(method.input, call.request);
        hooks.precondition?.();
        for await (const res of impl(req, ctx)) {
          if (stopped()) break;
          // Pull the next event only once grpc-js has room: a slow client
          // leaves events in the handler's bounded queue, not in ours.
          if (!call.write(create(method.output, res))) {
            // Rejects with AbortError on cancel/shutdown; the loop then stops on stopped().
            await once(call, 'drain', { signal: controller.signal }).catch(() => undefined);
          }
        }
        if (!call.cancelled && !call.destroyed) {
          if (controller.signal.aborted && !call.cancelled) {
            call.emit('error', { code: status.UNAVAILABLE, details: 'the server is shutting down' });
          } else {
            call.end();
          }
        }
      } catch (err) {
        if (call.cancelled) return;
        reportUnexpected(err, path, hooks);
        const { code, details } = toStatus(err);
        call.emit('error', { code, details });
      } finally {
        finish();
      }
    })();
  };
}

/** Register `impl` for `service` on `server`. */
export function bindService<S extends GenServiceMethods>(
  server: Pick<Server, 'addService'>,
  service: GenService<S>,
  impl: ServiceImpl<S>,
  hooks: AdapterHooks = {},
): void {
  const handlers: UntypedServiceImplementation = {};
  const impls = impl as Record<string, unknown>;
  for (const method of service.methods) {
    const fn = impls[method.localName];
    if (typeof fn !== 'function') throw new Error(`${methodPath(method)}: no implementation`);
    handlers[method.name] =
      method.methodKind === 'unary'
        ? unaryHandler(method, fn.bind(impl) as UnaryImpl<DescMessage, DescMessage>, hooks)
        : serverStreamHandler(method, fn.bind(impl) as ServerStreamImpl<DescMessage, DescMessage>, hooks);
  }
  server.addService(serviceDefinition(service), handlers);
}
