/** Collects tcpconnect events from a running tracer and waits for the ones a test expects. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectEvent } from '../../../src/agent/event.js';
import type { TcpConnectTracer } from '../../../src/agent/tracer.js';

export class EventLog {
  readonly events: ConnectEvent[] = [];
  private waiters: Array<{ pred: (e: ConnectEvent) => boolean; resolve: (e: ConnectEvent) => void }> = [];

  constructor(tracer: TcpConnectTracer) {
    tracer.start((e) => {
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(e)) return true;
        w.resolve(e);
        return false;
      });
    });
  }

  /** The first event (already seen or future) matching `pred`. */
  waitFor(pred: (e: ConnectEvent) => boolean, timeoutMs = 10_000): Promise<ConnectEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no matching tcpconnect event within ${timeoutMs} ms; saw ${this.events.length}: ${JSON.stringify(this.events.slice(-5), bigintJson)}`));
      }, timeoutMs);
      const done = (e: ConnectEvent) => {
        clearTimeout(timer);
        resolve(e);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }
}

export function bigintJson(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** A directory with busybox applets as symlinks, so a spawned `nc` runs with comm "nc". */
export function busyboxBin(): string {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-bb-'));
  for (const applet of ['nc', 'httpd', 'sh', 'sleep']) symlinkSync('/bin/busybox', join(dir, applet));
  return dir;
}

/** Builds bpf/*.bpf.o if missing or older than its sources (what scripts/setup.sh does). */
export function ensureBpfBuilt(): void {
  execFileSync('make', ['-s', '-C', join(import.meta.dirname, '..', '..', '..', 'bpf')], { stdio: ['ignore', 'ignore', 'inherit'] });
}
