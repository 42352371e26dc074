/**
 * The tracer's kernel side kept across agent restarts, as Cilium keeps its datapath: the maps and
 * the programs' links are pinned in the BPF filesystem, under
 *
 *   <root>/v<PIN_LAYOUT>-<hash>/map_<name>, link_<program>, prog_<program>   (root: /sys/fs/bpf/netpol)
 *
 * where <hash> covers the BPF object file and everything fixed at load (configuration, ring size,
 * programs), so a directory is only ever reopened by an agent that would have loaded the very same
 * thing. While no agent runs the programs go on recording into the pinned ring buffer (what does
 * not fit is counted in the pinned `counters` map); the next agent reopens the maps (bpf_obj_get)
 * and reads on from the ring's consumer position, which lives in the map.
 *
 * `map_events` is pinned last: a directory without it was left by an agent that died while pinning,
 * and is removed (its ring was never reachable by anyone else).
 *
 * No native code here (the CLI loads this module for every command): maps are opened by the tracer.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The layout of the records in the ring (struct tcpconnect_event): bump it whenever tcpconnect.h's
 * event changes, so that a ring left by an older agent is decoded only when its records read the same.
 */
export const PIN_LAYOUT = 1;
/** Where agents pin by default (the DaemonSet mounts the host's /sys/fs/bpf). */
export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/netpol';
/** BPF_FS_MAGIC: pins only work on a BPF filesystem. */
const BPF_FS_MAGIC = 0xcafe4a11;

/** A position in one pinned ring: everything up to `pos` in ring `ring` has been journaled. */
export interface RingMark {
  ring: string;
  pos: number;
}

export interface PinOptions {
  /** Directory in the BPF filesystem holding one directory per pinned object. */
  root: string;
  /** The last ring position the previous agent journaled: records up to it are not delivered again. */
  resumeAfter?: RingMark;
  /**
   * Called before the ring frees settled records (once per drain batch, not per record): a sink
   * that buffers its journal writes it here, so a record is freed only once its line is written.
   */
  beforeFree?: () => void;
}

/** Whether `dir` (or its nearest existing parent) is on a BPF filesystem. */
export function onBpffs(dir: string): boolean {
  let p = dir;
  while (!existsSync(p)) p = join(p, '..');
  try {
    return statfsSync(p).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/** The hash naming a pinned object: the object file and everything fixed when it was loaded. */
export function pinHash(objectPath: string, fixed: unknown): string {
  const h = createHash('sha256');
  h.update(readFileSync(objectPath));
  h.update(JSON.stringify(fixed));
  return h.digest('hex').slice(0, 16);
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

/** One directory of pins. */
export class PinDir {
  constructor(readonly path: string) {}

  static forHash(root: string, hash: string): PinDir {
    return new PinDir(join(root, `v${PIN_LAYOUT}-${hash}`));
  }

  get name(): string {
    return this.path.slice(this.path.lastIndexOf('/') + 1);
  }

  /** Same record layout as this agent's (its ring can be decoded). */
  get sameLayout(): boolean {
    return this.name.startsWith(`v${PIN_LAYOUT}-`);
  }

  /** Everything was pinned (map_events comes last). */
  get complete(): boolean {
    return existsSync(join(this.path, 'map_events'));
  }

  /** The programs whose links are pinned here. */
  linkedPrograms(): string[] {
    return this.entries()
      .filter((f) => f.startsWith('link_'))
      .map((f) => f.slice('link_'.length));
  }

  /** Where program `name`'s link is pinned (while it is attached). */
  linkPath(program: string): string {
    return join(this.path, `link_${program}`);
  }

  /**
   * Where program `name` itself is pinned: a program attached and detached at run time (the
   * sockops hook, on demand) must outlive its agent even while detached, so that the next agent,
   * which reopens rather than loads, can attach it.
   */
  programPath(program: string): string {
    return join(this.path, `prog_${program}`);
  }

  /** Where map `name` is pinned (open it with BpfMap.fromPin). */
  mapPath(name: string): string {
    return join(this.path, `map_${name}`);
  }

  /** The ring's identity: which pinned ring buffer of which boot (positions only compare within one). */
  ringId(): string {
    return `${bootId()}:${this.name}:${statSync(join(this.path, 'map_events')).ino}`;
  }

  /** Creates the directory for pinning (and the root). */
  create(): void {
    mkdirSync(this.path, { recursive: true, mode: 0o700 });
  }

  /**
   * Detaches the programs: their links' pins go (a link nobody holds any more detaches). The maps
   * stay readable through the pins until remove().
   */
  unlinkPrograms(): void {
    for (const f of this.entries()) if (f.startsWith('link_')) unlinkSync(join(this.path, f));
  }

  /** Removes every pin and the directory (and the root once empty): nothing of it stays in the kernel. */
  remove(): void {
    this.unlinkPrograms();
    for (const f of this.entries()) unlinkSync(join(this.path, f));
    try {
      rmdirSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const root = join(this.path, '..');
    try {
      if (readdirSync(root).length === 0) rmdirSync(root);
    } catch {
      /* another agent's directory, or already gone */
    }
  }

  private entries(): string[] {
    try {
      return readdirSync(this.path);
    } catch {
      return [];
    }
  }
}

/** The other pinned objects under `root` (older versions or settings), to be drained and replaced. */
export function otherPinDirs(root: string, mine: PinDir): PinDir[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names.filter((n) => /^v\d+-[0-9a-f]+$/.test(n) && n !== mine.name).map((n) => new PinDir(join(root, n)));
}
