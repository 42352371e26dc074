/**
 * Our libbpf binding: the few libbpf.so.1 entry points netpol needs, called through koffi.
 * libbpf ≥ 1.0 semantics: functions returning a pointer return NULL and set errno; functions
 * returning int return a negative errno. Every failure becomes an EnvironmentError with a hint
 * the user can act on (see diagnose.ts); libbpf's own log is captured for the message.
 */
import koffi, { type LibraryHandle } from 'koffi';
import { EnvironmentError } from '../errors.js';
import { hintFor } from './diagnose.js';

type Pointer = unknown;

interface LibbpfFunctions {
  bpf_object__open_file(path: string, opts: Pointer): Pointer;
  bpf_object__load(obj: Pointer): number;
  bpf_object__close(obj: Pointer): void;
  bpf_object__find_map_by_name(obj: Pointer, name: string): Pointer;
  bpf_object__find_program_by_name(obj: Pointer, name: string): Pointer;
  bpf_map__fd(map: Pointer): number;
  bpf_map__set_max_entries(map: Pointer, n: number): number;
  bpf_map__set_initial_value(map: Pointer, data: Buffer, size: number): number;
  bpf_map__value_size(map: Pointer): number;
  bpf_program__attach(prog: Pointer): Pointer;
  bpf_program__attach_cgroup(prog: Pointer, cgroupFd: number): Pointer;
  bpf_program__set_autoload(prog: Pointer, autoload: boolean): number;
  bpf_program__fd(prog: Pointer): number;
  bpf_link_create(progFd: number, targetFd: number, attachType: number, opts: Pointer): number;
  bpf_obj_pin(fd: number, path: string): number;
  bpf_link__destroy(link: Pointer): number;
  bpf_link__pin(link: Pointer, path: string): number;
  bpf_link__disconnect(link: Pointer): void;
  bpf_link__fd(link: Pointer): number;
  close(fd: number): number;
  bpf_map__pin(map: Pointer, path: string): number;
  bpf_obj_get(path: string): number;
  bpf_obj_get_info_by_fd(fd: number, info: Buffer, len: number[]): number;
  bpf_map_update_elem(fd: number, key: Buffer, value: Buffer, flags: number): number;
  bpf_map_lookup_elem(fd: number, key: Buffer, value: Buffer): number;
  bpf_map_delete_elem(fd: number, key: Buffer): number;
  bpf_map_get_next_key(fd: number, key: Buffer | null, next: Buffer): number;
  libbpf_set_print(fn: Pointer): Pointer;
  vsnprintf(buf: Buffer, size: number, fmt: Pointer, ap: Pointer): number;
  libbpf_num_possible_cpus(): number;
}

let bound: { fns: LibbpfFunctions } | undefined;
/** libbpf's log lines since the last clear (warnings and the verifier's output), the newest 2000 at most. */
const logLines: string[] = [];
const MAX_LOG_LINES = 2000;
let printCallback: unknown;

function call<T extends keyof LibbpfFunctions>(name: T): LibbpfFunctions[T] {
  return lib().fns[name];
}

