/**
 * gRPC server reflection (v1 and v1alpha) from @grpc/reflection, fed the
 * file descriptors protobuf-es embeds in the generated code, so grpcurl and
 * friends can list and call the API without the .proto files.
 */
import { fromBinary, toBinary, type DescFile } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { FileDescriptorProtoSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { ReflectionService } from '@grpc/reflection';
import type { Client, Metadata, Server } from '@grpc/grpc-js';

type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

/** Every file (and its imports) a reflecting client may ask for. */
function collectFiles(files: readonly DescFile[]): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.name)) return;
    seen.set(file.name, file);
    file.dependencies.forEach(visit);
  };
  files.forEach(visit);
  return [...seen.values()];
}

/**
 * @grpc/reflection reads only `fileDescriptorProtos` from each entry of the
 * package definition (it decodes them itself), so one entry carrying every
 * serialized FileDescriptorProto is all it needs.
 */
export function addReflection(server: Pick<Server, 'addService'>, files: readonly DescFile[], services: string[]): void {
  const fileDescriptorProtos = collectFiles(files).map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  const pkg = {
    'pheromones.admin.v1': { format: 'Protocol Buffer 3 DescriptorProto', type: {}, fileDescriptorProtos },
  } as unknown as PackageDefinition;
  new ReflectionService(pkg, { services }).addToServer(server);
}

/**
 * A minimal grpc.reflection.v1 client, enough for tests and diagnostics to
 * check what a server exposes: list the services, or fetch the file that
 * defines a symbol. Messages are encoded by hand to avoid vendoring the proto.
 */
export async function reflect(
  channel: Pick<Client, 'makeBidiStreamRequest'>,
  metadata: Metadata,
  request: { listServices: true } | { fileContainingSymbol: string },
): Promise<{ services: string[]; files: FileDescriptorProto[] }> {
  const w = new BinaryWriter();
  if ('listServices' in request) w.tag(7, WireType.LengthDelimited).string('');
  else w.tag(4, WireType.LengthDelimited).string(request.fileContainingSymbol);
  const call = channel.makeBidiStreamRequest(
    '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
    (b: Uint8Array) => Buffer.from(b),
    (b: Buffer) => b,
    metadata,
    { deadline: Date.now() + 10_000 },
  );
  const response = new Promise<Buffer>((resolve, reject) => {
    call.once('data', (b: Buffer) => resolve(b));
    call.once('error', reject);
  });
  call.write(w.finish());
  call.end();
  const bytes = await response;
  call.cancel();
  const services: string[] = [];
  const files: FileDescriptorProto[] = [];
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 6 || field === 4) {
      const sub = new BinaryReader(r.bytes());
      while (sub.pos < sub.len) {
        const [f, wt] = sub.tag();
        if (f !== 1) {
          sub.skip(wt);
          continue;
        }
        if (field === 4) {
          files.push(fromBinary(FileDescriptorProtoSchema, sub.bytes()));
        } else {
          const svc = new BinaryReader(sub.bytes());
          while (svc.pos < svc.len) {
            const [sf, swt] = svc.tag();
            if (sf === 1) services.push(svc.string());
            else svc.skip(swt);
          }
        }
      }
    } else if (field === 7) {
      throw new Error(`reflection error response: ${Buffer.from(r.bytes()).toString('utf8')}`);
    } else {
      r.skip(wire);
    }
  }
  return { services, files };
}
