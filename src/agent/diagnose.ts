/**
 * Turns "libbpf failed with errno N" into something a user can act on, and checks the usual
 * suspects up front (root / capabilities, kernel BTF, tracefs, the BPF filesystem).
 */
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { EnvironmentError } from '../errors.js';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

export const BTF_PATH = '/sys/kernel/btf/vmlinux';
export const BPFFS_PATH = '/sys/fs/bpf';

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

const NOT_PRIVILEGED_HINT =
  'run as root (sudo netpol ...), or grant CAP_BPF and CAP_PERFMON (setcap cap_bpf,cap_perfmon+ep on node, or securityContext.capabilities.add in a pod)';

/** Throws the first missing prerequisite as an EnvironmentError that says what to do. */
export function preflight(opts: { requireBpffs?: boolean } = {}): void {
  if (!canLoadBpf()) {
    throw new EnvironmentError('netpol needs privileges to load eBPF programs', NOT_PRIVILEGED_HINT);
  }
  if (!existsSync(BTF_PATH)) {
    throw new EnvironmentError(
      `this kernel exposes no BTF type information (${BTF_PATH} is missing)`,
      'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (all major distributions since 2020 ship one)',
    );
  }
  if (!existsSync('/sys/kernel/tracing/events') && !existsSync('/sys/kernel/debug/tracing/events')) {
    throw new EnvironmentError(
      'tracefs is not available, so tracepoints cannot be attached',
      'mount it: mount -t tracefs tracefs /sys/kernel/tracing',
    );
  }
  if (opts.requireBpffs && !isBpffsMounted()) {
    throw new EnvironmentError(`the BPF filesystem is not mounted at ${BPFFS_PATH}`, `mount it: mount -t bpf bpf ${BPFFS_PATH}`);
  }
}

export function isBpffsMounted(): boolean {
  try {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((l) => {
        const [, mnt, type] = l.split(' ');
        return mnt === BPFFS_PATH && type === 'bpf';
      });
  } catch {
    return false;
  }
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
      if (!existsSync('/sys/kernel/tracing/events')) {
        return { message, hint: 'tracefs is not mounted: mount -t tracefs tracefs /sys/kernel/tracing' };
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
