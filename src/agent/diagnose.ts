/**
 * Turns "libbpf failed with errno N" into something a user can act on, and checks the usual
 * suspects up front (root / capabilities, kernel BTF, tracefs, the BPF filesystem).
 */
import { accessSync, constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { EnvironmentError } from '../errors.js';
import { BPFFS_PATH, TRACEFS_PATH, isMounted, mountKernelFs, tracefsDir } from './mounts.js';

const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

export const BTF_PATH = '/sys/kernel/btf/vmlinux';
export { BPFFS_PATH };

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** Effective capabilities of this process (from /proc/self/status). */
export function effectiveCaps(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m?.[1] ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

function hasCap(caps: bigint, cap: bigint): boolean {
  return (caps & (1n << cap)) !== 0n;
}

/** True when this process may load tracing BPF programs (root, or CAP_BPF + CAP_PERFMON). */
export function canLoadBpf(caps = effectiveCaps()): boolean {
  return hasCap(caps, CAP_SYS_ADMIN) || (hasCap(caps, CAP_BPF) && hasCap(caps, CAP_PERFMON));
}

/** True when this process may load and attach networking cgroup programs (sockops). */
export function canLoadNetPrograms(caps = effectiveCaps()): boolean {
  return hasCap(caps, CAP_SYS_ADMIN) || hasCap(caps, CAP_NET_ADMIN);
}

/** True when this process may mount filesystems (tracefs, bpffs) itself. */
export function canMount(caps = effectiveCaps()): boolean {
  return hasCap(caps, CAP_SYS_ADMIN);
}

const NOT_PRIVILEGED_HINT =
  'run as root (sudo netpol ...), or grant CAP_BPF and CAP_PERFMON (setcap cap_bpf,cap_perfmon+ep on node, or securityContext.capabilities.add in a pod)';

/**
 * Throws the first missing prerequisite as an EnvironmentError that says what to do. As root, a
 * tracefs or BPF filesystem that is not mounted is mounted (and said on stderr): a fresh machine has
 * neither, and the fix is the same every time. Without CAP_SYS_ADMIN the error names the permission
 * that is missing rather than blaming the filesystem: with CAP_BPF and CAP_PERFMON alone tracefs is
 * mounted but root-only (mode 700), and libbpf cannot read the tracepoint ids in it.
 */
export function preflight(opts: { requireBpffs?: boolean; notice?: (text: string) => void } = {}): void {
  const notice = opts.notice ?? ((text: string) => process.stderr.write(`netpol: ${text}\n`));
  if (!canLoadBpf()) {
    throw new EnvironmentError('netpol needs privileges to load eBPF programs', NOT_PRIVILEGED_HINT);
  }
  if (!existsSync(BTF_PATH)) {
    throw new EnvironmentError(
      `this kernel exposes no BTF type information (${BTF_PATH} is missing)`,
      'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (all major distributions since 2020 ship one)',
    );
  }
  let tracing = tracefsDir();
  if (!tracing) {
    if (!canMount()) {
      throw new EnvironmentError(
        `tracefs is not mounted at ${TRACEFS_PATH}, and this process lacks CAP_SYS_ADMIN to mount it`,
        `mount it once as root: mount -t tracefs tracefs ${TRACEFS_PATH} (or run netpol as root, which mounts it)`,
      );
    }
    try {
      mountKernelFs('tracefs', TRACEFS_PATH);
    } catch (err) {
      throw new EnvironmentError(`tracefs is not mounted and mounting it at ${TRACEFS_PATH} failed: ${(err as Error).message}`, `mount it: mount -t tracefs tracefs ${TRACEFS_PATH}`);
    }
    notice(`mounted tracefs at ${TRACEFS_PATH} (it was not mounted; tracepoints are attached through it)`);
    tracing = TRACEFS_PATH;
  }
  try {
    accessSync(`${tracing}/events`, fsConstants.R_OK | fsConstants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new EnvironmentError(
        `permission denied reading ${tracing}/events: tracefs is root-only, and CAP_BPF with CAP_PERFMON does not open it (libbpf reads tracepoint ids there)`,
        'run as root, or also grant CAP_DAC_READ_SEARCH (setcap cap_bpf,cap_perfmon,cap_dac_read_search+ep, or add it to the pod\'s securityContext.capabilities)',
      );
    }
    throw new EnvironmentError(`tracefs at ${tracing} has no events directory (${code ?? 'unknown error'})`, 'this kernel may lack CONFIG_FTRACE_SYSCALLS / tracepoints');
  }
  if (opts.requireBpffs && !isBpffsMounted()) {
    if (!canMount()) throw new EnvironmentError(`the BPF filesystem is not mounted at ${BPFFS_PATH}`, `mount it: mount -t bpf bpf ${BPFFS_PATH}`);
    try {
      mountKernelFs('bpf', BPFFS_PATH);
    } catch (err) {
      throw new EnvironmentError(`the BPF filesystem is not mounted and mounting it at ${BPFFS_PATH} failed: ${(err as Error).message}`, `mount it: mount -t bpf bpf ${BPFFS_PATH}`);
    }
    notice(`mounted the BPF filesystem at ${BPFFS_PATH} (it was not mounted)`);
  }
}

export function isBpffsMounted(): boolean {
  return isMounted(BPFFS_PATH, 'bpf');
}

/** Message and hint for a failed libbpf call. */
export function hintFor(what: string, errno: number): { message: string; hint?: string } {
  const message = `${what} failed: ${errnoName(errno)}`;
  switch (errno) {
    case constants.errno.EPERM:
    case constants.errno.EACCES:
      if (!canLoadBpf()) return { message, hint: NOT_PRIVILEGED_HINT };
      return {
        message,
        hint: 'the verifier or a security module refused the program; rerun with NETPOL_LIBBPF_DEBUG=1 for the verifier log',
      };
    case constants.errno.ENOENT:
      if (!existsSync(BTF_PATH)) {
        return { message, hint: 'the kernel has no BTF (CONFIG_DEBUG_INFO_BTF=y is needed for CO-RE programs)' };
      }
      if (!tracefsDir()) {
        return { message, hint: `tracefs is not mounted: mount -t tracefs tracefs ${TRACEFS_PATH}` };
      }
      return { message, hint: 'the BPF object does not exist or names a tracepoint this kernel lacks; rebuild it with make -C bpf' };
    case constants.errno.ESRCH:
      return { message, hint: 'a kernel type or field the program relies on is missing (CO-RE relocation failed); check the kernel version' };
    case constants.errno.ENOMEM:
      return { message, hint: 'the kernel refused the memory for BPF maps; free memory or lower the ring buffer size' };
    case constants.errno.EINVAL:
      return { message, hint: 'the kernel rejected the program or map (too old a kernel? needs ≥ 5.8 for the ring buffer)' };
    default:
      return { message };
  }
}