/** Loads libbpf.so.1 once; throws EnvironmentError when it is missing. */
export function lib(): { fns: LibbpfFunctions } {
  if (bound) return bound;
  let so: LibraryHandle;
  let libc: LibraryHandle;
  try {
    so = koffi.load('libbpf.so.1');
    libc = koffi.load('libc.so.6');
  } catch (err) {
    throw new EnvironmentError(
      `cannot load libbpf.so.1: ${(err as Error).message}`,
      'install libbpf (Debian/Ubuntu: apt-get install libbpf1 libbpf-dev), or run scripts/setup.sh',
    );
  }
  const f = (decl: string) => so.func(decl);
  // Anonymous: koffi's type names are global to the process, and a second copy of this module (a
  // bench's --baseline checkout, loaded beside this one) registering the same name would throw.
  const printProto = koffi.proto(null, 'int', ['int', 'const char *', 'void *']);
  const fns: LibbpfFunctions = {
    bpf_object__open_file: f('void *bpf_object__open_file(const char *path, void *opts)'),
    bpf_object__load: f('int bpf_object__load(void *obj)'),
    bpf_object__close: f('void bpf_object__close(void *obj)'),
    bpf_object__find_map_by_name: f('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
    bpf_object__find_program_by_name: f('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
    bpf_map__fd: f('int bpf_map__fd(void *map)'),
    bpf_map__set_max_entries: f('int bpf_map__set_max_entries(void *map, uint32_t n)'),
    bpf_map__set_initial_value: f('int bpf_map__set_initial_value(void *map, const void *data, size_t size)'),
    bpf_map__value_size: f('uint32_t bpf_map__value_size(void *map)'),
    bpf_program__attach: f('void *bpf_program__attach(void *prog)'),
    bpf_program__attach_cgroup: f('void *bpf_program__attach_cgroup(void *prog, int cgroup_fd)'),
    bpf_program__set_autoload: f('int bpf_program__set_autoload(void *prog, bool autoload)'),
    bpf_program__fd: f('int bpf_program__fd(const void *prog)'),
    bpf_link_create: f('int bpf_link_create(int prog_fd, int target_fd, int attach_type, const void *opts)'),
    bpf_obj_pin: f('int bpf_obj_pin(int fd, const char *pathname)'),
    bpf_link__destroy: f('int bpf_link__destroy(void *link)'),
    bpf_link__pin: f('int bpf_link__pin(void *link, const char *path)'),
    bpf_link__disconnect: f('void bpf_link__disconnect(void *link)'),
    bpf_link__fd: f('int bpf_link__fd(const void *link)'),
    close: libc.func('int close(int fd)'),
    bpf_map__pin: f('int bpf_map__pin(void *map, const char *path)'),
    bpf_obj_get: f('int bpf_obj_get(const char *pathname)'),
    bpf_obj_get_info_by_fd: f('int bpf_obj_get_info_by_fd(int bpf_fd, _Inout_ void *info, _Inout_ uint32_t *info_len)'),
    bpf_map_update_elem: f('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    bpf_map_lookup_elem: f('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)'),
    bpf_map_delete_elem: f('int bpf_map_delete_elem(int fd, const void *key)'),
    bpf_map_get_next_key: f('int bpf_map_get_next_key(int fd, const void *key, _Out_ void *next)'),
    libbpf_set_print: so.func('libbpf_set_print', 'void *', [koffi.pointer(printProto)]),
    vsnprintf: libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, void *fmt, void *ap)'),
    libbpf_num_possible_cpus: f('int libbpf_num_possible_cpus(void)'),
  };
  bound = { fns };
  // Capture libbpf's log (it is printf-style with a va_list: format it with the C library).
  const scratch = Buffer.alloc(1 << 20); // the verifier log arrives as one string
  printCallback = koffi.register((level: number, fmt: unknown, ap: unknown) => {
    const n = fns.vsnprintf(scratch, scratch.length, fmt, ap);
    const text = scratch.subarray(0, Math.max(0, Math.min(n, scratch.length - 1))).toString('utf8');
    // One line at a time: a verifier log is tens of thousands of lines, and spread into push() as
    // arguments they would all go on the stack this callback runs on.
    for (const l of text.split('\n')) if (l !== '') logLines.push(level === 0 ? `warn: ${l}` : l);
    if (logLines.length > MAX_LOG_LINES) logLines.splice(0, logLines.length - MAX_LOG_LINES / 2);
    if (process.env.NETPOL_LIBBPF_DEBUG) process.stderr.write(text);
    return 0;
  }, koffi.pointer(printProto));
  fns.libbpf_set_print(printCallback);
  return bound;
}

function failure(what: string, errno: number): EnvironmentError {
  const tail = logLines.slice(-12).join('\n    ');
  const { message, hint } = hintFor(what, errno);
  return new EnvironmentError(tail ? `${message}\n  libbpf said:\n    ${tail}` : message, hint);
}

function isNull(p: Pointer): boolean {
  return p === null || p === undefined || koffi.address(p) === 0n;
}

/** A loaded BPF map, addressed by its file descriptor. */
export class BpfMap {
  constructor(
    readonly name: string,
    readonly fd: number,
  ) {}

  /**
   * A map pinned in the BPF filesystem by an earlier agent (BpfObject.pin), reopened: the kernel
   * kept it, and whatever its programs wrote into it, while no process held it.
   */
  static fromPin(name: string, path: string): BpfMap {
    const fd = call('bpf_obj_get')(path);
    if (fd < 0) throw failure(`opening the pinned BPF map ${path}`, -fd);
    return new BpfMap(name, fd);
  }

  update(key: Buffer, value: Buffer, flags = 0): void {
    const rc = call('bpf_map_update_elem')(this.fd, key, value, flags);
    if (rc < 0) throw failure(`updating BPF map ${this.name}`, -rc);
  }

  /** update() that returns the error (-errno; 0 on success) instead of throwing: EEXIST with BPF_NOEXIST, E2BIG when full. */
  tryUpdate(key: Buffer, value: Buffer, flags = 0): number {
    return call('bpf_map_update_elem')(this.fd, key, value, flags) as number;
  }

  /** The value, or undefined when the key is absent. */
  lookup(key: Buffer, valueSize: number): Buffer | undefined {
    const value = Buffer.alloc(valueSize);
    const rc = call('bpf_map_lookup_elem')(this.fd, key, value);
    if (rc === -2) return undefined;
    if (rc < 0) throw failure(`reading BPF map ${this.name}`, -rc);
    return value;
  }

  delete(key: Buffer): boolean {
    const rc = call('bpf_map_delete_elem')(this.fd, key);
    if (rc === -2) return false;
    if (rc < 0) throw failure(`deleting from BPF map ${this.name}`, -rc);
    return true;
  }

  /** max_entries (struct bpf_map_info: type, id, key_size, value_size, max_entries, ...). */
  maxEntries(): number {
    const info = Buffer.alloc(96);
    const len = [info.length];
    const rc = call('bpf_obj_get_info_by_fd')(this.fd, info, len);
    if (rc < 0) throw failure(`reading the BPF map ${this.name}'s info`, -rc);
    return info.readUInt32LE(16);
  }

  /** Closes a map opened from a pin (fromPin); a loaded object's maps close with the object. */
  close(): void {
    call('close')(this.fd);
  }

  /** All keys (a snapshot; entries may come and go while iterating). */
  keys(keySize: number): Buffer[] {
    const out: Buffer[] = [];
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(keySize);
      const rc = call('bpf_map_get_next_key')(this.fd, prev, next);
      if (rc === -2) return out;
      if (rc < 0) throw failure(`iterating BPF map ${this.name}`, -rc);
      out.push(next);
      prev = next;
    }
  }
}

