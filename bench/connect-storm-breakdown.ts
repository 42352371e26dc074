/**
 * Where the agent's per-connect cost goes: CPU per loopback connect (bench/connect-storm.c) with
 *   none          nothing attached
 *   attached-idle all three programs attached, every run returning at once (pid filter matches nothing)
 *   learn         learn mode (edges de-duplicated in the kernel, nothing reaches user space)
 *   learn-state   learn mode with only sock:inet_sock_set_state (no syscall hooks: no connect() errno)
 *   syscalls-only only the syscalls:sys_{enter,exit}_connect hooks
 * alternated for several rounds, medians reported. Run as root:
 *   npx vite-node bench/connect-storm-breakdown.ts [--rounds 6] [--seconds 2] [--threads 2]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TcpConnectTracer, type TracerOptions } from '../src/agent/tracer.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 6);
const SECONDS = arg('seconds', 2);
const THREADS = arg('threads', 2);
const work = mkdtempSync(join(tmpdir(), 'netpol-bench-'));
const storm = join(work, 'connect-storm');
execFileSync('clang', ['-O2', '-pthread', '-o', storm, join(dirname(fileURLToPath(import.meta.url)), 'connect-storm.c')]);

const run = () =>
  new Promise<{ connects: number; cpu: number }>((resolve, reject) => {
    const c = spawn(storm, [String(SECONDS), String(THREADS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { connects: number; cpu: number }) : reject(new Error(`storm exited ${code}`))));
  });

const modes: Array<[string, TracerOptions | undefined]> = [
  ['none', undefined],
  ['attached-idle', { pids: [1] }],
  ['learn', { dedupEdges: true }],
  ['learn-state', { dedupEdges: true, programs: ['handle_set_state'] }],
  ['syscalls-only', { dedupEdges: true, connectErrors: true, programs: ['handle_enter_connect', 'handle_exit_connect'] }],
];
const perConnect = new Map<string, number[]>();
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, opts] of modes) {
      const tracer = opts ? new TcpConnectTracer(opts) : undefined;
      tracer?.start(() => {});
      try {
        const r = await run();
        perConnect.set(name, [...(perConnect.get(name) ?? []), (r.cpu / r.connects) * 1e6]);
      } finally {
        tracer?.close();
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const base = median(perConnect.get('none') ?? []);
  console.log('| hooks | CPU per connect (median) | vs none | per round (µs) |');
  console.log('|---|---|---|---|');
  for (const [name, xs] of perConnect) {
    const m = median(xs);
    console.log(`| ${name} | ${m.toFixed(2)} µs | ${name === 'none' ? '' : `+${(m - base).toFixed(2)} µs (${(((m - base) / base) * 100).toFixed(1)}%)`} | ${xs.map((x) => x.toFixed(1)).join(', ')} |`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
