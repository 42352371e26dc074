// Preloaded into the agent by bench/agent-rss-node-ab.sh (node --import): on SIGUSR2 the process
// writes where its memory is to stderr, one line: RSS, V8's heap (used/committed per space), code,
// external (Buffers, ArrayBuffers) and what is left (malloc'd by Node, libuv, V8's compiler and
// native addons, plus thread stacks). Not part of netpol: for measuring only.
import { getHeapCodeStatistics, getHeapSpaceStatistics } from 'node:v8';

const mib = (b) => Math.round((b / 1048576) * 10) / 10;
process.on('SIGUSR2', () => {
  const u = process.memoryUsage();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name.replace(/_space$/, ''), `${mib(s.space_used_size)}/${mib(s.physical_space_size)}`]));
  const code = getHeapCodeStatistics();
  process.stderr.write(
    `memory: rss ${mib(u.rss)} heapCommitted ${mib(u.heapTotal)} heapUsed ${mib(u.heapUsed)} external ${mib(u.external)} (arrayBuffers ${mib(u.arrayBuffers)}) ` +
      `outsideHeap ${mib(u.rss - u.heapTotal - u.external)} bytecode ${mib(code.bytecode_and_metadata_size)} code ${mib(code.code_and_metadata_size)} spaces(used/committed) ${JSON.stringify(spaces)}\n`,
  );
});
