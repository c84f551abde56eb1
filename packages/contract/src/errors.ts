import { z } from "zod";

/**
 * The one table of error codes and the HTTP status each answers with.
 * Codes are MLflow's (so MLflow clients understand them) plus a few of Cairn's own.
 * Every error the server sends carries exactly one of these codes.
 */
export const ERROR_HTTP_STATUS = {
  INVALID_PARAMETER_VALUE: 400,
  RESOURCE_ALREADY_EXISTS: 400,
  BAD_REQUEST: 400,
  MALFORMED_REQUEST: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  RESOURCE_DOES_NOT_EXIST: 404,
  ENDPOINT_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  RESOURCE_CONFLICT: 409,
  ALREADY_EXISTS: 409,
  ABORTED: 409,
  INVALID_STATE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  REQUEST_LIMIT_EXCEEDED: 429,
  RESOURCE_EXHAUSTED: 429,
  /** A dataset version failed its expectations and was refused (`--strict`). */
  VALIDATION_FAILED: 422,
  /** Bytes do not match the content hash they were sent or stored under. */
  CHECKSUM_MISMATCH: 422,
  INTERNAL_ERROR: 500,
  NOT_IMPLEMENTED: 501,
  TEMPORARILY_UNAVAILABLE: 503,
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_HTTP_STATUS;

/** All error codes, for runtime checks. */
export const ERROR_CODES = Object.keys(ERROR_HTTP_STATUS) as ErrorCode[];

/** Whether a string is one of the known error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.prototype.hasOwnProperty.call(ERROR_HTTP_STATUS, code);
}

/** The HTTP status for an error code (500 for anything unknown). */
export function httpStatusFor(code: string): number {
  return isErrorCode(code) ? ERROR_HTTP_STATUS[code] : 500;
}

/**
 * The wire form of every error, on both the native and the MLflow API.
 * `error_code` and `message` are MLflow's fields; `request_id` ties an internal
 * error to the server log; `details` carries per-field problems for validation errors.
 */
export const ErrorBody = z.object({
  error_code: z.string(),
  message: z.string(),
  request_id: z.string().optional(),
  details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/**
 * The error class used by the server and rebuilt by the SDK from the wire.
 * @example throw new CairnError("RESOURCE_DOES_NOT_EXIST", "Run 'abc' not found")
 */
export class CairnError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorBody["details"];
  readonly requestId: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { details?: ErrorBody["details"]; requestId?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "CairnError";
    this.code = code;
    this.status = ERROR_HTTP_STATUS[code];
    this.details = opts.details;
    this.requestId = opts.requestId;
  }

  /** The JSON body sent over the wire. */
  toBody(): ErrorBody {
    const body: ErrorBody = { error_code: this.code, message: this.message };
    if (this.requestId) body.request_id = this.requestId;
    if (this.details?.length) body.details = this.details;
    return body;
  }

  /** Rebuilds a typed error from a wire body (unknown codes become INTERNAL_ERROR). */
  static fromBody(body: unknown, status?: number): CairnError {
    const parsed = ErrorBody.safeParse(body);
    if (!parsed.success) {
      return new CairnError(status && status < 500 ? "BAD_REQUEST" : "INTERNAL_ERROR", `Unexpected error response (HTTP ${status ?? "?"})`);
    }
    const { error_code, message, request_id, details } = parsed.data;
    const code: ErrorCode = isErrorCode(error_code) ? error_code : "INTERNAL_ERROR";
    const opts: { details?: ErrorBody["details"]; requestId?: string } = {};
    if (details) opts.details = details;
    if (request_id) opts.requestId = request_id;
    return new CairnError(code, message, opts);
  }
}

/** Type guard for CairnError that also works across package copies. */
export function isCairnError(e: unknown): e is CairnError {
  return e instanceof CairnError || (typeof e === "object" && e !== null && (e as { name?: string }).name === "CairnError" && isErrorCode((e as { code?: unknown }).code));
}

/**
 * Awaits `p`, turning a RESOURCE_DOES_NOT_EXIST error into `undefined` (every other error is rethrown).
 * @example const run = await unlessMissing(client.getRun(id)); // undefined when there is no such run
 */
export async function unlessMissing<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") return undefined;
    throw e;
  }
}
