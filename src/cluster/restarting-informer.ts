/**
 * A client-node ListWatch restarted with backoff after an error (250 ms doubling to a cap), and the
 * listeners told of every change: what the TrafficProfile watch (profile/watch.ts) and the staged
 * policy watch (staged/client.ts) share, as their base class. Each says what an error means to it
 * through `onError` (kept for a screen, or turned into the error its first list throws).
 */
import type { KubernetesObject, ListWatch } from '@kubernetes/client-node';

const FIRST_DELAY_MS = 250;

/** T: what the watched objects are to the owner (client-node types them KubernetesObject). */
export abstract class RestartingInformer<T> {
  private informer?: ListWatch<KubernetesObject>;
  private readonly listeners = new Set<() => void>();
  private delayMs = FIRST_DELAY_MS;
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** Changes seen (add, update, delete) since start: a counter for caches. */
  changes = 0;
  /** Listed and watching, no error since: what list() holds is current (false before start, after an error, after close). */
  running = false;
  private errors = 0;

  constructor(private readonly maxDelayMs: number) {}

  /** Called on every error before the restart is scheduled (not after close). */
  protected abstract onError(err: unknown): void;

  /**
   * Watches with this informer (stopping one started before: a start after a failed one);
   * resolves after its first list, with the first error seen until then (the restart is
   * already scheduled: the caller decides whether that error ends the start).
   */
  protected async watch(informer: ListWatch<KubernetesObject>): Promise<unknown> {
    this.closed = false;
    await this.informer?.stop();
    this.informer = informer;
    let first: unknown;
    const changed = (): void => {
      this.changes++;
      this.notify();
    };
    informer.on('add', changed);
    informer.on('update', changed);
    informer.on('delete', changed);
    informer.on('error', (err: unknown) => {
      first ??= err;
      this.running = false;
      this.errors++;
      this.retry(err);
    });
    await informer.start();
    if (first === undefined && !this.closed && this.informer === informer) this.running = true;
    return first;
  }

  private retry(err: unknown): void {
    if (this.closed) return;
    this.onError(err);
    clearTimeout(this.timer);
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs);
    this.timer = setTimeout(() => {
      if (this.closed) return;
      const errors = this.errors;
      void this.informer?.start().then(() => {
        this.delayMs = FIRST_DELAY_MS;
        // Listed again and watching, unless that start failed too.
        if (this.errors === errors && !this.closed) this.running = true;
      });
    }, delay);
    this.timer.unref?.();
  }

  list(): T[] {
    return (this.informer?.list() ?? []) as unknown as T[];
  }

  /** Tells every listener (a change, or an error its owner wants shown). */
  protected notify(): void {
    for (const l of this.listeners) l();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.running = false;
    clearTimeout(this.timer);
    this.listeners.clear();
    await this.informer?.stop();
  }
}
