export * from "./core.js";
export { CairnError, isCairnError, type ErrorCode } from "@cairn/contract";
