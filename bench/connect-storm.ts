/**
 * Connect-storm benchmark: loopback connects/s untraced versus traced, as ratios measured in one
 * run (each traced phase is compared with the mean of the untraced phases around it):
 *
 *   learn      `netpol learn --local --host` pipeline: every connect traced in the kernel, edges
 *              de-duplicated there, one record per new edge written to a JSONL recording
 *   trace      `netpol trace tcpconnect --host -o json` writing every connect to a file
 *   tcpstates  libbpf-tools' tcpstates (tracepoint sock:inet_sock_set_state), output to a file
 *
 * Run as root:  npx vite-node bench/connect-storm.ts [--seconds 5] [--rounds 2] [--threads 2]
 * The storm is bench/connect-storm.c (built here with clang), so the generator costs no JS time.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { learnLocal } from '../src/cli/learn-local.js';
import { runTrace } from '../src/cli/trace.js';

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

async function learnPhase(): Promise<{ storm: StormResult; lost: number; deduped: number; received: number; flows: number }> {
  const abort = new AbortController();
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  let summary = { flows: 0, lost: 0, deduped: 0, untracked: 0, received: 0 };
  const done = learnLocal(
    { host: true, record: join(work, 'learn.jsonl'), out: join(work, 'policies'), dns: false },
    { stdout: new PassThrough(), stderr: new PassThrough(), signal: abort.signal, onReady: () => ready(), onSummary: (s) => (summary = s) },
  );
  done.catch(() => ready());
  await readyP;
  const s = await runStorm();
  await sleep(200);
  abort.abort();
  await done;
  return { storm: s, ...summary };
}

async function tracePhase(): Promise<{ storm: StormResult; lost: number; shown: number; bytes: number }> {
  const file = join(work, 'trace.jsonl');
  const stdout = createWriteStream(file);
  const abort = new AbortController();
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  let summary = { shown: 0, lost: 0, untracked: 0, received: 0 };
  const done = runTrace({ host: true, output: 'json' }, { stdout, stderr: new PassThrough(), signal: abort.signal, onReady: () => ready(), onSummary: (s) => (summary = s) });
  done.catch(() => ready());
  await readyP;
  const s = await runStorm();
  await sleep(200);
  abort.abort();
  await done;
  await new Promise<void>((r) => stdout.end(r));
  return { storm: s, lost: summary.lost, shown: summary.shown, bytes: statSync(file).size };
}

async function tcpstatesPhase(): Promise<{ storm: StormResult; lines: number }> {
  const file = join(work, 'tcpstates.txt');
  const out = createWriteStream(file);
  await new Promise((r) => out.on('open', r));
  const child = spawn('/usr/sbin/tcpstates', [], { stdio: ['ignore', out, 'inherit'] });
  // It prints its header once attached.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (!existsSync(file) || statSync(file).size === 0)) await sleep(50);
  const s = await runStorm();
  await sleep(200);
  child.kill('SIGINT');
  await new Promise((r) => child.on('exit', r));
  out.close();
  return { storm: s, lines: readFileSync(file, 'utf8').split('\n').length - 2 };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const results: Record<string, number[]> = { learn: [], trace: [], tcpstates: [] };
const baselines: number[] = [];
const notes: string[] = [];
const tcpstates = existsSync('/usr/sbin/tcpstates');

async function main(): Promise<void> {
  process.stderr.write(`connect storm: ${SECONDS}s per phase, ${THREADS} client threads, ${ROUNDS} rounds\n`);
  let before = (await runStorm()).rate;
  baselines.push(before);
  for (let round = 1; round <= ROUNDS; round++) {
    const phases: Array<[string, () => Promise<{ storm: StormResult } & Record<string, unknown>>]> = [
      ['learn', learnPhase],
      ['trace', tracePhase],
    ];
    if (tcpstates) phases.push(['tcpstates', tcpstatesPhase]);
    for (const [name, phase] of phases) {
      const r = await phase();
      const after = (await runStorm()).rate;
      baselines.push(after);
      const ratio = r.storm.rate / ((before + after) / 2);
      results[name]?.push(ratio);
      const { storm: _s, ...rest } = r;
      notes.push(`round ${round} ${name}: ${fmt(r.storm.rate)}/s traced vs ${fmt(before)}/s and ${fmt(after)}/s untraced around it → ${(ratio * 100).toFixed(1)}% (${r.storm.connects} connects; ${JSON.stringify(rest)})`);
      process.stderr.write(notes[notes.length - 1] + '\n');
      before = after;
    }
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? NaN : s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
  };
  const lscpu = execFileSync('lscpu', { encoding: 'utf8' }).match(/Model name:\s*(.*)/)?.[1] ?? cpus()[0]?.model ?? '?';
  console.log(`\nmachine: ${cpus().length} CPUs (${lscpu}), Linux ${release()}, load average before: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log(`untraced: median ${fmt(median(baselines))} connects/s (${baselines.map(fmt).join(', ')})`);
  console.log('| traced by | connect rate vs untraced (median) | overhead | per round |');
  console.log('|---|---|---|---|');
  for (const [name, ratios] of Object.entries(results)) {
    if (ratios.length === 0) continue;
    const m = median(ratios);
    console.log(`| ${name} | ${(m * 100).toFixed(1)}% | ${((1 - m) * 100).toFixed(1)}% | ${ratios.map((r) => `${(r * 100).toFixed(1)}%`).join(', ')} |`);
  }
  if (!tcpstates) console.log('tcpstates not installed (apt-get install libbpf-tools): reference skipped');
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
