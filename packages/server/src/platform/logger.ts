import { pino, type Logger } from "pino";

/** The server's structured logger (JSON lines on stdout). `silent` turns it off. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "cairn" }, redact: ["req.headers.authorization"] });
}
