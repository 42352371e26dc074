/**
 * One agent per node at a time: an exclusive flock(2) on a file beside the node's journal
 * (/var/lib/netpol/<node>/profile/agent.lock). During a DaemonSet rollout or a forced pod deletion
 * the old pod may still be stopping — flushing its sinks, draining the ring — while its replacement
 * starts; the two must not append to the same journal or read the same pinned ring. The kernel
 * releases the lock when its holder exits, SIGKILL included, so a dead agent never blocks the next.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import koffi from 'koffi';

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

let flockFn: ((fd: number, op: number) => number) | undefined;

function flock(fd: number, op: number): number {
  flockFn ??= koffi.load('libc.so.6').func('int flock(int fd, int operation)') as (fd: number, op: number) => number;
  return flockFn(fd, op);
}

export class NodeLock {
  private constructor(
    readonly path: string,
    private fd: number | undefined,
  ) {}

  /**
   * Tries once; undefined when another process holds it (`holder()` says who). Throws when the
   * file cannot be opened or locked for another reason.
   */
  static tryAcquire(path: string, directory = false): NodeLock | undefined {
    if (!directory) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // A directory is locked as itself (the BPF filesystem holds no regular files to lock).
    const fd = directory ? openSync(path, 'r') : openSync(path, 'a+', 0o600);
    const rc = flock(fd, LOCK_EX | LOCK_NB);
    if (rc !== 0) {
      const errno = koffi.errno();
      closeSync(fd);
      if (errno === EWOULDBLOCK) return undefined;
      throw new Error(`locking ${path}: errno ${errno}`);
    }
    // Who holds it, for the one who waits (informational: the lock is the flock, not this text).
    if (!directory) {
      ftruncateSync(fd, 0);
      writeSync(fd, `${hostname()} pid ${process.pid}\n`, 0);
    }
    return new NodeLock(path, fd);
  }

  /** What the holder wrote (its pid), for a waiting agent's status. */
  static holder(path: string): string | undefined {
    try {
      if (statSync(path).isDirectory()) return undefined;
      return readFileSync(path, 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  }

  /** Releases it (closing the file releases the flock); idempotent. */
  release(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
