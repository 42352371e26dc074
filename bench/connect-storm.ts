/**
 * Connect-storm benchmark: loopback connects/s untraced versus traced, as ratios measured in one
 * run (each traced phase is compared with the mean of the untraced phases around it):
 *
 *   learn      `netpol learn --local --host` pipeline: every connect traced in the kernel, edges
 *              de-duplicated there, one record per new edge written to a JSONL recording (UDP
 *              hooks attached too, as by default: cgroup/connect4 also runs on every TCP connect)
 *   learn-tcp  the same with `--proto tcp` (only with --learn-tcp): what the UDP hooks cost
 *   trace      `netpol trace tcpconnect --host -o json` writing every connect to a file
 *   tcpstates  libbpf-tools' tcpstates (tracepoint sock:inet_sock_set_state), output to a file
 *
 * Run as root:  npx vite-node bench/connect-storm.ts [--seconds 5] [--rounds 2] [--threads 2] [--learn-tcp]
 * The storm is bench/connect-storm.c (built here with clang), so the generator costs no JS time.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { learnLocal } from '../src/cli/commands/learn/local.js';
import { runTrace } from '../src/cli/commands/trace/local.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SECONDS = arg('seconds', 5);
const ROUNDS = arg('rounds', 2);
const THREADS = arg('threads', 2);
const here = dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'netpol-bench-'));
const storm = join(work, 'connect-storm');
execFileSync('clang', ['-O2', '-pthread', '-o', storm, join(here, 'connect-storm.c')]);

interface StormResult {
  connects: number;
  seconds: number;
  rate: number;
  /** CPU seconds (user + system) of the storm process; in-context BPF time is part of it. */
  cpu: number;
}

/** CPU seconds this process used while `f` ran (the in-process agent's cost). */
async function withCpu<T>(f: () => Promise<T>): Promise<[T, number]> {
  const start = process.cpuUsage();
  const r = await f();
  const d = process.cpuUsage(start);
  return [r, (d.user + d.system) / 1e6];
}

/** CPU seconds (user + system) of another process so far. */
function processCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

function runStorm(): Promise<StormResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(storm, [String(SECONDS), String(THREADS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as StormResult) : reject(new Error(`connect-storm exited ${code}`))));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type PhaseResult = { storm: StormResult; tracerCpu: number } & Record<string, unknown>;

async function learnPhase(): Promise<PhaseResult> {
  return learnWith(['TCP', 'UDP']);
}

async function learnTcpPhase(): Promise<PhaseResult> {
  return learnWith(['TCP']);
}

async function learnWith(proto: ('TCP' | 'UDP')[]): Promise<PhaseResult> {
  const abort = new AbortController();
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  let summary = { flows: 0, lost: 0, deduped: 0, untracked: 0, received: 0 };
  const done = learnLocal(
    { host: true, record: join(work, 'learn.jsonl'), out: join(work, 'policies'), dns: false, proto },
    { stdout: new PassThrough(), stderr: new PassThrough(), signal: abort.signal, onReady: () => ready(), onSummary: (s) => (summary = s) },
  );
  done.catch(() => ready());
  await readyP;
  const [s, tracerCpu] = await withCpu(runStorm);
  await sleep(200);
  abort.abort();
  await done;
  return { storm: s, tracerCpu, ...summary };
}

async function tracePhase(): Promise<PhaseResult> {
  const file = join(work, 'trace.jsonl');
  // What `netpol trace ... > file` gets: process.stdout on a file writes synchronously.
  const fd = openSync(file, 'w');
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writeSync(fd, chunk);
      cb();
    },
  });
  const abort = new AbortController();
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  let summary = { shown: 0, lost: 0, untracked: 0, received: 0 };
  const done = runTrace({ host: true, output: 'json' }, { stdout, stderr: new PassThrough(), signal: abort.signal, onReady: () => ready(), onSummary: (s) => (summary = s) });
  done.catch(() => ready());
  await readyP;
  const [s, tracerCpu] = await withCpu(runStorm);
  await sleep(200);
  abort.abort();
  await done;
  closeSync(fd);
  return { storm: s, tracerCpu, lost: summary.lost, shown: summary.shown, bytes: statSync(file).size };
}

