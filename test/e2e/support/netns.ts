/**
 * Network namespaces for e2e tests: isolated "hosts" joined by veth pairs, to the root namespace
 * or to each other. Addresses come from the documentation ranges only (198.51.100.0/24,
 * 203.0.113.0/24, 2001:db8::/32 — never 192.0.2.0/24, which this machine's own uplink uses), in a
 * random /29 so concurrent suites rarely collide. Nothing gets a default route, so traffic cannot
 * leave the machine. Everything a test creates is removed by destroy()/destroyAll().
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';

function run(argv: string[]): string {
  return execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const created = new Set<Netns>();

export interface Link {
  /** Interface names at each end. */
  ifA: string;
  ifB: string;
  /** Addresses at each end (without prefix length). */
  ipv4A: string;
  ipv4B: string;
  ipv6A: string;
  ipv6B: string;
}

export class Netns {
  private constructor(readonly name: string) {}

  static create(prefix = 'np'): Netns {
    const name = `${prefix}-${process.pid % 10000}-${randomInt(1 << 24).toString(16)}`;
    run(['ip', 'netns', 'add', name]);
    const ns = new Netns(name);
    created.add(ns);
    ns.exec(['ip', 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Inode of the namespace: what the kernel reports as its id (e.g. in tcpconnect events). */
  get inode(): number {
    return Number(statSync(`/run/netns/${this.name}`).ino);
  }

  exec(argv: string[]): string {
    return run(['ip', 'netns', 'exec', this.name, ...argv]);
  }

  /**
   * Spawns argv inside the namespace. nsenter enters only the network namespace (ip netns exec
   * would also give the process a mount namespace of its own) and execs in place, so child.pid is
   * argv's pid and its mount namespace is the caller's.
   */
  spawn(argv: string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn('nsenter', [`--net=/run/netns/${this.name}`, '--', ...argv], { stdio: 'ignore', ...opts });
  }

  destroy(): void {
    created.delete(this);
    if (existsSync(`/run/netns/${this.name}`)) {
      // Kill what still runs inside, then delete (veth pairs go with the namespace).
      try {
        const pids = run(['ip', 'netns', 'pids', this.name]).split('\n').filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      } catch {
        /* namespace already half gone */
      }
      run(['ip', 'netns', 'del', this.name]);
    }
  }
}

/** A random /29 in a documentation range (IPv4) and a random /64 in 2001:db8::/32. */
export function randomSubnet(): { v4: (host: number) => string; v6: (host: number) => string } {
  const range = randomInt(2) === 0 ? '198.51.100' : '203.0.113';
  const base = randomInt(32) * 8;
  const tag = randomInt(1, 0xffff).toString(16);
  return { v4: (h) => `${range}.${base + h}`, v6: (h) => `2001:db8:${tag}::${h.toString(16)}` };
}

function vethNames(): [string, string] {
  const tag = randomInt(1 << 24).toString(16);
  return [`npa${tag}`, `npb${tag}`];
}

function addAddrs(inNs: Netns | null, ifName: string, v4: string, v6: string): void {
  const ip = (args: string[]) => (inNs ? inNs.exec(['ip', ...args]) : run(['ip', ...args]));
  ip(['addr', 'add', `${v4}/29`, 'dev', ifName]);
  ip(['-6', 'addr', 'add', `${v6}/64`, 'dev', ifName, 'nodad']);
  ip(['link', 'set', ifName, 'up']);
}

/**
 * Joins two namespaces (or a namespace and the root namespace when `a` is null) with a veth pair
 * on a fresh /29 + /64. The root side needs no route: the subnet is on-link there.
 */
export function link(a: Netns | null, b: Netns): Link {
  const [ifA, ifB] = vethNames();
  const net = randomSubnet();
  run(['ip', 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB]);
  if (a) run(['ip', 'link', 'set', ifA, 'netns', a.name]);
  run(['ip', 'link', 'set', ifB, 'netns', b.name]);
  const l: Link = { ifA, ifB, ipv4A: net.v4(1), ipv4B: net.v4(2), ipv6A: net.v6(1), ipv6B: net.v6(2) };
  addAddrs(a, ifA, l.ipv4A, l.ipv6A);
  addAddrs(b, ifB, l.ipv4B, l.ipv6B);
  if (!a) {
    // Safety: the destination must resolve to our veth, never to the machine's uplink.
    const route = run(['ip', 'route', 'get', l.ipv4B]);
    if (!route.includes(`dev ${ifA}`)) throw new Error(`refusing to continue: ${l.ipv4B} does not route via ${ifA}: ${route}`);
  }
  return l;
}

/** Adds an nftables rule set inside the namespace (e.g. drop SYNs to a port). */
export function nft(ns: Netns, script: string): void {
  execFileSync('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input: script, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Removes every namespace this process created (call it in afterAll). */
export function destroyAll(): void {
  for (const ns of [...created]) ns.destroy();
}

/** Waits until `port` is listening inside the namespace. */
export async function waitListening(ns: Netns, port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  while (Date.now() < deadline) {
    const tables = ns.exec(['cat', '/proc/net/tcp', '/proc/net/tcp6']);
    if (tables.split('\n').some((l) => l.includes(hex) && / 0A /.test(l))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on port ${port} in ${ns.name}`);
}
