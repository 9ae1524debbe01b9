/*
 * The Docker Engine, as shctl speaks to it: the `EngineClient` interface and its dockerode-backed
 * implementation (the only code that imports dockerode).
 */
export { connectEngine } from "./client.js";
export { demuxLines, healthOfStatus } from "./streams.js";
export type * from "./types.js";
