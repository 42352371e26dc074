/**
 * `runLearnScreen`: the live learn view on a terminal (ink), and `runLearnPlain`: plain lines for
 * pipes, CI and `-o json`. Both consume a LearnSource through a LearnSession and resolve with the
 * same LearnScreenResult when q / Ctrl-C / SIGINT / --duration / the end of the source finishes it.
 */
import { render, useApp, useInput, useStdout } from 'ink';
import { useEffect, useRef, useState, type ReactElement } from 'react';
import { renderPolicies } from '../../policy/render.js';
import { headerLine, PLAIN_COLUMNS, rowJson, rowLine } from './learn-columns.js';
import type { LearnRow, LearnSource } from './learn-model.js';
import { LearnScreen } from './learn-screen-view.js';
import { LearnSession, type LearnScreenResult, type LearnSessionOptions } from './learn-session.js';

export type { LearnScreenResult, LearnSessionOptions } from './learn-session.js';
export type { LearnEvent, LearnSource } from './learn-model.js';
export { PushLearnSource, replaySource } from './learn-model.js';

export interface LearnScreenOptions extends LearnSessionOptions {
  /** Streams for ink (tests); default the process's. */
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  stderr?: NodeJS.WriteStream;
  /** Minimum ms between redraws. Default 200. */
  redrawMs?: number;
}

interface FrozenView {
  rows: LearnRow[];
  now: number;
}

export function LearnApp({ session, redrawMs }: { session: LearnSession; redrawMs: number }): ReactElement {
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [, setTick] = useState(0);
  const [paused, setPaused] = useState<FrozenView | undefined>();
  const [filter, setFilter] = useState('');
  const [showYaml, setShowYaml] = useState(false);
  const [editing, setEditingState] = useState(false);
  // Keys can arrive faster than React re-renders (a paste, a script): the mode lives in a ref too.
  const editingRef = useRef(false);
  const setEditing = (v: boolean) => {
    editingRef.current = v;
    setEditingState(v);
  };

  useEffect(() => {
    let last = 0;
    let pending: NodeJS.Timeout | undefined;
    const redraw = () => {
      pending = undefined;
      last = Date.now();
      setTick((t) => t + 1);
    };
    const off = session.onChange(() => {
      if (pending) return;
      const wait = Math.max(0, redrawMs - (Date.now() - last));
      pending = setTimeout(redraw, wait);
    });
    void session.done.then(() => {
      setTick((t) => t + 1);
      // Let the final frame (with "wrote N files") reach the terminal before unmounting.
      setTimeout(() => exit(), 50);
    });
    return () => {
      off();
      if (pending) clearTimeout(pending);
    };
  }, [session, redrawMs, exit]);

  useInput((input, key) => {
    if (key.ctrl && input === 'c') {
      void session.finish('quit');
      return;
    }
    // Keys typed faster than the terminal is read (a paste, tmux send-keys) arrive as one string:
    // take them one by one, so "/web" opens the filter and types "web".
    const plain = !key.ctrl && !key.meta && !key.escape && !key.return && !key.backspace && !key.delete;
    const chars = plain && input.length > 1 ? [...input] : [input];
    for (const ch of chars) {
      if (editingRef.current) {
        if (key.return) setEditing(false);
        else if (key.escape) {
          setFilter('');
          setEditing(false);
        } else if (key.backspace || key.delete) setFilter((f) => f.slice(0, -1));
        else if (ch && !key.ctrl && !key.meta) setFilter((f) => f + ch);
        continue;
      }
      if (ch === 'q') void session.finish('quit');
      else if (ch === 'p') setPaused((p) => (p ? undefined : { rows: session.model.snapshot(), now: Date.now() }));
      else if (ch === '/') setEditing(true);
      else if (ch === 'y') setShowYaml((v) => !v);
      else if (key.escape) setFilter('');
    }
  });

  const rows = paused ? paused.rows.filter((r) => matches(r, filter)) : session.model.snapshot(filter);
  const height = stdout?.rows ?? 40;
  let yaml: { lines: string[]; more: number } | undefined;
  if (showYaml) {
    const policies = (session.preview?.result?.policies ?? []).filter((p) => filter === '' || p.path.includes(filter));
    const all = policies.length > 0 ? renderPolicies(policies.map((p) => p.policy)).trimEnd().split('\n') : ['# no policy yet'];
    const room = Math.max(8, height - 24);
    yaml = { lines: all.slice(0, room), more: Math.max(0, all.length - room) };
  }
  return (
    <LearnScreen
      mode={session.opts.mode}
      {...(session.opts.selector ? { selector: session.opts.selector } : {})}
      elapsedMs={session.elapsedMs()}
      events={session.source.events}
      eventsPerSecond={session.eventsPerSecond}
      lost={session.source.lost}
      flows={session.model.flows}
      rows={rows}
      now={paused ? paused.now : Date.now()}
      {...(session.preview ? { preview: session.preview } : {})}
      {...(session.opts.out ? { out: session.opts.out } : {})}
      paused={paused !== undefined}
      filter={filter}
      editingFilter={editing}
      {...(session.status ? { status: session.status } : {})}
      maxRows={Math.max(5, height - 18)}
      maxPolicies={Math.max(3, Math.min(10, height - 28))}
      {...(yaml ? { yaml } : {})}
    />
  );
}

