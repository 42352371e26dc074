/**
 * CIDR aggregation for opt-in widening (`learn --aggregate-cidr`). Two steps, in this order:
 *
 * 1. Exact cover: sibling blocks merge into their parent as long as no address is added
 *    (10.0.0.0/32 + 10.0.0.1/32 → 10.0.0.0/31). The allowed set does not change, only its spelling.
 * 2. Floor (optional, per family): two or more blocks that fall into the same floor-sized block
 *    collapse into it (floor 24: 1.1.1.7 and 1.1.1.9 → 1.1.1.0/24). This adds addresses. A block
 *    alone in its floor block stays as it is, so a single observed address is never widened.
 *
 * Pure functions over canonical IP strings; the synthesizer reports every block that covers more
 * than one observed address as a widening.
 */
import { NetpolError } from '../errors.js';
import { canonicalIp, ipFamily, ipToBigInt, type Cidr, formatCidr } from '../flows/ip.js';

export interface CidrAggregateOptions {
  /** IPv4 floor prefix (1-32); absent: exact cover only. */
  floorV4?: number;
  /** IPv6 floor prefix (1-128); absent: exact cover only. */
  floorV6?: number;
}

export interface AggregatedBlock {
  /** The resulting block, e.g. `10.0.0.0/31`. */
  cidr: string;
  /** The observed addresses it covers, sorted numerically. */
  members: string[];
  /** True when the block holds exactly the members (no address was added). */
  exact: boolean;
  /** How many addresses the block allows that were not observed. */
  added: bigint;
}

function bitsOf(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

function blockSize(c: Cidr): bigint {
  return 1n << BigInt(bitsOf(c.family) - c.prefix);
}

function contains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.prefix > inner.prefix) return false;
  const shift = BigInt(bitsOf(outer.family) - outer.prefix);
  return outer.base >> shift === inner.base >> shift;
}

function parentOf(c: Cidr): Cidr {
  const prefix = c.prefix - 1;
  const shift = BigInt(bitsOf(c.family) - prefix);
  return { family: c.family, prefix, base: (c.base >> shift) << shift };
}

function areSiblings(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.prefix === b.prefix && a.prefix > 0 && a.base !== b.base && parentOf(a).base === parentOf(b).base;
}

function compareCidr(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.base !== b.base) return a.base < b.base ? -1 : 1;
  return a.prefix - b.prefix;
}

/**
 * The smallest list of blocks covering exactly the union of the inputs: contained blocks are
 * dropped, then siblings merge (repeatedly, so four /32s become one /30). Sorted by family, address.
 */
export function exactCover(blocks: Cidr[]): Cidr[] {
  const sorted = [...blocks].sort(compareCidr);
  const stack: Cidr[] = [];
  for (const block of sorted) {
    const top = stack[stack.length - 1];
    if (top && contains(top, block)) continue;
    stack.push(block);
    for (;;) {
      const b = stack[stack.length - 1]!;
      const a = stack[stack.length - 2];
      if (!a || !areSiblings(a, b)) break;
      stack.splice(stack.length - 2, 2, parentOf(a));
    }
  }
  return stack;
}

function checkFloor(floor: number | undefined, family: 4 | 6): void {
  if (floor === undefined) return;
  const bits = bitsOf(family);
  if (!Number.isInteger(floor) || floor < 1 || floor > bits) {
    throw new NetpolError(`--aggregate-cidr: the IPv${family} floor prefix must be an integer from 1 to ${bits}, got ${floor}`);
  }
}

export function validateCidrAggregateOptions(options: CidrAggregateOptions): void {
  checkFloor(options.floorV4, 4);
  checkFloor(options.floorV6, 6);
}

function applyFloor(blocks: Cidr[], floor: number | undefined): Cidr[] {
  if (floor === undefined) return blocks;
  const groups = new Map<string, Cidr[]>();
  const out: Cidr[] = [];
  for (const b of blocks) {
    if (b.prefix <= floor) {
      out.push(b);
      continue;
    }
    const shift = BigInt(bitsOf(b.family) - floor);
    const key = `${b.family}/${(b.base >> shift).toString(16)}`;
    const list = groups.get(key) ?? [];
    list.push(b);
    groups.set(key, list);
  }
  for (const list of groups.values()) {
    const first = list[0]!;
    if (list.length === 1) {
      out.push(first);
      continue;
    }
    const shift = BigInt(bitsOf(first.family) - floor);
    out.push({ family: first.family, prefix: floor, base: (first.base >> shift) << shift });
  }
  return exactCover(out);
}

/**
 * Aggregates observed host addresses (IPv4 and IPv6 mixed) into blocks: exact cover, then the
 * floor of each family when given. Every input address is covered by exactly one output block.
 */
export function aggregateAddresses(ips: Iterable<string>, options: CidrAggregateOptions = {}): AggregatedBlock[] {
  validateCidrAggregateOptions(options);
  const hosts = new Map<string, Cidr>();
  for (const raw of ips) {
    const ip = canonicalIp(raw);
    const family = ipFamily(ip);
    if (family === 0) throw new NetpolError(`not an IP address: ${raw}`);
    hosts.set(ip, { family, base: ipToBigInt(ip), prefix: bitsOf(family) });
  }
  const byFamily = (family: 4 | 6) => [...hosts.values()].filter((c) => c.family === family);
  const blocks = [
    ...applyFloor(exactCover(byFamily(4)), options.floorV4),
    ...applyFloor(exactCover(byFamily(6)), options.floorV6),
  ];
  const members = new Map<Cidr, { ip: string; value: bigint }[]>();
  for (const b of blocks) members.set(b, []);
  for (const [ip, host] of hosts) {
    const block = blocks.find((b) => contains(b, host));
    // exactCover and applyFloor only ever grow blocks, so every host is covered.
    if (!block) throw new Error(`internal: ${ip} lost during CIDR aggregation`);
    members.get(block)!.push({ ip, value: host.base });
  }
  return blocks.map((b) => {
    const list = members.get(b)!.sort((x, y) => (x.value < y.value ? -1 : x.value > y.value ? 1 : 0));
    const size = blockSize(b);
    const added = size - BigInt(list.length);
    return { cidr: formatCidr(b), members: list.map((m) => m.ip), exact: added === 0n, added };
  });
}
