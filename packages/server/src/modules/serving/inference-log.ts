import { CairnError, INFERENCE_LOG_LIMITS, type InferenceRecord } from "@cairn/contract";
import type { z } from "zod";
import type * as C from "@cairn/contract";
import type { InferenceLogStore } from "./store/inference-log-store.js";

/**
 * The inference log on the server: predictions of served models appended in batches (by the model
 * servers' buffered loggers) and queried by time, version, deployment and arm. Monitoring joins
 * delayed labels to it by request id.
 */
export class InferenceLogService {
  readonly #store: InferenceLogStore;
  readonly #modelExists: (name: string) => Promise<boolean>;

  constructor(store: InferenceLogStore, modelExists: (name: string) => Promise<boolean>) {
    this.#store = store;
    this.#modelExists = modelExists;
  }

  /**
   * Appends records of one registered model (atomic; a request id already logged is kept as it was).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (model), INVALID_PARAMETER_VALUE (a payload over the size limit)
   */
  async append(model: string, records: InferenceRecord[]): Promise<number> {
    if (!(await this.#modelExists(model))) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Registered model '${model}' not found`);
    records.forEach((r, i) => {
      const size = JSON.stringify(r.inputs ?? null).length + JSON.stringify(r.outputs ?? null).length;
      if (size > INFERENCE_LOG_LIMITS.payloadChars) throw new CairnError("INVALID_PARAMETER_VALUE", `records[${i}] (${r.requestId}): inputs and outputs hold ${size} characters; at most ${INFERENCE_LOG_LIMITS.payloadChars}`);
    });
    return this.#store.append(model, records);
  }

  /** A page of a model's log, oldest first. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE (a bad `after`) */
  async query(model: string, q: z.output<typeof C.InferenceLogQuery>): Promise<z.output<typeof C.InferenceLogPage>> {
    if (!(await this.#modelExists(model))) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Registered model '${model}' not found`);
    let afterSeq: number | undefined;
    if (q.after !== undefined) {
      afterSeq = Number(q.after);
      if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new CairnError("INVALID_PARAMETER_VALUE", `after: '${q.after}' is not a page token from this log`);
    }
    const limit = q.limit ?? INFERENCE_LOG_LIMITS.pageDefault;
    const rows = await this.#store.query({
      model,
      limit,
      ...(q.version !== undefined ? { version: q.version } : {}),
      ...(q.deployment !== undefined ? { deployment: q.deployment } : {}),
      ...(q.arm !== undefined ? { arm: q.arm } : {}),
      ...(q.from !== undefined ? { from: q.from } : {}),
      ...(q.to !== undefined ? { to: q.to } : {}),
      ...(afterSeq !== undefined ? { afterSeq } : {}),
    });
    const records = rows.map(({ seq: _seq, ...r }) => r);
    return rows.length === limit ? { records, next: String(rows[rows.length - 1]!.seq) } : { records };
  }
}
