/**
 * What a user watches while `learn --local` or `learn -l` observes: the live ink screen on an
 * interactive terminal (q / Ctrl-C to finish), plain lines on stderr otherwise (pipes and CI; JSON
 * lines with `-o json`), stdout staying reserved for the policies. The agents push flows into the
 * returned source; `until` resolves when observation should end (a key, --duration, a signal, or
 * the caller's AbortSignal).
 */
import type { ClusterIndex } from '../../cluster/lookup.js';
import type { FlowRecord } from '../../flows/record.js';
import type { SynthesisOptions } from '../../policy/synthesize/index.js';
import { PushLearnSource, runLearnPlain, runLearnScreen, type LearnScreenResult } from './learn-screen.js';

export interface LiveLearnViewOptions {
  mode: 'local' | 'cluster';
  /** The header's description of what is observed. */
  selector: string;
  index?: () => ClusterIndex;
  synthesis?: SynthesisOptions;
  out?: string;
  /** Earlier flows of the recording this session appends to (see LearnModelOptions.prior). */
  prior?: readonly FlowRecord[];
  output?: 'yaml' | 'json';
  durationMs?: number;
  signal?: AbortSignal;
  /** Where plain lines go (default process.stderr). A stream given here also means "not a terminal". */
  stderr?: NodeJS.WritableStream;
}

export interface LiveLearnView {
  push(flow: FlowRecord): void;
  /** The kernel's count of connects of the edge a pushed flow stands for (learn mode dedups in the kernel). */
  pushConnects(flow: FlowRecord, connects: number): void;
  addLost(n: number): void;
  /** Resolves when observation should stop. */
  until: Promise<void>;
  /** Ends the view (stops its source) and waits for its last frame. */
  close(): Promise<LearnScreenResult>;
}

/** The CI variables ink reads (is-in-ci): under them ink draws only a last frame, so no live screen. */
function inCi(): boolean {
  return ['CI', 'CONTINUOUS_INTEGRATION'].some((k) => k in process.env && process.env[k] !== '0' && process.env[k] !== 'false');
}

export function isInteractive(opts: Pick<LiveLearnViewOptions, 'output' | 'stderr'>): boolean {
  return opts.stderr === undefined && opts.output !== 'json' && process.stdout.isTTY === true && process.stdin.isTTY === true && !inCi();
}

export function startLiveLearnView(opts: LiveLearnViewOptions): LiveLearnView {
  const source = new PushLearnSource();
  // The caller writes --out and prints the report once observation ends; the view only shows.
  const session = { mode: opts.mode, selector: opts.selector, index: opts.index, synthesis: opts.synthesis, out: opts.out, prior: opts.prior, durationMs: opts.durationMs, write: false };
  const done = isInteractive(opts)
    ? runLearnScreen(source, session)
    : runLearnPlain(source, { ...session, stream: opts.stderr ?? process.stderr, output: opts.output === 'json' ? 'json' : 'text' });
  const aborted = new Promise<void>((resolve) => {
    if (opts.signal?.aborted) resolve();
    opts.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  return {
    push: (flow) => source.push(flow),
    pushConnects: (flow, connects) => source.pushConnects(flow, connects),
    addLost: (n) => source.addLost(n),
    until: Promise.race([done.then(() => undefined), aborted]),
    close: async () => {
      source.end();
      return done;
    },
  };
}
