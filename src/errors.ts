/**
 * Error classes with a stable `code`. A remote ERROR frame maps back to the same class on the client
 * (see {@link errorFromCode}), so `err instanceof FrameTooLargeError` works on both sides of the wire.
 */

export type ErrorCode =
  | 'FERRY_FRAME_TOO_LARGE'
  | 'FERRY_MALFORMED_FRAME'
  | 'FERRY_UNKNOWN_COMMAND'
  | 'FERRY_INVALID_COMMAND'
  | 'FERRY_PROTOCOL'
  | 'FERRY_NOT_CONNECTED'
  | 'FERRY_ALREADY_CONNECTED'
  | 'FERRY_VERSION'
  | 'FERRY_TOO_MANY_CONNECTIONS'
  | 'FERRY_NOT_SUPPORTED'
  | 'FERRY_INVALID_DESTINATION'
  | 'FERRY_UNKNOWN_SUBSCRIPTION'
  | 'FERRY_DUPLICATE_SUBSCRIPTION'
  | 'FERRY_STORE'
  | 'FERRY_STORE_LOCKED'
  | 'FERRY_LOCK_LOST'
  /** Replicated store: fewer than a quorum of nodes hold the log, so a persistent write cannot be made safe. */
  | 'FERRY_NO_QUORUM'
  /** Replicated store: this node is no longer the elected master (its ZooKeeper session ended, or another was elected). */
  | 'FERRY_NOT_MASTER'
  | 'FERRY_STORE_FULL'
  | 'FERRY_INACTIVITY'
  | 'FERRY_CONNECTION_CLOSED'
  | 'FERRY_TIMEOUT'
  | 'FERRY_INVALID_URI'
  | 'FERRY_CONFIG'
  | 'FERRY_BROKER_STOPPING'
  | 'FERRY_INVALID_SELECTOR'
  | 'FERRY_DURABLE_IN_USE'
  | 'FERRY_UNKNOWN_TRANSACTION'
  | 'FERRY_RESOURCE_EXHAUSTED'
  | 'FERRY_TRANSACTION_ROLLED_BACK'
  | 'FERRY_TRANSACTION_IN_DOUBT'
  | 'FERRY_AUTHENTICATION_FAILED'
  | 'FERRY_NOT_AUTHORIZED'
  | 'FERRY_UNAUTHORIZED'
  | 'FERRY_FORBIDDEN'
  | 'FERRY_NOT_FOUND'
  | 'FERRY_BAD_REQUEST'
  | 'FERRY_INTERNAL';

export class FerryError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A frame's declared length exceeds the peer's `wireFormat.maxFrameSize`. */
export class FrameTooLargeError extends FerryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FERRY_FRAME_TOO_LARGE', message, options);
  }
}

/** Bytes on the wire that are not a frame, or a frame whose body is not a command. */
export class ProtocolError extends FerryError {}

/** The connection is closed, or closed while a request was waiting for its answer. */
export class ConnectionClosedError extends FerryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FERRY_CONNECTION_CLOSED', message, options);
  }
}

/** A request did not complete within its deadline. */
export class TimeoutError extends FerryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FERRY_TIMEOUT', message, options);
  }
}

/** A URI that cannot be parsed, or carries an unknown or invalid option. */
export class InvalidUriError extends FerryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FERRY_INVALID_URI', message, options);
  }
}

/** A configuration file or flag with an invalid value. The message names file, element, attribute and value. */
export class ConfigError extends FerryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FERRY_CONFIG', message, options);
  }
}

/**
 * The broker's authenticate hook refused the connection's credentials (`FERRY_AUTHENTICATION_FAILED`, the
 * connection is closed), or its authorize hook refused one operation (`FERRY_NOT_AUTHORIZED`, the connection lives
 * on). A failover client does not retry a refused CONNECT: the same credentials would be refused again.
 */
export class SecurityError extends FerryError {}

/** Any error reported by the broker in an ERROR frame, with the broker's code. */
export class BrokerError extends FerryError {}

const PROTOCOL_CODES = new Set<ErrorCode>([
  'FERRY_MALFORMED_FRAME',
  'FERRY_UNKNOWN_COMMAND',
  'FERRY_INVALID_COMMAND',
  'FERRY_PROTOCOL',
  'FERRY_NOT_CONNECTED',
  'FERRY_ALREADY_CONNECTED',
  'FERRY_VERSION',
]);

/** Map a code received in an ERROR frame back to the error class that raised it. */
export function errorFromCode(code: string, message: string): FerryError {
  const c = code as ErrorCode;
  switch (c) {
    case 'FERRY_FRAME_TOO_LARGE':
      return new FrameTooLargeError(message);
    case 'FERRY_CONNECTION_CLOSED':
      return new ConnectionClosedError(message);
    case 'FERRY_TIMEOUT':
      return new TimeoutError(message);
    case 'FERRY_AUTHENTICATION_FAILED':
    case 'FERRY_NOT_AUTHORIZED':
      return new SecurityError(c, message);
    default:
      if (PROTOCOL_CODES.has(c)) return new ProtocolError(c, message);
      return new BrokerError(c.startsWith('FERRY_') ? c : 'FERRY_INTERNAL', message);
  }
}
