/**
 * The BPF programs' own time per loopback connect, from the kernel's run-time statistics
 * (kernel.bpf_stats_enabled: run_cnt and run_time_ns per program, turned on for the run and restored
 * after), for the tracer set-ups netpol uses:
 *
 *   trace        `trace` without --latency: syscall hooks + sockops (which reports each connect as
 *                made and takes the task's identity itself)
 *   trace-state  the same with the state tracepoint attached too (the set-up before sockops took the identity)
 *   agent        the node agent: connects as made and answered, UDP hooks
 *   learn        `learn --local`: the state tracepoint only, edges de-duplicated in the kernel
 *   agent-judge  the node agent as the live judge runs it: the state tracepoint with the table of
 *                allowed edges on (the storm's edge written after its first answer, as the agent
 *                does once it judged it allowed), the UDP hooks, a cgroup filter in force
 *
 * The statistics cost a little themselves (two clock reads per run), and they count the programs'
 * run time only: not the tracepoint or cgroup dispatch around them, nor the syscall slow path the
 * syscall hooks put every syscall on. Run as root, on a machine with no other netpol tracer loaded
 * (programs are found by name):
 *   npx vite-node bench/connect-storm-bpfstats.ts [--seconds 2] [--rounds 2] [--modes trace,trace-state,agent,learn,agent-judge]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TcpConnectTracer, type TracerOptions } from '../src/agent/tracer.js';
import { allowedEdgeOf } from '../src/agent/allowed-edges.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SECONDS = arg('seconds', 2);
const ROUNDS = arg('rounds', 2);
const work = mkdtempSync(join(tmpdir(), 'netpol-bench-'));
const storm = join(work, 'connect-storm');
execFileSync('clang', ['-O2', '-pthread', '-o', storm, join(dirname(fileURLToPath(import.meta.url)), 'connect-storm.c')]);

const MODES: Array<[string, TracerOptions]> = [
  ['trace', { reportConnects: true, connectErrors: true, programs: ['handle_enter_connect', 'handle_exit_connect'] }],
  ['trace-state', { reportConnects: true }],
  ['agent', { reportConnects: true, alsoAnswers: true, udp: true, udpOptional: true }],
  ['learn', { dedupEdges: true, programs: ['handle_set_state'] }],
  // ignoredCgroups: the filter on (one lookup per connect, as the agent's); the storm's cgroup is not in it.
  ['agent-judge', { alsoAnswers: true, udp: true, udpOptional: true, ignoredCgroups: [0xfffffffffn] }],
];
const MODE_NAMES = (args.includes('--modes') ? (args[args.indexOf('--modes') + 1] ?? '') : MODES.map(([m]) => m).join(',')).split(',');
for (const m of MODE_NAMES) if (!MODES.some(([name]) => name === m)) throw new Error(`unknown mode ${JSON.stringify(m)} (${MODES.map(([name]) => name).join(', ')})`);

interface Prog {
  id: number;
  name?: string;
  run_time_ns?: number;
  run_cnt?: number;
}
const programs = (): Prog[] => JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as Prog[];

const STATS = '/proc/sys/kernel/bpf_stats_enabled';
const before = readFileSync(STATS, 'utf8').trim();
writeFileSync(STATS, '1');
const rows: string[] = [];
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [mode, opts] of MODES.filter(([m]) => MODE_NAMES.includes(m))) {
      const known = new Set(programs().map((p) => p.id));
      const tracer = new TcpConnectTracer(opts);
      let renew: NodeJS.Timeout | undefined;
      if (mode === 'agent-judge') {
        // The agent's kernel de-duplication: the storm's edge counted in the kernel from its first answer on.
        tracer.allowedEdges.setState(1, true);
        renew = setInterval(() => tracer.allowedEdges.renew(), 500);
        let written = false;
        tracer.start((e) => {
          if (written || e.outcome !== 'established') return;
          written = tracer.allowedEdges.add(allowedEdgeOf(e), 1) !== 'full';
        });
      } else tracer.start(() => {});
      try {
        const ours = programs().filter((p) => !known.has(p.id) && p.name?.startsWith('handle_'));
        const start = new Map(ours.map((p) => [p.id, p]));
        const r = await new Promise<{ connects: number }>((resolve, reject) => {
          const c = spawn(storm, [String(SECONDS), '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { connects: number }) : reject(new Error(`storm exited ${code}`))));
        });
        let total = 0;
        const parts: string[] = [];
        for (const p of programs().filter((q) => start.has(q.id))) {
          const s = start.get(p.id)!;
          const ns = (p.run_time_ns ?? 0) - (s.run_time_ns ?? 0);
          const runs = (p.run_cnt ?? 0) - (s.run_cnt ?? 0);
          if (runs === 0) continue;
          total += ns / r.connects;
          parts.push(`${p.name} ${(runs / r.connects).toFixed(1)} runs × ${Math.round(ns / runs)} ns = ${Math.round(ns / r.connects)} ns`);
        }
        rows.push(`| ${round} | ${mode} | ${Math.round(total)} ns | ${parts.join('; ')} |`);
        process.stderr.write(rows[rows.length - 1] + '\n');
      } finally {
        clearInterval(renew);
        tracer.close();
      }
    }
  }
} finally {
  writeFileSync(STATS, before);
  rmSync(work, { recursive: true, force: true });
}
console.log('| round | set-up | BPF time per connect | per program (runs per connect × ns per run) |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(r);
