// Fuzz harness for netpol's untrusted inputs (issue 9): flow files, cluster snapshots and policy
// files, mutated from fixtures/ and fixtures/repro/ (bench/fuzz-core.mjs), run through the built
// CLI's command tree in-process, plus a sample through the real binary (dist/cli/main.js) whose
// exit code must agree. Asserts: no exit 4 (internal error), no input over 10 s, no process over
// 1 GiB. A worker process runs the inputs; this supervisor kills it when an input hangs (10 s
// without progress), saves that input and goes on after it.
//
//   npm run build && node bench/fuzz.mjs [--count 10000] [--seed 1] [--kinds flows,snapshot,policies]
//                                       [--binary-every 100] [--save fuzz-failures]
//
// Prints one JSON summary: inputs per kind, exit code distribution, max time, max RSS.
import { fork, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { commandFor, fuzzKind, inProcessRunner, KINDS, makeInput, ROOT, seeds } from './fuzz-core.mjs';
import { machine } from './synthetic.mjs';

const HANG_MS = 10_000;
/** A mutator may take longer (YAML rewrites of expanded aliases under load): it is not what is measured. */
const MAKE_MS = 60_000;
const GIB = 2 ** 30;

if (process.env.NETPOL_FUZZ_WORKER) {
  // Worker: runs inputs [first, first + count) of one kind, reporting before each and at the end.
  const { kind, seed, first, count, dir, saveDir } = JSON.parse(process.env.NETPOL_FUZZ_WORKER);
  const run = await inProcessRunner();
  const result = await fuzzKind({ kind, seed, first, count, run, dir, saveDir, onInput: (i, phase, sofar) => process.send({ at: i, phase, ...(phase === 'make' ? { sofar } : {}) }) });
  process.send({ result }, () => process.exit(0));
} else {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '1' },
      kinds: { type: 'string', default: KINDS.join(',') },
      'binary-every': { type: 'string', default: '100' },
      save: { type: 'string', default: join(ROOT, 'fuzz-failures') },
    },
  });
  const count = Number(values.count);
  const seed = Number(values.seed);
  const binaryEvery = Number(values['binary-every']);
  const dir = mkdtempSync(join(tmpdir(), 'netpol-fuzz-'));
  const summary = { seed, countPerKind: count, kinds: {}, machine: await machine() };
  const started = performance.now();
  try {
    for (const kind of values.kinds.split(',')) {
      const total = { inputs: 0, codes: {}, maxMs: 0, maxMsInput: -1, maxRssMiB: 0, failures: [], hangs: [] };
      // Inputs in worker runs; a hung input ends its worker, the next worker starts after it.
      for (let first = 0; first < count; ) {
        const r = await runWorker({ kind, seed, first, count: count - first, dir: join(dir, kind), saveDir: values.save });
        const res = r.result ?? r.sofar;
        if (res) {
          total.inputs += res.inputs;
          for (const [code, n] of Object.entries(res.codes)) total.codes[code] = (total.codes[code] ?? 0) + n;
          if (res.maxMs > total.maxMs) [total.maxMs, total.maxMsInput] = [res.maxMs, res.maxMsInput];
          total.maxRssMiB = Math.max(total.maxRssMiB, Math.round(res.maxRss / 2 ** 20));
          total.failures.push(...res.failures);
        }
        if (r.result) break;
        // The worker died or hung at input r.at: record it, save it, continue after it.
        const text = makeInput(kind, seed, r.at, seeds());
        const saved = join(values.save, `${kind}-seed${seed}-${r.at}-${r.why}`);
        rmSync(saved, { force: true });
        writeFileSync(saved, text);
        (r.why === 'slow-mutator' ? (total.slowMutators ??= []) : total.hangs).push({ i: r.at, why: r.why, saved });
        // The input it stopped at counts (as a hang, or as skipped when the mutator was slow).
        total.inputs += 1;
        first = r.at + 1;
      }
      // A sample through the real binary, as a user runs it: the exit code must be the in-process one.
      total.binary = await binarySample(kind, seed, count, binaryEvery, join(dir, kind));
      total.maxMs = Math.round(total.maxMs);
      summary.kinds[kind] = total;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  summary.seconds = Math.round((performance.now() - started) / 1000);
  const bad = Object.values(summary.kinds).reduce(
    (n, k) => n + k.failures.length + k.hangs.length + k.binary.disagreements.length + k.binary.failures.length,
    0,
  );
  summary.ok = bad === 0;
  console.log(JSON.stringify(summary, null, 2));
  process.exitCode = bad === 0 ? 0 : 1;
}

/** Runs a worker; resolves with its result, or with the input it hung or died on. */
function runWorker(job) {
  return new Promise((resolve) => {
    const child = fork(new URL(import.meta.url).pathname, [], {
      env: { ...process.env, NETPOL_FUZZ_WORKER: JSON.stringify(job) },
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      // The worker's own heap may not hide a blow-up: 1 GiB RSS is asserted, the heap is capped above it.
      execArgv: ['--max-old-space-size=1536'],
    });
    let at = job.first;
    let phase = 'make';
    let last = performance.now();
    let settled = false;
    const finish = (value) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      resolve(value);
    };
    const watchdog = setInterval(() => {
      if (performance.now() - last > (phase === 'run' ? HANG_MS : MAKE_MS)) {
        child.kill('SIGKILL');
        // Only a slow netpol counts as a hang; a slow mutator is reported apart.
        finish({ at, why: phase === 'run' ? 'hang' : 'slow-mutator', sofar });
      }
    }, 500);
    let sofar;
    child.on('message', (m) => {
      // The figures of the inputs done so far: kept when the worker is killed.
      if (m.sofar) sofar = m.sofar;
      if (m.at !== undefined) {
        at = m.at;
        phase = m.phase;
        last = performance.now();
      }
      if (m.result) finish({ result: m.result });
    });
    child.on('exit', (code, signal) => finish({ at, why: `died-${signal ?? code}`, sofar }));
  });
}

