// The few bytes of gRPC the health check needs, encoded by hand (no gRPC or protobuf library):
//   grpc.health.v1.HealthCheckRequest  { string service = 1; }
//   grpc.health.v1.HealthCheckResponse { ServingStatus status = 1; }
//     UNKNOWN = 0, SERVING = 1, NOT_SERVING = 2, SERVICE_UNKNOWN = 3
// https://github.com/grpc/grpc/blob/master/doc/health-checking.md
// A gRPC message on the wire is a 5-byte prefix (compressed flag, 4-byte big-endian length)
// followed by the protobuf bytes: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
// Protobuf encoding (varints, tags = field << 3 | wire type): https://protobuf.dev/programming-guides/encoding/

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
export type ServingStatusName = (typeof SERVING_STATUS)[number];

/** gRPC status codes we name in messages (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GRPC_CODES: Record<number, string> = {
  0: 'OK',
  1: 'Canceled',
  2: 'Unknown',
  3: 'InvalidArgument',
  4: 'DeadlineExceeded',
  5: 'NotFound',
  7: 'PermissionDenied',
  8: 'ResourceExhausted',
  12: 'Unimplemented',
  13: 'Internal',
  14: 'Unavailable',
  16: 'Unauthenticated',
};

export function encodeVarint(n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`varint: ${n} is not a non-negative integer`);
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** Read a varint at offset; returns the value and the offset after it. */
export function decodeVarint(buf: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let mul = 1;
  for (let i = offset; i < buf.length && i < offset + 10; i++) {
    const b = buf[i]!;
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return { value, next: i + 1 };
    mul *= 128;
  }
  throw new Error('protobuf: truncated varint');
}

/** HealthCheckRequest: field 1 (service) as a length-delimited string; empty means "the server". */
export function encodeHealthCheckRequest(service: string): Buffer {
  if (!service) return Buffer.alloc(0); // proto3 leaves default values off the wire
  const bytes = Buffer.from(service, 'utf8');
  return Buffer.from([0x0a, ...encodeVarint(bytes.length), ...bytes]);
}

export function decodeHealthCheckRequest(buf: Uint8Array): { service: string } {
  let service = '';
  walkFields(buf, (field, wire, value) => {
    if (field === 1 && wire === 2) service = Buffer.from(value as Uint8Array).toString('utf8');
  });
  return { service };
}

export function encodeHealthCheckResponse(status: number): Buffer {
  return status === 0 ? Buffer.alloc(0) : Buffer.from([0x08, ...encodeVarint(status)]);
}

/** The status number; an absent field is UNKNOWN (0), as proto3 says. Unknown fields are skipped. */
export function decodeHealthCheckResponse(buf: Uint8Array): { status: number } {
  let status = 0;
  walkFields(buf, (field, wire, value) => {
    if (field === 1 && wire === 0) status = value as number;
  });
  return { status };
}

export function statusName(status: number): string {
  return SERVING_STATUS[status] ?? `status ${status}`;
}

function walkFields(buf: Uint8Array, visit: (field: number, wire: number, value: number | Uint8Array) => void): void {
  let i = 0;
  while (i < buf.length) {
    const tag = decodeVarint(buf, i);
    i = tag.next;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value & 7;
    if (wire === 0) {
      const v = decodeVarint(buf, i);
      i = v.next;
      visit(field, wire, v.value);
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (i + n > buf.length) throw new Error('protobuf: truncated fixed-width field');
      i += n;
    } else if (wire === 2) {
      const len = decodeVarint(buf, i);
      i = len.next;
      if (i + len.value > buf.length) throw new Error('protobuf: truncated length-delimited field');
      visit(field, wire, buf.subarray(i, i + len.value));
      i += len.value;
    } else {
      throw new Error(`protobuf: unsupported wire type ${wire}`);
    }
  }
}

/** A gRPC length-prefixed message, uncompressed. */
export function frameMessage(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** The first complete message in a body, or undefined while more bytes are needed. */
export function unframeMessage(body: Buffer): { compressed: boolean; message: Buffer } | undefined {
  if (body.length < 5) return undefined;
  const len = body.readUInt32BE(1);
  if (body.length < 5 + len) return undefined;
  return { compressed: body[0] === 1, message: body.subarray(5, 5 + len) };
}

/** grpc-timeout header: at most 8 digits and a unit (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md). */
export function grpcTimeout(ms: number): string {
  const m = Math.max(1, Math.ceil(ms));
  return m < 1e8 ? `${m}m` : `${Math.ceil(m / 1000)}S`;
}
