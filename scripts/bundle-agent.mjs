// The node agent's bundle: dist/cli/agent-main.js (compiled by tsc) and everything it imports, in
// one file, dist/bundle/agent.js, which main.ts runs for `netpol agent` (the DaemonSet's process).
// Why: @kubernetes/client-node's modules import its whole generated API (55 MB of JavaScript, whose
// source text V8 keeps in the heap); bundling shakes out what the agent never calls, ≈ 35 MiB of
// RSS. Whitespace is minified because V8 keeps the source text too (comments with non-ASCII
// characters made the whole 6 MB file a two-byte string); names are kept, so stack traces still
// name functions, and dist/bundle/agent.js.map maps them back to the sources.
// The bundle sits two directories below the package root, like every compiled module, so paths
// taken relative to a module (../../package.json, ../../bpf/tcpconnect.bpf.o) resolve the same.
import { build } from 'esbuild';

await build({
  entryPoints: [new URL('../dist/cli/agent-main.js', import.meta.url).pathname],
  outfile: new URL('../dist/bundle/agent.js', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // koffi loads a native addon that cannot be inlined; it stays in node_modules.
  external: ['koffi'],
  minifyWhitespace: true,
  legalComments: 'none',
  sourcemap: 'linked',
  // CommonJS dependencies call require() for Node's modules: an ES module bundle has none of its own.
  banner: { js: "import { createRequire as __netpolCreateRequire } from 'node:module'; const require = __netpolCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
