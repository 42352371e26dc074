/**
 * The sinks every node agent runs, one line each: the traffic-profile writer (src/daemon/
 * profile-sink.ts, branch profile) and the live judge (src/daemon/judge-sink.ts, branch staged)
 * are added here as `import { profileSink } from './profile-sink.js'` + an entry in the list.
 * The live stream for `trace` is built into the agent (src/daemon/connect-stream.ts): it gets the
 * connects as made as well as answered, which a sink does not.
 */
import type { SinkFactory } from './sink.js';

export const DEFAULT_SINKS: readonly SinkFactory[] = [];
