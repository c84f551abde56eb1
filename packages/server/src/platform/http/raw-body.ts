import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Readable } from "node:stream";
import path from "node:path";

/**
 * Registers routes whose request body is a raw byte stream, whatever its content type
 * (an uploaded `.json` artifact must not be parsed). The stream goes to the handler unread,
 * so uploads are never held in memory and the JSON body limit does not apply to them.
 */
export function withRawBody(app: FastifyInstance, register: (scope: FastifyInstance) => void): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, payload, done) => done(null, payload));
    register(scope);
  });
}

const TYPES: Record<string, string> = {
  ".txt": "text/plain; charset=utf-8",
  ".log": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".csv": "text/csv; charset=utf-8",
  ".json": "application/json",
  ".yaml": "text/yaml; charset=utf-8",
  ".yml": "text/yaml; charset=utf-8",
  ".html": "text/plain; charset=utf-8",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".svg": "text/plain; charset=utf-8",
  ".pdf": "application/pdf",
};

/** A safe content type for a downloaded artifact (HTML and SVG are served as text so they cannot run scripts). */
export function contentTypeFor(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}

/** Streams a blob as the response with its length and a safe content type. */
export function sendBlob(reply: FastifyReply, blob: { stream: Readable; size: number }, file: string): FastifyReply {
  reply.header("content-length", blob.size);
  reply.header("content-type", contentTypeFor(file));
  reply.header("x-content-type-options", "nosniff");
  return reply.send(blob.stream);
}

/** The request body of a raw-body route as a stream (empty when the request had none). */
export function rawBody(req: FastifyRequest): Readable {
  return (req.body as Readable | undefined) ?? Readable.from([]);
}