export interface OpenOptions {
  /** Map name → max_entries, applied before load (e.g. the ring buffer size). */
  maxEntries?: Record<string, number>;
  /** Bytes of the object's .rodata (its `const volatile` tunables), applied before load. */
  rodata?: Buffer;
  /**
   * Programs not to load at all: a program that is not wanted must not be handed to the verifier
   * either (a sockops program, for one, needs CAP_NET_ADMIN to load).
   */
  skipPrograms?: readonly string[];
}

/** An opened and loaded BPF object with its attached programs. Close it exactly once. */
export class BpfObject {
  private links: { program: string; link: Pointer }[] = [];
  private closed = false;
  /** Pinned: close() leaves the programs attached (their links are held by the BPF filesystem). */
  private pinned = false;

  private constructor(
    readonly path: string,
    private obj: Pointer,
  ) {}

  /** Opens and loads the object file (verifier runs here). */
  static load(path: string, opts: OpenOptions = {}): BpfObject {
    const { fns } = lib();
    logLines.length = 0;
    const obj = fns.bpf_object__open_file(path, null);
    if (isNull(obj)) throw failure(`opening BPF object ${path}`, koffi.errno());
    const self = new BpfObject(path, obj);
    try {
      for (const [name, n] of Object.entries(opts.maxEntries ?? {})) {
        const map = self.find('map', name);
        const rc = fns.bpf_map__set_max_entries(map, n);
        if (rc < 0) throw failure(`sizing BPF map ${name}`, -rc);
      }
      if (opts.rodata) {
        const map = self.find('map', '.rodata');
        const size = fns.bpf_map__value_size(map);
        if (size !== opts.rodata.length) {
          throw new EnvironmentError(`${path}: .rodata is ${size} bytes, the loader expects ${opts.rodata.length} (rebuild: make -C bpf)`);
        }
        const rc = fns.bpf_map__set_initial_value(map, opts.rodata, opts.rodata.length);
        if (rc < 0) throw failure('setting the BPF program configuration', -rc);
      }
      for (const name of opts.skipPrograms ?? []) {
        const rc = fns.bpf_program__set_autoload(self.find('program', name), false);
        if (rc < 0) throw failure(`leaving BPF program ${name} out`, -rc);
      }
      const rc = fns.bpf_object__load(obj);
      if (rc < 0) throw failure(`loading BPF object ${path}`, -rc);
    } catch (err) {
      self.close();
      throw err;
    }
    return self;
  }

