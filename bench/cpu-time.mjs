// Preloaded into a benchmarked child (`node --import`): prints the CPU time it used (user and system,
// every thread) on exit. On a shared machine wall time follows the other load; CPU time much less.
process.on('exit', () => {
  const { userCPUTime, systemCPUTime } = process.resourceUsage();
  process.stderr.write(`cpu-microseconds=${userCPUTime + systemCPUTime}\n`);
});
