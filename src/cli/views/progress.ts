/**
 * Progress for long reads (a multi-GB recording, a big snapshot): one line on stderr redrawn in
 * place — a bar when the total is known, bytes and flows/s — and nothing at all when stderr is not a
 * terminal, so pipes and CI logs stay clean.
 */

export interface Progress {
  /** Bytes read so far and flows parsed so far (cumulative): pass it as readFlows' onProgress. */
  update(p: { bytes: number; flows: number }): void;
  /** Clears the line (or prints nothing on a pipe). */
  done(): void;
}

export interface ProgressOptions {
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Force on/off; default: on when the stream is a TTY. */
  enabled?: boolean;
  label?: string;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Minimum ms between redraws. */
  intervalMs?: number;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let u = 0;
  let v = n;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

export function formatRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(1)}M`;
  if (perSecond >= 1e4) return `${Math.round(perSecond / 1e3)}k`;
  return String(Math.round(perSecond));
}

/** One progress line: `reading ███████░░░░░  58%  1.2 GB / 2.1 GB  840k flows/s`. */
export function progressLine(label: string, bytes: number, total: number, flows: number, elapsedMs: number, width = 80): string {
  const rate = elapsedMs > 0 ? (flows * 1000) / elapsedMs : 0;
  const tail = `${total > 0 ? `${formatBytes(bytes)} / ${formatBytes(total)}` : formatBytes(bytes)}  ${flows.toLocaleString('en-US')} flows  ${formatRate(rate)} flows/s`;
  if (total <= 0) return `${label} ${tail}`.slice(0, width - 1);
  const pct = Math.min(100, Math.floor((bytes / total) * 100));
  const barWidth = Math.max(10, Math.min(30, width - tail.length - label.length - 10));
  const filled = Math.round((pct / 100) * barWidth);
  return `${label} ${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)} ${String(pct).padStart(3)}%  ${tail}`.slice(0, width - 1);
}

export function createProgress(totalBytes: number, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const enabled = opts.enabled ?? stream.isTTY === true;
  if (!enabled) return { update() {}, done() {} };
  const now = opts.now ?? Date.now;
  const label = opts.label ?? 'reading';
  const interval = opts.intervalMs ?? 100;
  const start = now();
  let last = -Infinity;
  let drawn = false;
  return {
    update({ bytes, flows }) {
      const t = now();
      if (t - last < interval) return;
      last = t;
      drawn = true;
      stream.write(`\r\x1b[2K${progressLine(label, bytes, totalBytes, flows, t - start, stream.columns ?? 80)}`);
    },
    done() {
      if (drawn) stream.write('\r\x1b[2K');
    },
  };
}
