/**
 * The kernel filesystems the agent needs, found (and, as root, mounted) through /proc/self/mountinfo:
 * tracefs (libbpf reads tracepoint ids from it), the BPF filesystem, and the cgroup v2 hierarchy
 * (the sockops program attaches to its root). A fresh machine often has tracefs and bpffs unmounted:
 * with CAP_SYS_ADMIN we mount them where the kernel documents them and say so, rather than fail.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export const TRACEFS_PATH = '/sys/kernel/tracing';
export const BPFFS_PATH = '/sys/fs/bpf';

export interface Mount {
  mountPoint: string;
  fsType: string;
}

/** Mount points and types of this process's mount namespace (mountinfo's escapes decoded). */
export function mounts(mountinfo = readMountinfo()): Mount[] {
  return mountinfo.split('\n').flatMap((line) => {
    // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": fields, " - ", type.
    const sep = line.indexOf(' - ');
    if (sep < 0) return [];
    const mountPoint = line.slice(0, sep).split(' ')[4];
    const fsType = line.slice(sep + 3).split(' ')[0];
    if (!mountPoint || !fsType) return [];
    return [{ mountPoint: mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), fsType }];
  });
}

function readMountinfo(): string {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return '';
  }
}

export function isMounted(path: string, fsType: string, list = mounts()): boolean {
  return list.some((m) => m.mountPoint === path && m.fsType === fsType);
}

/** Where tracefs can be read: its own mount, or the old place under debugfs. */
export function tracefsDir(list = mounts()): string | undefined {
  if (isMounted(TRACEFS_PATH, 'tracefs', list)) return TRACEFS_PATH;
  const old = list.find((m) => m.fsType === 'tracefs' && m.mountPoint === '/sys/kernel/debug/tracing');
  return old?.mountPoint;
}

/**
 * The cgroup v2 hierarchy's root directory: /sys/fs/cgroup on unified systems,
 * /sys/fs/cgroup/unified on hybrid ones (v1 controllers with v2 beside them).
 */
export function cgroup2Root(list = mounts()): string | undefined {
  const v2 = list.filter((m) => m.fsType === 'cgroup2').map((m) => m.mountPoint);
  return v2.find((p) => p === '/sys/fs/cgroup') ?? v2.find((p) => p === '/sys/fs/cgroup/unified') ?? v2[0];
}

/** Mounts a kernel filesystem at its documented place (needs CAP_SYS_ADMIN); the error says why not. */
export function mountKernelFs(fsType: 'tracefs' | 'bpf', path: string): void {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  try {
    execFileSync('mount', ['-t', fsType, fsType, path], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(stderr || (err as Error).message);
  }
}