  /** A map or program of the object by name; none means the object was built from other sources. */
  private find(kind: 'map' | 'program', name: string): Pointer {
    const { fns } = lib();
    const found = kind === 'map' ? fns.bpf_object__find_map_by_name(this.obj, name) : fns.bpf_object__find_program_by_name(this.obj, name);
    if (isNull(found)) throw new EnvironmentError(`${this.path}: no BPF ${kind} named ${name} (rebuild: make -C bpf)`);
    return found;
  }

  map(name: string): BpfMap {
    const fd = lib().fns.bpf_map__fd(this.find('map', name));
    if (fd < 0) throw failure(`BPF map ${name}`, -fd);
    return new BpfMap(name, fd);
  }

  /** Attaches a program where its SEC() says (tracepoint/<category>/<name>). */
  attach(programName: string): void {
    const link = lib().fns.bpf_program__attach(this.find('program', programName));
    if (isNull(link)) throw failure(`attaching BPF program ${programName}`, koffi.errno());
    this.links.push({ program: programName, link });
  }

  /**
   * Attaches a cgroup program (sockops, ...) to the cgroup v2 directory `cgroupDirFd` as a BPF
   * link: links are multi-attach, so programs others attached to the same cgroup keep running, and
   * the link goes away with close() (or with the process).
   */
  attachCgroup(programName: string, cgroupDirFd: number): void {
    const link = lib().fns.bpf_program__attach_cgroup(this.find('program', programName), cgroupDirFd);
    if (isNull(link)) throw failure(`attaching BPF program ${programName} to the cgroup v2 root`, koffi.errno());
    this.links.push({ program: programName, link });
  }

  /** A loaded program's descriptor (owned by the object: valid until close()). */
  programFd(programName: string): number {
    const fd = lib().fns.bpf_program__fd(this.find('program', programName));
    if (fd < 0) throw failure(`BPF program ${programName}`, -fd);
    return fd;
  }

  /** The programs attached so far, in order. */
  get attached(): string[] {
    return this.links.map((l) => l.program);
  }

  /**
   * Pins the named maps as `<dir>/map_<name>` and every attached program's link as
   * `<dir>/link_<program>`, then `last` (a map) — so a directory holding `map_<last>` is complete.
   * From then on the programs stay attached and the maps keep what they record after this process
   * ends (SIGKILL included), until the pins are removed (unlink, or rm -r of the directory).
   */
  pin(dir: string, maps: readonly string[], last: string): void {
    const { fns } = lib();
    for (const name of maps) {
      const rc = fns.bpf_map__pin(this.find('map', name), `${dir}/map_${name}`);
      if (rc < 0) throw failure(`pinning BPF map ${name} in ${dir}`, -rc);
    }
    for (const { program, link } of this.links) {
      const rc = fns.bpf_link__pin(link, `${dir}/link_${program}`);
      if (rc < 0) throw failure(`pinning the link of BPF program ${program} in ${dir}`, -rc);
    }
    const rc = fns.bpf_map__pin(this.find('map', last), `${dir}/map_${last}`);
    if (rc < 0) throw failure(`pinning BPF map ${last} in ${dir}`, -rc);
    this.pinned = true;
  }

