// NewsmtError: a failed call, with the google.rpc rich error details decoded from the
// `grpc-status-details-bin` trailer.
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const PROTO_DIR = fileURLToPath(new URL('../proto/google/rpc/', import.meta.url));
const richErrors = protobuf.loadSync([`${PROTO_DIR}status.proto`, `${PROTO_DIR}error_details.proto`]);
const Status = richErrors.lookupType('google.rpc.Status');
const TO_OBJECT = { longs: String, enums: String, defaults: true };

/** Decode a `grpc-status-details-bin` value into `[{ type, ...fields }]`; unknown types keep only `type`. */
export function decodeStatusDetails(bytes) {
  const status = Status.decode(bytes);
  // protobufjs's bundled google.protobuf.Any keeps its proto field names: `type_url`, `value`.
  return status.details.map(({ type_url: typeUrl, value }) => {
    const type = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    const message = richErrors.lookup(type);
    if (!(message instanceof protobuf.Type)) return { type };
    return { type, ...message.toObject(message.decode(value), TO_OBJECT) };
  });
}

export class NewsmtError extends Error {
  /**
   * @param {number} code the gRPC status code
   * @param {string} details the status message
   * @param {object} [options]
   * @param {import('@grpc/grpc-js').Metadata} [options.metadata] the trailers
   * @param {string} [options.requestId] the x-request-id the call was sent with
   */
  constructor(code, details, { metadata = new grpc.Metadata(), requestId = '' } = {}) {
    const codeName = grpc.status[code] ?? 'UNKNOWN';
    super(`${codeName}: ${details}`);
    this.name = 'NewsmtError';
    this.code = code;
    this.codeName = codeName;
    this.details = details;
    this.metadata = metadata;
    this.requestId = requestId;
    const [bytes] = metadata.get('grpc-status-details-bin');
    try {
      this.statusDetails = bytes ? decodeStatusDetails(bytes) : [];
    } catch {
      this.statusDetails = []; // a malformed trailer must not hide the status itself
    }
    this.violations = this.statusDetails
      .filter((d) => d.type === 'google.rpc.BadRequest')
      .flatMap((d) => d.fieldViolations);
    const retry = this.statusDetails.find((d) => d.type === 'google.rpc.RetryInfo')?.retryDelay;
    this.retryAfterMs = retry ? Number(retry.seconds) * 1000 + retry.nanos / 1e6 : undefined;
  }

  /** Wrap the error a grpc-js callback receives. */
  static from(error, requestId = '') {
    if (error instanceof NewsmtError) return error;
    const { code = grpc.status.UNKNOWN, details = error.message, metadata } = error;
    return new NewsmtError(code, details, { metadata, requestId });
  }
}