async function tcpstatesPhase(): Promise<PhaseResult> {
  const file = join(work, 'tcpstates.txt');
  const out = createWriteStream(file);
  await new Promise((r) => out.on('open', r));
  const child = spawn('/usr/sbin/tcpstates', [], { stdio: ['ignore', out, out] });
  // It prints its header once attached.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (!existsSync(file) || statSync(file).size === 0)) await sleep(50);
  const cpu0 = processCpu(child.pid as number);
  const s = await runStorm();
  const tracerCpu = processCpu(child.pid as number) - cpu0;
  await sleep(200);
  child.kill('SIGINT');
  await new Promise((r) => child.on('exit', r));
  out.close();
  const text = readFileSync(file, 'utf8');
  const lost = [...text.matchAll(/lost (\d+) events/g)].reduce((n, m) => n + Number(m[1]), 0);
  return { storm: s, tracerCpu, lines: text.split('\n').length - 2, lost };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const results: Record<string, number[]> = { learn: [], 'learn-tcp': [], trace: [], tcpstates: [] };
/** Same, by CPU cost: untraced CPU per connect / traced CPU per connect (storm + tracer). */
const cpuResults: Record<string, number[]> = { learn: [], 'learn-tcp': [], trace: [], tcpstates: [] };
const lostBy: Record<string, number> = { learn: 0, 'learn-tcp': 0, trace: 0, tcpstates: 0 };
const baselines: number[] = [];
const costs: number[] = [];
const notes: string[] = [];
const tcpstates = existsSync('/usr/sbin/tcpstates');

async function main(): Promise<void> {
  process.stderr.write(`connect storm: ${SECONDS}s per phase, ${THREADS} client threads, ${ROUNDS} rounds\n`);
  const first = await runStorm();
  let before = first.rate;
  let beforeCost = first.cpu / first.connects;
  baselines.push(before);
  costs.push(beforeCost);
  for (let round = 1; round <= ROUNDS; round++) {
    const phases: Array<[string, () => Promise<PhaseResult>]> = [
      ['learn', learnPhase],
      ...(args.includes('--learn-tcp') ? ([['learn-tcp', learnTcpPhase]] as Array<[string, () => Promise<PhaseResult>]>) : []),
      ['trace', tracePhase],
    ];
    if (tcpstates) phases.push(['tcpstates', tcpstatesPhase]);
    for (const [name, phase] of phases) {
      const r = await phase();
      const next = await runStorm();
      const after = next.rate;
      const afterCost = next.cpu / next.connects;
      baselines.push(after);
      costs.push(afterCost);
      const ratio = r.storm.rate / ((before + after) / 2);
      const tracedCost = (r.storm.cpu + r.tracerCpu) / r.storm.connects;
      const cpuRatio = (beforeCost + afterCost) / 2 / tracedCost;
      results[name]?.push(ratio);
      cpuResults[name]?.push(cpuRatio);
      lostBy[name] = (lostBy[name] ?? 0) + Number(r.lost ?? 0);
      const { storm: _s, ...rest } = r;
      notes.push(
        `round ${round} ${name}: ${fmt(r.storm.rate)}/s traced vs ${fmt(before)}/s and ${fmt(after)}/s untraced around it → ${(ratio * 100).toFixed(1)}%; ` +
          `CPU per connect ${(tracedCost * 1e6).toFixed(1)}µs vs ${(((beforeCost + afterCost) / 2) * 1e6).toFixed(1)}µs → ${(cpuRatio * 100).toFixed(1)}% (${r.storm.connects} connects; ${JSON.stringify(rest)})`,
      );
      process.stderr.write(notes[notes.length - 1] + '\n');
      before = after;
      beforeCost = afterCost;
    }
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? NaN : s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
  };
  const lscpu = execFileSync('lscpu', { encoding: 'utf8' }).match(/Model name:\s*(.*)/)?.[1] ?? cpus()[0]?.model ?? '?';
  console.log(`\nmachine: ${cpus().length} CPUs (${lscpu}), Linux ${release()}, load average before: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log(`untraced: median ${fmt(median(baselines))} connects/s (${baselines.map(fmt).join(', ')}), ${(median(costs) * 1e6).toFixed(1)}µs CPU per connect`);
  console.log('| traced by | connect rate vs untraced (median) | per round | CPU-cost rate vs untraced (median) | per round | lost events |');
  console.log('|---|---|---|---|---|---|');
  const pct = (r: number) => `${(r * 100).toFixed(1)}%`;
  for (const [name, ratios] of Object.entries(results)) {
    if (ratios.length === 0) continue;
    const cpuRatios = cpuResults[name] ?? [];
    console.log(`| ${name} | ${pct(median(ratios))} | ${ratios.map(pct).join(', ')} | ${pct(median(cpuRatios))} | ${cpuRatios.map(pct).join(', ')} | ${lostBy[name]} |`);
  }
  if (!tcpstates) console.log('tcpstates not installed (apt-get install libbpf-tools): reference skipped');
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