  /** Detaches every program and closes the object (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const { fns } = lib();
    for (const { link } of this.links.splice(0)) {
      // A pinned link must outlive us: without disconnect, destroy would also disable a
      // tracepoint's perf event (PERF_EVENT_IOC_DISABLE) under the pinned link.
      if (this.pinned) {
        const fd = fns.bpf_link__fd(link);
        fns.bpf_link__disconnect(link);
        if (fd >= 0) fns.close(fd);
      }
      fns.bpf_link__destroy(link);
    }
    fns.bpf_object__close(this.obj);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** BPF_CGROUP_SOCK_OPS (enum bpf_attach_type). */
const BPF_CGROUP_SOCK_OPS = 3;

/**
 * A sockops program (by descriptor: loaded now, or reopened from its pin) attached to the cgroup
 * v2 directory `cgroupDirFd` as a BPF link, held by the returned descriptor: closing it (and
 * removing its pin, if pinned) detaches the program. Unlike BpfObject.attachCgroup, this works for
 * a program this process did not load (a restarted agent attaching its predecessor's program).
 */
export function linkSockops(progFd: number, cgroupDirFd: number): number {
  const fd = lib().fns.bpf_link_create(progFd, cgroupDirFd, BPF_CGROUP_SOCK_OPS, null);
  if (fd < 0) throw failure('attaching the sockops program to the cgroup v2 root', -fd);
  return fd;
}

/** Pins a program or link descriptor at `path` in the BPF filesystem. */
export function pinFd(fd: number, path: string): void {
  const rc = lib().fns.bpf_obj_pin(fd, path);
  if (rc < 0) throw failure(`pinning ${path}`, -rc);
}

/** Opens a pinned program or link (bpf_obj_get); close it with closeFd. */
export function openPinned(path: string): number {
  const fd = lib().fns.bpf_obj_get(path);
  if (fd < 0) throw failure(`opening ${path}`, -fd);
  return fd;
}

export function closeFd(fd: number): void {
  lib().fns.close(fd);
}

export function possibleCpus(): number {
  return lib().fns.libbpf_num_possible_cpus();
}

let libcMm: { mmap: (addr: null, len: number, prot: number, flags: number, fd: number, off: number) => unknown; munmap: (p: unknown, len: number) => number; sysconf: (n: number) => number } | undefined;

function libcMemory(): NonNullable<typeof libcMm> {
  if (!libcMm) {
    const libc = koffi.load('libc.so.6');
    libcMm = {
      mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)'),
      munmap: libc.func('int munmap(void *addr, size_t length)'),
      sysconf: libc.func('long sysconf(int name)'),
    };
  }
  return libcMm;
}

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const SC_PAGESIZE = 30;
const RINGBUF_BUSY_BIT = 0x80000000;
const RINGBUF_DISCARD_BIT = 0x40000000;
const RINGBUF_HDR_SZ = 8;

/**
 * A BPF ring buffer read straight from JavaScript: the map is mmap'ed (consumer page read-write,
 * producer page and the double-mapped data area read-only, the kernel's layout) and records are
 * handed out as views, with no native call per record — the same protocol libbpf's
 * ring_buffer__consume() follows (busy bit: not committed yet; discard bit: skip).
 */
export class MappedRingBuffer {
  private readonly consumerPtr: unknown;
  private readonly producerPtr: unknown;
  private readonly consumerPos: BigUint64Array;
  private readonly producerPos: BigUint64Array;
  private readonly data: DataView;
  private readonly bytes: Uint8Array;
  private readonly pageSize: number;
  private closed = false;

  /**
   * With manualCommit the kernel's consumer position moves only on commit(): records handed out
   * stay in the ring (the kernel counts them as unread space) until their reader says they are
   * safe, so a reader killed before that leaves them for the next one (a pinned ring).
   */
  private readPos = 0;

