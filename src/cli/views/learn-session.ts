/**
 * One learning session, independent of how it is shown: consumes a LearnSource into a LearnModel,
 * keeps the rate and the policy preview fresh (throttled), and finishes — stop the source, drain
 * it, synthesize once more and write --out — exactly once, whether asked by a key, a signal, a
 * --duration or the source ending. The ink screen and the plain lines both drive one of these.
 */
import type { FlowEdge } from '../../flows/edges.js';
import type { FlowRecord } from '../../flows/record.js';
import type { SynthesisResult } from '../../policy/synthesize/index.js';
import { writePolicyTree, type WriteResult } from '../../policy/write.js';
import { LearnModel, type LearnModelOptions, type LearnRow, type LearnSource, type PolicyPreview } from './learn-model.js';

export interface LearnSessionOptions extends LearnModelOptions {
  /** Shown in the header: `local`, `cluster`, `replay`. */
  mode: string;
  /** Shown in the header: `-l app=web -n shop`, `container nginx`. */
  selector?: string;
  /** Finish by itself after this long. */
  durationMs?: number;
  /** Called for every flow as it arrives (e.g. `--record FILE`). */
  onFlow?: (flow: FlowRecord) => void;
  /** Write the policies to `out` when finishing (default true when `out` is set). */
  write?: boolean;
  /** Minimum ms between policy previews (synthesis is the costly part). Default 1000. */
  previewEveryMs?: number;
  /** The model shown, when it is not fed by the source's flows (learn --watch: TrafficProfiles). */
  model?: LearnModel;
}

export type FinishReason = 'quit' | 'ended' | 'duration' | 'signal';

export interface LearnScreenResult {
  reason: FinishReason;
  flows: number;
  events: number;
  lost: number;
  elapsedMs: number;
  /** The aggregated flows (for a caller that learns or records itself). */
  edges: FlowEdge[];
  rows: LearnRow[];
  /** What learn generated at the end; undefined without a cluster view or on a synthesis error. */
  result?: SynthesisResult;
  /** The files written to --out. */
  written?: WriteResult;
  /** A synthesis or write problem at the end. */
  error?: string;
}

export class LearnSession {
  readonly model: LearnModel;
  preview?: PolicyPreview;
  eventsPerSecond = 0;
  finishing = false;
  status?: string;
  private previewAt = -Infinity;
  private previewDirty = true;
  private rateSample: { t: number; events: number };
  private readonly listeners = new Set<() => void>();
  private readonly rowListeners = new Set<(row: LearnRow) => void>();
  private consumed: Promise<void>;
  private finished?: Promise<LearnScreenResult>;
  private timer?: NodeJS.Timeout;
  private durationTimer?: NodeJS.Timeout;
  private resolveDone!: (r: LearnScreenResult) => void;
  readonly done: Promise<LearnScreenResult>;
  private readonly now: () => number;

  constructor(
    readonly source: LearnSource,
    readonly opts: LearnSessionOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.model = opts.model ?? new LearnModel(opts);
    this.model.onInvalidate((rows) => this.invalidate(rows));
    this.rateSample = { t: this.now(), events: 0 };
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.consumed = this.consume();
    void this.consumed.then(() => this.finish('ended'));
    this.timer = setInterval(() => this.tick(), 1000);
    if (opts.durationMs !== undefined) this.durationTimer = setTimeout(() => void this.finish('duration'), opts.durationMs);
  }

  /** Called on every change (throttling is the view's business). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Called with each (workload, peer) row the first time a flow of it arrives. */
  onNewRow(fn: (row: LearnRow) => void): () => void {
    this.rowListeners.add(fn);
    return () => this.rowListeners.delete(fn);
  }

  /**
   * The model changed without a flow (learn --watch: a TrafficProfile did): `rows` are its new or
   * changed rows (plain lines print them); the preview is made again, within previewEveryMs.
   */
  invalidate(rows: readonly LearnRow[] = []): void {
    for (const row of rows) for (const fn of this.rowListeners) fn(row);
    this.previewDirty = true;
    this.refreshPreview();
    this.emit();
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  private async consume(): Promise<void> {
    try {
      for await (const ev of this.source) {
        if (ev.connects !== undefined) {
          this.model.setConnects(ev.flow, ev.connects);
          this.emit();
          continue;
        }
        const { row, isNew } = this.model.add(ev.flow);
        this.opts.onFlow?.(ev.flow);
        if (isNew) for (const fn of this.rowListeners) fn(row);
        this.previewDirty = true;
        this.refreshPreview();
        this.emit();
      }
    } catch (err) {
      this.status = `source failed: ${(err as Error).message}`;
    }
  }

  /** Once a second: the rate, and a fresh preview when flows came in. */
  tick(): void {
    const t = this.now();
    const events = this.source.events;
    const dt = (t - this.rateSample.t) / 1000;
    if (dt > 0) this.eventsPerSecond = (events - this.rateSample.events) / dt;
    this.rateSample = { t, events };
    this.refreshPreview();
    this.emit();
  }

  refreshPreview(force = false): void {
    const t = this.now();
    if (!force && (!this.previewDirty || t - this.previewAt < (this.opts.previewEveryMs ?? 1000))) return;
    this.previewAt = t;
    this.previewDirty = false;
    this.preview = this.model.preview();
  }

  elapsedMs(): number {
    return this.now() - this.model.startedAt;
  }

  /** Finishes once: stop the source, drain it, learn, write. Later calls return the same promise. */
  finish(reason: FinishReason): Promise<LearnScreenResult> {
    this.finished ??= this.doFinish(reason);
    return this.finished;
  }

  private async doFinish(reason: FinishReason): Promise<LearnScreenResult> {
    this.finishing = true;
    this.status = 'finishing…';
    this.emit();
    clearInterval(this.timer);
    clearTimeout(this.durationTimer);
    await this.source.stop();
    await this.consumed;
    this.refreshPreview(true);
    const result: LearnScreenResult = {
      reason,
      flows: this.model.flows,
      events: this.source.events,
      lost: this.source.lost,
      elapsedMs: this.elapsedMs(),
      edges: this.model.flowEdges(),
      rows: this.model.snapshot(),
    };
    if (this.preview?.result) result.result = this.preview.result;
    if (this.preview?.error && !this.preview.result) result.error = this.preview.error;
    if (this.opts.out && (this.opts.write ?? true) && result.result) {
      try {
        result.written = await writePolicyTree(this.opts.out, result.result);
        const n = result.written.files.filter((f) => f.status === 'written').length;
        this.status = `wrote ${n} file${n === 1 ? '' : 's'} to ${this.opts.out} (${result.written.files.length - n} unchanged)`;
      } catch (err) {
        result.error = `cannot write ${this.opts.out}: ${(err as Error).message}`;
        this.status = result.error;
      }
    } else {
      this.status = 'done';
    }
    this.emit();
    this.resolveDone(result);
    return result;
  }
}
