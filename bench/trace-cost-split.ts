/**
 * Where `trace tcpconnect -o json` to a file spends its CPU per loopback connect: the storm's own
 * CPU (the BPF programs and syscall hooks run in its context), this process's (ring, decode, JSON,
 * write) and the whole machine's (/proc/stat), for set-ups that add one part at a time, alternated
 * round by round:
 *
 *   none      nothing attached
 *   sockops   the sockops program only (connects as made), events consumed and decoded, nothing written
 *   kernel    sockops + the syscall hooks (what `trace` attaches), events consumed and decoded,
 *             the ring drained every 5 ms (the tracer's default)
 *   kernel-poll20  the same drained every 20 ms (what `trace` does): the cost of the wake-ups
 *   agent     what `trace --host -o json` runs before its output: LocalAgent (container, time) on the
 *             record path (no event decoded), each record counted, nothing written
 *   agent-lines  the same with each record's JSON line written into the output batch (TraceJsonLines,
 *             ByteBatch), taken once per drain and dropped: everything but the stream and the file
 *   trace     `trace tcpconnect --host -o json` writing every connect to a file
 *   trace-baseline  the same, another checkout's (--baseline DIR, laid out as for bench/connect-storm.ts)
 *
 * NETPOL_BENCH_PROFILE=DIR: a CPU profile of each trace phase (bench/cpuprofile-top.mjs lists it).
 * Run as root: npx vite-node bench/trace-cost-split.ts [--rounds 6] [--seconds 2] [--threads 2] [--modes none,kernel,trace,trace-baseline] [--baseline DIR]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from 'node:inspector/promises';
import { TcpConnectTracer, type TracerOptions } from '../src/agent/tracer.js';
import { traceToFile } from './trace-to-file.js';
import { LocalAgent } from '../src/agent/agent.js';
import { ByteBatch } from '../src/cli/output/byte-batch.js';
import { TCPCONNECT_COLUMNS } from '../src/cli/output/trace-columns.js';
import { traceJsonLines } from '../src/cli/output/trace-json.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
};
const ROUNDS = Number(arg('rounds', '6'));
const SECONDS = Number(arg('seconds', '2'));
const THREADS = Number(arg('threads', '2'));
const MODES = arg('modes', 'none,sockops,kernel,trace').split(',');
const work = mkdtempSync(join(tmpdir(), 'netpol-bench-'));
const storm = join(work, 'connect-storm');
execFileSync('clang', ['-O2', '-pthread', '-o', storm, join(dirname(fileURLToPath(import.meta.url)), 'connect-storm.c')]);

function machineBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample { connects: number; storm: number; self: number; selfSys: number; machine: number }
function run(caughtUp: (n: number) => Promise<void>): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const m0 = machineBusy();
    const s0 = process.cpuUsage();
    const c = spawn(storm, [String(SECONDS), String(THREADS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`storm exited ${code}`));
      const r = JSON.parse(out) as { connects: number; cpu: number };
      void caughtUp(r.connects).then(() => {
        const s = process.cpuUsage(s0);
        resolve({ connects: r.connects, storm: r.cpu, self: (s.user + s.system) / 1e6, selfSys: s.system / 1e6, machine: machineBusy() - m0 });
      }, reject);
    });
  });
}
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await sleep(10);
}

async function tracerMode(opts: TracerOptions): Promise<Sample> {
  const t = new TcpConnectTracer(opts);
  let n = 0;
  t.start(() => n++);
  try {
    return await run((connects) => until(() => n >= connects));
  } finally {
    t.close();
  }
}

/** `agent` and `agent-lines`: the trace's agent and (with lines) its JSON writer, without a stream. */
async function agentMode(lines: boolean): Promise<Sample> {
  const writer = lines ? traceJsonLines(TCPCONNECT_COLUMNS)! : undefined;
  const out = new ByteBatch();
  let n = 0;
  let flushing = false;
  const flush = () => {
    flushing = false;
    const b = out.take();
    if (b) out.release(b);
  };
  const agent = await LocalAgent.start(
    { host: true, reportConnects: true, pollMs: 20 },
    () => n++,
    (v, b, off, c, ms) => {
      n++;
      if (!writer) return;
      writer.writeRecord(v, b, off, c, ms, out);
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    },
  );
  try {
    return await run((connects) => until(() => n >= connects));
  } finally {
    await agent.stop();
  }
}

/** --baseline DIR: `trace-baseline`, the trace of another checkout (as in bench/connect-storm.ts). */
const BASELINE = arg('baseline', '');

async function traceMode(baseline = false): Promise<Sample> {
  const trace = await traceToFile(join(work, 'trace.jsonl'), baseline ? BASELINE : '');
  const dir = process.env.NETPOL_BENCH_PROFILE;
  const session = dir ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  let sample: Sample | undefined;
  try {
    // Caught up: the line of a connect made after the storm is written (bench/trace-to-file.ts).
    sample = await run(() => trace.caughtUp());
    return sample;
  } finally {
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(join(dir!, `${baseline ? 'trace-baseline' : 'trace'}-${Date.now()}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    }
    await trace.stop();
    // Honest: each storm connect has its line (other processes' connects may add more).
    if (sample && (trace.lines < sample.connects || trace.summary.lost > 0)) {
      process.stderr.write(`warning: ${trace.lines} lines for ${sample.connects} connects, ${trace.summary.lost} lost\n`);
    }
  }
}

const FNS: Record<string, () => Promise<Sample>> = {
  none: () => run(async () => {}),
  sockops: () => tracerMode({ reportConnects: true, programs: [] }),
  state: () => tracerMode({ programs: ['handle_set_state'] }),
  kernel: () => tracerMode({ reportConnects: true, connectErrors: true, programs: ['handle_enter_connect', 'handle_exit_connect'] }),
  'kernel-poll20': () => tracerMode({ reportConnects: true, connectErrors: true, programs: ['handle_enter_connect', 'handle_exit_connect'], pollMs: 20 }),
  agent: () => agentMode(false),
  'agent-lines': () => agentMode(true),
  trace: () => traceMode(),
  'trace-baseline': () => traceMode(true),
};
const per: Record<string, Array<{ storm: number; self: number; machine: number }>> = {};
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const m of MODES) {
      const s = await FNS[m]!();
      const row = { storm: (s.storm / s.connects) * 1e6, self: (s.self / s.connects) * 1e6, machine: (s.machine / s.connects) * 1e6 };
      (per[m] ??= []).push(row);
      process.stderr.write(`round ${round} ${m}: ${s.connects} connects; µs per connect: storm ${row.storm.toFixed(1)}, tracer ${row.self.toFixed(1)} (system ${((s.selfSys / s.connects) * 1e6).toFixed(1)}), machine ${row.machine.toFixed(1)}\n`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
console.log(`load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
console.log('| set-up | storm CPU µs/connect | tracer CPU µs/connect | machine CPU µs/connect |');
console.log('|---|---|---|---|');
for (const m of MODES) {
  const r = per[m]!;
  console.log(`| ${m} | ${median(r.map((x) => x.storm)).toFixed(1)} | ${median(r.map((x) => x.self)).toFixed(1)} | ${median(r.map((x) => x.machine)).toFixed(1)} |`);
}
