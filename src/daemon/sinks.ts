/**
 * The sinks every node agent runs, one line each: the traffic-profile writer (TrafficProfiles,
 * src/daemon/profile-sink.ts) and the live judge (staged and enforced policies, audit records,
 * Events, evidence; src/daemon/judge-sink.ts). The live stream for `trace` is built into the agent
 * (src/daemon/connect-stream.ts): it gets the connects as made as well as answered, which a sink does not.
 */
import { judgeSinkFactory } from './judge-sink.js';
import { createProfileSinkFactory } from './profile-sink.js';
import type { SinkFactory } from './sink.js';

export interface SinkSettings {
  /** `netpol agent --retention`: how long a profile keeps an edge not seen again. */
  retentionMs?: number;
}

export function defaultSinks(settings: SinkSettings = {}): readonly SinkFactory[] {
  return [createProfileSinkFactory(settings.retentionMs !== undefined ? { retentionMs: settings.retentionMs } : {}), judgeSinkFactory()];
}
