#!/usr/bin/env node
/**
 * `kubectl_complete-netpol`: kubectl (≥1.26) completes a plugin's words by running this executable
 * as `kubectl_complete-netpol __complete <words...>` and reading cobra's completion protocol.
 * Installed next to `kubectl-netpol` (package.json bin).
 */
import { complete, formatCompletion } from './commands/completion/complete.js';
import { exitWhenDrained } from './exit.js';

process.env.NODE_ENV ??= 'production';
const words = process.argv.slice(2);
if (words[0] === '__complete' || words[0] === '__completeNoDesc') words.shift();
const { buildProgram } = await import('./program.js');
process.stdout.write(formatCompletion(await complete(buildProgram('kubectl netpol'), words.length > 0 ? words : [''])));
await exitWhenDrained(0);
