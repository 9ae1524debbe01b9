/*
 * The Docker Engine, as shctl speaks to it: the `EngineClient` interface and its dockerode-backed
 * implementation (client.ts, with its calls by kind in call/containers/images/swarm.ts; the only
 * code that imports dockerode is in engine/).
 */
export { connectEngine } from "./client.js";
export { demuxLines, healthOfStatus } from "./streams.js";
export type * from "./types.js";
