/**
 * Swapping two directories in one step: renameat2(2) with RENAME_EXCHANGE, which Node's fs does not
 * offer, called in glibc through koffi (already netpol's FFI for libbpf). Either both names point
 * at the other directory afterwards or neither does: no moment exists in which a reader of either
 * path sees half of one tree and half of the other, or nothing.
 *
 * Linux ≥ 3.15 on ext4, xfs, btrfs, tmpfs, overlayfs and most local file systems. Where it is not
 * available (another OS, NFS, some FUSE file systems, a libc without renameat2) exchangeDirectories
 * says so and the caller falls back to two renames.
 */
import { createRequire } from 'node:module';

const AT_FDCWD = -100;
const RENAME_EXCHANGE = 1 << 1;
/** errno values meaning "this file system or kernel cannot exchange": fall back, it is no failure. */
const UNSUPPORTED = new Set([22 /* EINVAL */, 38 /* ENOSYS */, 95 /* EOPNOTSUPP */]);

type Renameat2 = (olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number) => number;

let bound: { renameat2: Renameat2; errno: () => number } | null | undefined;

function bind(): { renameat2: Renameat2; errno: () => number } | null {
  if (bound !== undefined) return bound;
  try {
    // Loaded on first use: commands that never write a tree do not load the native module.
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const libc = koffi.load('libc.so.6');
    const fn = libc.func('int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)') as Renameat2;
    bound = { renameat2: fn, errno: () => koffi.errno() };
  } catch {
    bound = null;
  }
  return bound;
}

/**
 * Exchanges the directories at `a` and `b` atomically. Returns false when the system cannot (see
 * the module comment); throws, with the errno's code, when it can but this exchange failed.
 */
export function exchangeDirectories(a: string, b: string): boolean {
  const lib = bind();
  if (!lib) return false;
  if (lib.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) === 0) return true;
  const errno = lib.errno();
  if (UNSUPPORTED.has(errno)) return false;
  throw Object.assign(new Error(`cannot exchange ${a} and ${b}: errno ${errno}`), { errno });
}