  constructor(
    readonly fd: number,
    readonly size: number,
    private readonly manualCommit = false,
  ) {
    const { mmap, sysconf } = libcMemory();
    this.pageSize = sysconf(SC_PAGESIZE);
    this.consumerPtr = mmap(null, this.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (isNull(this.consumerPtr) || koffi.address(this.consumerPtr) === 0xffffffffffffffffn) {
      throw failure('mapping the ring buffer consumer page', koffi.errno());
    }
    this.producerPtr = mmap(null, this.pageSize + 2 * size, PROT_READ, MAP_SHARED, fd, this.pageSize);
    if (isNull(this.producerPtr) || koffi.address(this.producerPtr) === 0xffffffffffffffffn) {
      libcMemory().munmap(this.consumerPtr, this.pageSize);
      throw failure('mapping the ring buffer data', koffi.errno());
    }
    this.consumerPos = new BigUint64Array(koffi.view(this.consumerPtr, this.pageSize), 0, 1);
    const producer = koffi.view(this.producerPtr, this.pageSize + 2 * size);
    this.producerPos = new BigUint64Array(producer, 0, 1);
    this.data = new DataView(producer, this.pageSize);
    this.bytes = new Uint8Array(producer, this.pageSize);
    this.readPos = Number(this.consumerPos[0]);
  }

  /** The kernel's consumer position: everything before it is free for the producer. */
  get committed(): number {
    return Number(Atomics.load(this.consumerPos, 0));
  }

  /** manualCommit: how far records have been handed out. */
  get read(): number {
    return this.readPos;
  }

  /** The producer position: everything before it has been reserved. */
  get produced(): number {
    return Number(Atomics.load(this.producerPos, 0));
  }

  /** manualCommit: frees the ring up to `pos` (a record's end, as given to onRecord). */
  commit(pos: number): void {
    if (pos > this.committed) Atomics.store(this.consumerPos, 0, BigInt(pos));
  }

  /** manualCommit: reads on from `pos` (a record boundary after the committed position) and frees what lies before; returns how many records that skipped. */
  skipTo(pos: number): number {
    if (pos <= this.committed || pos > this.produced) return 0;
    let skipped = 0;
    for (let at = this.committed; at < pos; ) {
      const header = this.data.getUint32(at % this.size, true);
      if (header & RINGBUF_BUSY_BIT) break;
      const len = header & ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT);
      if (!(header & RINGBUF_DISCARD_BIT)) skipped++;
      at += (len + RINGBUF_HDR_SZ + 7) & ~7;
    }
    this.readPos = pos;
    this.commit(pos);
    return skipped;
  }

  /**
   * Hands committed records to `onRecord(view, offset, length, end)` (valid during the call only;
   * `end` is the ring position after the record), at most `limit`; returns how many were consumed
   * and whether more are waiting.
   */
  consume(onRecord: (data: DataView, bytes: Uint8Array, offset: number, length: number, end: number) => void, limit: number): { count: number; more: boolean } {
    if (this.closed) return { count: 0, more: false };
    let cons = this.manualCommit ? this.readPos : Number(this.consumerPos[0]);
    const prod = Number(Atomics.load(this.producerPos, 0));
    const start = cons;
    let count = 0;
    try {
      while (cons < prod && count < limit) {
        const off = cons % this.size;
        const header = this.data.getUint32(off, true);
        if (header & RINGBUF_BUSY_BIT) break; // reserved, not submitted yet
        const len = header & ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT);
        const end = cons + ((len + RINGBUF_HDR_SZ + 7) & ~7);
        if (!(header & RINGBUF_DISCARD_BIT)) {
          onRecord(this.data, this.bytes, off + RINGBUF_HDR_SZ, len, end);
          count++;
        }
        cons = end;
      }
    } finally {
      // The consumer position moves once per batch, not per record as libbpf does: per record, a
      // connect storm paid a BigInt and a store to the page the producing CPUs read for every event.
      // The kernel gets the space back when the batch is done (at most `limit` records of a ring
      // that holds tens of thousands). A record whose handler threw is not consumed, as before.
      if (this.manualCommit) this.readPos = cons;
      else if (cons !== start) Atomics.store(this.consumerPos, 0, BigInt(cons));
    }
    return { count, more: cons < prod };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const { munmap } = libcMemory();
    munmap(this.producerPtr, this.pageSize + 2 * this.size);
    munmap(this.consumerPtr, this.pageSize);
  }
}
