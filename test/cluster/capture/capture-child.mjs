// Loaded with `node --import` (NODE_OPTIONS, set by capture-policies.ts) into every process a
// captured suite spawns: the CLI suites run the built CLI (dist/) as a child process, where
// vi.mock cannot reach, so synthesize() is wrapped there by module hooks (capture-hooks.mjs).
import { register } from 'node:module';

register('./capture-hooks.mjs', import.meta.url);