function matches(r: LearnRow, filter: string): boolean {
  const f = filter.toLowerCase();
  return f === '' || r.workload.toLowerCase().includes(f) || r.peer.toLowerCase().includes(f) || r.kind.toLowerCase().includes(f);
}

/**
 * The live screen. Resolves after the final frame, once the policies are written (with --out).
 * The caller prints the YAML when there is no --out, and the usual learn report.
 */
export async function runLearnScreen(source: LearnSource, opts: LearnScreenOptions): Promise<LearnScreenResult> {
  const session = new LearnSession(source, opts);
  // In raw mode Ctrl-C arrives as a key (handled in LearnApp); these cover kill and a non-raw stdin.
  const onSignal = () => void session.finish('signal');
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const app = render(<LearnApp session={session} redrawMs={opts.redrawMs ?? 200} />, {
    exitOnCtrlC: false,
    patchConsole: false,
    ...(opts.stdout ? { stdout: opts.stdout } : {}),
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
    ...(opts.stderr ? { stderr: opts.stderr } : {}),
  });
  try {
    const result = await session.done;
    await app.waitUntilExit();
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export interface LearnPlainOptions extends LearnSessionOptions {
  /** `text`: a header and one line per new (workload, peer); `json`: one JSON object per line. */
  output?: 'text' | 'json';
  stream?: NodeJS.WritableStream;
}

/**
 * Plain lines for pipes and CI: each (workload, peer) the first time it is seen, in the screen's
 * columns (or as JSON objects), then a summary. SIGINT/SIGTERM finish and write like q does.
 */
export async function runLearnPlain(source: LearnSource, opts: LearnPlainOptions): Promise<LearnScreenResult> {
  const out = opts.stream ?? process.stdout;
  const json = opts.output === 'json';
  const session = new LearnSession(source, opts);
  if (!json) out.write(headerLine(PLAIN_COLUMNS) + '\n');
  const off = session.onNewRow((r) => {
    out.write((json ? JSON.stringify({ event: 'connection', ...rowJson(r, PLAIN_COLUMNS) }) : rowLine(r, r.lastSeen, false, PLAIN_COLUMNS)) + '\n');
  });
  const onSignal = () => void session.finish('signal');
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await session.done;
    const summary = {
      event: 'summary',
      reason: result.reason,
      flows: result.flows,
      events: result.events,
      lost: result.lost,
      elapsedMs: result.elapsedMs,
      connections: result.rows.length,
      policies: result.result?.policies.map((p) => p.path) ?? [],
      ...(result.written ? { written: result.written.files.filter((f) => f.status === 'written').map((f) => f.path) } : {}),
      ...(result.error ? { error: result.error } : {}),
    };
    if (json) out.write(JSON.stringify(summary) + '\n');
    else {
      out.write(
        `# ${result.flows} flows, ${result.rows.length} connections, ${result.events} events, ${result.lost} lost` +
          `${result.result ? `; ${result.result.policies.length} policies` : ''}${session.status && session.status !== 'done' ? `; ${session.status}` : ''}\n`,
      );
    }
    return result;
  } finally {
    off();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