/**
 * Every `every`-th input through `node dist/cli/main.js`, with its time and peak RSS; its exit
 * code must equal the in-process run's (the harness measures what the binary does).
 */
async function binarySample(kind, seed, count, every, dir) {
  const run = await inProcessRunner();
  const out = { inputs: 0, codes: {}, maxMs: 0, maxRssMiB: 0, disagreements: [], failures: [] };
  const all = seeds();
  const ext = kind === 'flows' ? 'jsonl' : 'yaml';
  for (let i = 0; i < count; i += every) {
    const file = join(dir, `binary-${i}.${ext}`);
    writeFileSync(file, makeInput(kind, seed, i, all));
    const t = performance.now();
    const r = spawnSync(process.execPath, ['--import', new URL('./peak-rss.mjs', import.meta.url).href, join(ROOT, 'dist/cli/main.js'), ...commandFor(kind, file, i)], {
      encoding: 'utf8',
      timeout: HANG_MS,
      maxBuffer: 1 << 30,
    });
    const ms = performance.now() - t;
    const rss = Number(/peak-rss-bytes=(\d+)/.exec(r.stderr ?? '')?.[1] ?? 0);
    out.inputs++;
    out.codes[r.status] = (out.codes[r.status] ?? 0) + 1;
    out.maxMs = Math.max(out.maxMs, Math.round(ms));
    out.maxRssMiB = Math.max(out.maxRssMiB, Math.round(rss / 2 ** 20));
    if (r.status === 4 || r.status === null || ms > HANG_MS || rss > GIB) out.failures.push({ i, code: r.status, ms: Math.round(ms), stderr: (r.stderr ?? '').slice(0, 400) });
    const mine = await run(commandFor(kind, file, i));
    if (mine.code !== r.status) out.disagreements.push({ i, binary: r.status, inProcess: mine.code });
  }
  return out;
}
